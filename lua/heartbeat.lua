--[[
  heartbeat: register a worker or push its liveness deadline forward.
  Includes: settings
  KEYS[1] meta          hash     Q:meta
  KEYS[2] workers       zset     Q:workers
  KEYS[3] capacity      hash     Q:capacity
  ARGV[1] worker                 the worker's id
  ARGV[2] liveness_ttl_ms        the deadline is now + liveness_ttl_ms
  ARGV[3] capacity               the worker's concurrency (0 while draining)
  Returns: {known 0|1, deadline_ms}: known is 0 when the worker was not registered (first
           start, or it was reaped while it could not heartbeat) and has been registered now
  Errors:  HOMING_BAD_ARG    liveness_ttl_ms or capacity out of range
           HOMING_NO_QUEUE, HOMING_PROTOCOL, HOMING_BAD_SETTING
]]
local worker, ttl, capacity = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
homing_settings(KEYS[1])
if not ttl or ttl < 1 or ttl % 1 ~= 0 then
  return redis.error_reply('HOMING_BAD_ARG liveness_ttl_ms must be a whole number >= 1')
end
if not capacity or capacity < 0 or capacity % 1 ~= 0 then
  return redis.error_reply('HOMING_BAD_ARG capacity must be a whole number >= 0')
end

local known = 1
if not redis.call('ZSCORE', KEYS[2], worker) then known = 0 end
local now = homing_now()
local deadline = now + ttl
redis.call('ZADD', KEYS[2], deadline, worker)
-- The last beat, for operators (`homing status` shows its age).
redis.call('HSET', homing_base(KEYS[1]) .. ':beats', worker, now)
redis.call('HSET', KEYS[3], worker, capacity)
return {known, deadline}
