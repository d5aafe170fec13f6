--[[
  include/settings: the Redis clock, the queue's settings and the one rule each setting keeps,
  shared by every script.
  Q is the queue's key base (`<prefix>:{<queue>}`); every script that needs Q receives `Q:meta` as its first key
  and derives Q from it, so a key is spelled the same way in every script.
]]
local PROTOCOL_VERSION = '1'

local function homing_now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function homing_base(meta_key)
  return string.sub(meta_key, 1, -6)
end

-- The rules and what words them, built on a call's first use: a script's top level runs on
-- every call, and defining these functions and tables there cost every call of every script a
-- few µs (ARCHITECTURE.md, "Throughput levers") while only init, ingress, a push that sets its
-- own max_attempts and a queue whose settings are not marked checked use them.
local homing_rulebook = nil
local function homing_rules()
  if homing_rulebook then return homing_rulebook end
  -- One rule per numeric setting: its field, the CLI flag that sets it and its range (whole or
  -- not), five values a line. init refuses a value outside it, homing_settings refuses a stored
  -- one, ingress checks an envelope's max_attempts against it; crates/homing-core/src/settings.rs
  -- holds the same table (a unit test compares them), so Rust and Lua cannot drift apart. Order =
  -- Q:meta field order. One flat table.
  local HOMING_RULES = {
    'max_waiting', '--max-waiting', 0, 10000, true,
    'pin_ttl_ms', '--pin-ttl', 1, 2592000000, true,
    'max_attempts', '--max-attempts', 1, 1000, true,
    'max_payload', '--max-payload', 1, 536870912, true,
    'backoff_base_ms', '--backoff-base', 1, 86400000, true,
    'backoff_max_ms', '--backoff-max', 1, 86400000, true,
    'max_wait_ms', '--max-wait', 1, 86400000, true,
    'visibility_timeout_ms', '--visibility-timeout', 300, 86400000, true,
  }
  local HOMING_AFFINITY_MODES = {'on', 'off', 'shadow'}

  -- The rule of `field` ({field, flag, min, max, whole}), or nil when it has none: for the words
  -- of an error and the checks off the hot path.
  local function homing_rule(field)
    for i = 1, #HOMING_RULES, 5 do
      if HOMING_RULES[i] == field then
        return {field = field, flag = HOMING_RULES[i + 1], min = HOMING_RULES[i + 2],
          max = HOMING_RULES[i + 3], whole = HOMING_RULES[i + 4]}
      end
    end
    return nil
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
    local r = homing_rule(field)
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
    for i = 1, #HOMING_RULES, 5 do
      local field = HOMING_RULES[i]
      local n, problem = homing_parse_setting(field, get(field))
      if not n then return nil, field, problem end
      cfg[field] = n
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
    return 'homing queue init --update ' .. homing_rule(field).flag .. ' ' .. value
  end

  -- The text init stores as `checked` in Q:meta once it has checked every setting: the protocol
  -- version, affinity and the rule fields, in Q:meta field order, joined by spaces. `get(field)`
  -- gives a field's raw text.
  local function homing_settings_marker(get)
    local parts = {PROTOCOL_VERSION, get('affinity')}
    for i = 1, #HOMING_RULES, 5 do parts[#parts + 1] = get(HOMING_RULES[i]) end
    return table.concat(parts, ' ')
  end
  homing_rulebook = {RULES = HOMING_RULES, rule = homing_rule, words = homing_rule_words, keeps = homing_keeps_rule,
    parse = homing_parse_setting, check = homing_check_settings, fix = homing_setting_fix,
    marker = homing_settings_marker}
  return homing_rulebook
end

-- The queue's settings, every one checked against its rule. Raises HOMING_NO_QUEUE,
-- HOMING_PROTOCOL or HOMING_BAD_SETTING (naming the field and the fix); every script calls it
-- before its first write, so a corrupted setting leaves Redis unchanged. The usual case costs
-- one HMGET and a string compare: values that join to init's `checked` marker are the ones
-- init checked (a value changed any other way, an HSET by hand, breaks the match). Any other
-- case gets the full check, the one init runs, which finds a bad field and words the error.
-- The HMGET's fields and the fast path's table are in Q:meta field order (a unit test compares
-- them with the rules).
local function homing_settings(meta_key)
  local v = redis.call('HMGET', meta_key, 'version', 'affinity', 'max_waiting', 'pin_ttl_ms',
    'max_attempts', 'max_payload', 'backoff_base_ms', 'backoff_max_ms', 'max_wait_ms',
    'visibility_timeout_ms', 'checked')
  if v[11] and v[1] == PROTOCOL_VERSION then
    -- A missing field (false) makes the join fail: no match.
    local joined, marker = pcall(table.concat, v, ' ', 1, 10)
    if joined and marker == v[11] then
      return {affinity = v[2], max_waiting = tonumber(v[3]), pin_ttl_ms = tonumber(v[4]),
        max_attempts = tonumber(v[5]), max_payload = tonumber(v[6]),
        backoff_base_ms = tonumber(v[7]), backoff_max_ms = tonumber(v[8]),
        max_wait_ms = tonumber(v[9]), visibility_timeout_ms = tonumber(v[10])}
    end
  end
  if not v[1] then
    error({err = 'HOMING_NO_QUEUE queue settings missing at ' .. meta_key ..
      ': start a worker or run `homing queue init` first'})
  end
  if v[1] ~= PROTOCOL_VERSION then
    error({err = 'HOMING_PROTOCOL queue speaks protocol ' .. v[1] .. ', this script speaks ' ..
      PROTOCOL_VERSION .. ': upgrade the older side'})
  end
  local rules = homing_rules()
  local stored = {affinity = v[2] or nil}
  for i = 1, #rules.RULES, 5 do stored[rules.RULES[i]] = v[2 + (i + 4) / 5] or nil end
  local checked, field, problem = rules.check(function(name) return stored[name] end)
  if not checked then
    error({err = 'HOMING_BAD_SETTING ' .. problem .. '; fix it with `' .. rules.fix(field) .. '`'})
  end
  return checked
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
