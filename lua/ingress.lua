--[[
  ingress: route envelopes that producers with only a Redis client LPUSHed to Q:ingress. An
  envelope is a MessagePack or JSON map: `session` (1-256 bytes), `payload` (bytes or string; a
  JSON object or array is kept as its JSON text), optional `id` (1-64 bytes, else one is made),
  `key` (idempotency key, remembered 24 h), `max_attempts`. One that cannot be read goes to
  Q:dead with reason `malformed`, the error and the raw envelope; it is never lost.
  Includes: settings, route
  KEYS[1] meta          hash     Q:meta
  KEYS[2] ingress       list     Q:ingress
  ARGV[1] limit                  envelopes taken per call at most (1-10000)
  Returns: {routed, dead_lettered, duplicates}
  Errors:  HOMING_BAD_ARG    limit out of range
           HOMING_NO_QUEUE, HOMING_PROTOCOL
]]
local cfg = homing_settings(KEYS[1])
local limit = homing_limit(ARGV[1])

local Q = homing_base(KEYS[1])
local KEY_TTL_MS = 86400000
local envelopes = redis.call('RPOP', KEYS[2], limit)
if not envelopes then return {0, 0, 0} end
local now = homing_now()

-- The envelope as a table, or nil and why not.
local function read(raw)
  local ok, env = pcall(cmsgpack.unpack, raw)
  if not ok or type(env) ~= 'table' then
    ok, env = pcall(cjson.decode, raw)
    if not ok or type(env) ~= 'table' then
      return nil, 'envelope is neither a MessagePack nor a JSON map'
    end
  end
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
  if m ~= nil and (type(m) ~= 'number' or m < 1 or m % 1 ~= 0) then
    return nil, 'envelope field max_attempts must be a whole number >= 1'
  end
  return {id = env.id, s = s, p = p, k = env.key, m = m}
end

local routed, dead, duplicates = 0, 0, 0
for _, raw in ipairs(envelopes) do
  local job, err = read(raw)
  if not job then
    redis.call('XADD', Q .. ':dead', '*', 'reason', 'malformed', 'error', err,
      'failed_at', tostring(now), 'envelope', raw)
    dead = dead + 1
  else
    job.id = job.id or string.format('%012x%016x', now, redis.call('INCR', Q .. ':ingress:seq'))
    local _, route = homing_enqueue(Q, cfg, now, job, KEY_TTL_MS, 0)
    if route == 'duplicate' then duplicates = duplicates + 1 else routed = routed + 1 end
  end
end
return {routed, dead, duplicates}
