--[[
  include/settings: the Redis clock, the queue's settings and the one rule each setting keeps,
  shared by every script.
  Q is the queue's key base (`<prefix>:{<queue>}`); every script that needs Q receives `Q:meta` as its first key
  and derives Q from it, so a key is spelled the same way in every script.
]]
local PROTOCOL_VERSION = '1'

-- One rule per numeric setting: the CLI flag that sets it and its whole-number range. init
-- refuses a value outside it, homing_settings refuses a stored one, ingress checks an
-- envelope's max_attempts against it; crates/homing-core/src/settings.rs holds the same table
-- (a unit test compares them), so Rust and Lua cannot drift apart. Order = Q:meta field order.
local HOMING_RULES = {
  {field = 'max_waiting', flag = '--max-waiting', min = 0, max = 10000, whole = true},
  {field = 'pin_ttl_ms', flag = '--pin-ttl', min = 1, max = 2592000000, whole = true},
  {field = 'max_attempts', flag = '--max-attempts', min = 1, max = 1000, whole = true},
  {field = 'max_payload', flag = '--max-payload', min = 1, max = 536870912, whole = true},
  {field = 'backoff_base_ms', flag = '--backoff-base', min = 1, max = 86400000, whole = true},
  {field = 'backoff_max_ms', flag = '--backoff-max', min = 1, max = 86400000, whole = true},
  {field = 'max_wait_ms', flag = '--max-wait', min = 1, max = 86400000, whole = true},
  {field = 'visibility_timeout_ms', flag = '--visibility-timeout', min = 300, max = 86400000, whole = true},
}
local HOMING_AFFINITY_MODES = {'on', 'off', 'shadow'}

local HOMING_RULE = {}
for _, r in ipairs(HOMING_RULES) do HOMING_RULE[r.field] = r end

local function homing_now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function homing_base(meta_key)
  return string.sub(meta_key, 1, -6)
end

-- What a value of the rule's field must be, in words.
local function homing_rule_words(r)
  if r.whole then return 'a whole number from ' .. r.min .. ' to ' .. r.max end
  return 'a number from ' .. r.min .. ' to ' .. r.max
end

-- A number (from an envelope) against the rule: true when it keeps it.
local function homing_keeps_rule(r, n)
  return type(n) == 'number' and n >= r.min and n <= r.max and (not r.whole or n % 1 == 0)
end

-- The raw text of a setting (nil when absent) against its rule: the number, or nil and what is
-- wrong (`max_waiting is "abc": must be ...`). Whole numbers are decimal digits only, as Rust
-- parses them.
local function homing_parse_setting(field, raw)
  local r = HOMING_RULE[field]
  -- The words are built only for a bad value: this runs for every setting in every call.
  if not raw then return nil, field .. ' is missing: must be ' .. homing_rule_words(r) end
  local n = nil
  if not r.whole then
    n = tonumber(raw)
  elseif string.find(raw, '^%d+$') then
    n = tonumber(raw)
  end
  if not homing_keeps_rule(r, n) then
    return nil, field .. ' is "' .. raw .. '": must be ' .. homing_rule_words(r)
  end
  return n
end

-- Every setting checked, in Q:meta field order; `get(field)` gives its raw text or nil.
-- Returns the settings, or nil, the first bad field and what is wrong with it.
local function homing_check_settings(get)
  local cfg = {affinity = get('affinity')}
  local known = false
  for _, mode in ipairs(HOMING_AFFINITY_MODES) do known = known or cfg.affinity == mode end
  if not known then
    local what = 'affinity is missing'
    if cfg.affinity then what = 'affinity is "' .. cfg.affinity .. '"' end
    return nil, 'affinity', what .. ': must be one of ' .. table.concat(HOMING_AFFINITY_MODES, ', ')
  end
  for _, r in ipairs(HOMING_RULES) do
    local n, problem = homing_parse_setting(r.field, get(r.field))
    if not n then return nil, r.field, problem end
    cfg[r.field] = n
  end
  if cfg.backoff_max_ms < cfg.backoff_base_ms then
    return nil, 'backoff_max_ms', 'backoff_max_ms is "' .. get('backoff_max_ms') ..
      '": must be at least backoff_base_ms (' .. get('backoff_base_ms') .. ')'
  end
  return cfg
end

-- The command that replaces a bad stored setting.
local function homing_setting_fix(field)
  if field == 'affinity' then return 'homing queue init --update --affinity <on|off|shadow>' end
  local value = '<n>'
  if string.sub(field, -3) == '_ms' then value = '<duration>' end
  return 'homing queue init --update ' .. HOMING_RULE[field].flag .. ' ' .. value
end

-- The queue's settings, every one checked against its rule. Raises HOMING_NO_QUEUE,
-- HOMING_PROTOCOL or HOMING_BAD_SETTING (naming the field and the fix); every script calls it
-- before its first write, so a corrupted setting leaves Redis unchanged.
local HOMING_META_FIELDS = {'version', 'affinity'}
for _, r in ipairs(HOMING_RULES) do table.insert(HOMING_META_FIELDS, r.field) end

local function homing_settings(meta_key)
  local names = HOMING_META_FIELDS
  local v = redis.call('HMGET', meta_key, unpack(names))
  if not v[1] then
    error({err = 'HOMING_NO_QUEUE queue settings missing at ' .. meta_key ..
      ': start a worker or run `homing queue init` first'})
  end
  if v[1] ~= PROTOCOL_VERSION then
    error({err = 'HOMING_PROTOCOL queue speaks protocol ' .. v[1] .. ', this script speaks ' ..
      PROTOCOL_VERSION .. ': upgrade the older side'})
  end
  local stored = {}
  for i, name in ipairs(names) do stored[name] = v[i] or nil end
  local cfg, field, problem = homing_check_settings(function(name) return stored[name] end)
  if not cfg then
    error({err = 'HOMING_BAD_SETTING ' .. problem .. '; fix it with `' .. homing_setting_fix(field) .. '`'})
  end
  return cfg
end

-- A worker is alive while its deadline in Q:workers is in the future.
local function homing_alive(Q, worker, now)
  local deadline = redis.call('ZSCORE', Q .. ':workers', worker)
  return deadline ~= false and tonumber(deadline) >= now
end

-- A per-call batch limit (ARGV), checked before anything is written.
local function homing_limit(raw)
  local n = tonumber(raw)
  if not n or n < 1 or n > 10000 or n % 1 ~= 0 then
    error({err = 'HOMING_BAD_ARG limit must be a whole number 1-10000, got ' .. tostring(raw)})
  end
  return n
end
