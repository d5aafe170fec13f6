--[[
  ingress: route envelopes that producers with only a Redis client LPUSHed to Q:ingress. An
  envelope is a MessagePack map (as any language's default encoder writes it: str or bin, any
  int width, keys in any order) or a JSON object: `session` (1-256 bytes), `payload` (bytes or
  string; a JSON object or array is kept as its JSON text), optional `id` (1-64 bytes, else one
  is made), `key` (idempotency key, remembered 24 h), `max_attempts` (the queue rule's range).
  One that cannot be read goes to Q:dead with reason `malformed`, the error and the raw
  envelope. No envelope is ever lost: the script never pops first. It reads the oldest (LRANGE
  of the list's tail), enqueues or dead-letters each, and removes exactly those it handled with
  LTRIM as its last write.
  Includes: settings, msgpack, bell, route
  KEYS[1] meta          hash     Q:meta
  KEYS[2] ingress       list     Q:ingress
  ARGV[1] limit                  envelopes taken per call at most (1-10000)
  Returns: {routed, dead_lettered, duplicates}
  Errors:  HOMING_BAD_ARG    limit out of range
           HOMING_BAD_SETTING  a stored setting breaks its rule: nothing is taken
           HOMING_NO_QUEUE, HOMING_PROTOCOL
           A Redis error met while enqueueing an envelope (a key of the wrong type, OOM) is
           returned as it came, after the envelopes before it were handled and removed; that
           envelope, unwritten, stays the oldest in the list.
]]
local cfg = homing_settings(KEYS[1])
local limit = homing_limit(ARGV[1])

local Q = homing_base(KEYS[1])
local KEY_TTL_MS = 86400000
-- LPUSH adds at the head, so the oldest `limit` envelopes are the tail, the oldest last.
local batch = redis.call('LRANGE', KEYS[2], -limit, -1)
if #batch == 0 then return {0, 0, 0} end
local now = homing_now()
-- Every write of this script to an inbox or the overflow is a route's: it may count their lengths.
homing_lengths = {}

-- True when the first byte announces a MessagePack map (fixmap, map 16, map 32): then a decode
-- error is the reason to report, not a cue to try JSON.
local function looks_like_map(raw)
  local b = string.byte(raw, 1) or 0
  return (b >= 0x80 and b <= 0x8f) or b == 0xde or b == 0xdf
end

-- The envelope as a table, or nil and why not.
local function decode(raw)
  -- The built-in cmsgpack (C) reads what the client crate writes (str values only); anything it
  -- refuses, such as `bin`, goes to the Lua decoder, which reads every form.
  if looks_like_map(raw) then
    local ok, env = pcall(cmsgpack.unpack, raw)
    if ok and type(env) == 'table' then return env end
  end
  local env, why = homing_msgpack_decode(raw)
  if type(env) == 'table' then return env end
  if why and looks_like_map(raw) then
    return nil, 'envelope is a MessagePack map that cannot be read: ' .. why
  end
  local ok, json = pcall(cjson.decode, raw)
  if ok and type(json) == 'table' then
    -- JSON null means absent, as a MessagePack nil does.
    for k, v in pairs(json) do
      if v == cjson.null then json[k] = nil end
    end
    return json
  end
  return nil, 'envelope is neither a MessagePack nor a JSON map'
end

-- The job an envelope asks for, or nil and why not.
local function read(raw)
  local env, err = decode(raw)
  if not env then return nil, err end
  local s, p = env.session, env.payload
  if type(s) ~= 'string' or #s < 1 or #s > 256 then
    return nil, 'envelope field session must be a string of 1-256 bytes'
  end
  if type(p) == 'table' then p = cjson.encode(p) end
  if type(p) ~= 'string' then
    return nil, 'envelope field payload must be bytes, a string, or a JSON object or array'
  end
  if #p > cfg.max_payload then
    return nil, 'envelope payload is ' .. #p .. ' bytes, over the queue max_payload of ' .. cfg.max_payload
  end
  if env.id ~= nil and (type(env.id) ~= 'string' or #env.id < 1 or #env.id > 64) then
    return nil, 'envelope field id must be a string of 1-64 bytes'
  end
  if env.key ~= nil and (type(env.key) ~= 'string' or #env.key < 1) then
    return nil, 'envelope field key must be a non-empty string'
  end
  local m = env.max_attempts
  if m ~= nil then
    local rules = homing_rules()
    local rule = rules.rule('max_attempts')
    if not rules.keeps(rule, m) then
      return nil, 'envelope field max_attempts must be ' .. rules.words(rule)
    end
  end
  return {id = env.id, s = s, p = p, k = env.key, m = m}
end

-- Enqueues or dead-letters one envelope; returns which counter it adds to. Its one fallible
-- write comes last (the job's XADD), so an error leaves nothing of it behind.
local function take(raw)
  local job, err = read(raw)
  if not job then
    redis.call('XADD', Q .. ':dead', '*', 'reason', 'malformed', 'error', err,
      'failed_at', tostring(now), 'envelope', raw)
    return 'dead'
  end
  job.id = job.id or string.format('%012x%016x', now, redis.call('INCR', Q .. ':ingress:seq'))
  local _, route = homing_enqueue(Q, cfg, now, job, KEY_TTL_MS, 0)
  if route == 'duplicate' then return 'duplicates' end
  return 'routed'
end

local counts, handled, failure = {routed = 0, dead = 0, duplicates = 0}, 0, nil
for i = #batch, 1, -1 do
  local ok, counter = pcall(take, batch[i])
  if not ok then
    failure = counter
    break
  end
  counts[counter] = counts[counter] + 1
  handled = handled + 1
end
-- The last write: exactly the envelopes handled leave the list, in the same atomic script as
-- their jobs, so a crash or restart keeps both or neither.
if handled > 0 then redis.call('LTRIM', KEYS[2], 0, -handled - 1) end
if failure then
  if type(failure) == 'table' and failure.err then return redis.error_reply(failure.err) end
  return redis.error_reply('ERR ' .. tostring(failure))
end
return {counts.routed, counts.dead, counts.duplicates}
