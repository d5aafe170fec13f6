--[[
  heartbeat: register a worker or push its liveness deadline forward, and, when asked, try the
  maintenance lease. It reads no settings and writes the capacity only when it changed, so an
  idle worker costs Redis this call (TIME, ZADD, and a GET of the lease every other beat) and its
  blocking read: a constant few commands a second, however large the fleet.
  Includes: settings
  KEYS[1] meta          hash     Q:meta (only its name: Q is derived from it)
  KEYS[2] workers       zset     Q:workers
  KEYS[3] capacity      hash     Q:capacity
  KEYS[4] lease         string   Q:lease:maintenance
  ARGV[1] worker                 the worker's id
  ARGV[2] liveness_ttl_ms        the deadline is now + liveness_ttl_ms
  ARGV[3] capacity               the worker's concurrency (0 while draining)
  ARGV[4] write_capacity         1 to write the capacity (it changed); it is written anyway
                                 when the worker was not registered
  ARGV[5] lease_ttl_ms           0 to leave the lease alone; else take it, for this long, if
                                 no one holds it
  Returns: {known 0|1, deadline_ms, lease 0|1}: known is 0 when the worker was not registered
           (first start, or it was reaped while it could not heartbeat) and has been registered
           now; lease is 1 when the worker holds the maintenance lease (taken now, or already)
  Errors:  HOMING_BAD_ARG    liveness_ttl_ms, capacity or lease_ttl_ms out of range
]]
local worker, ttl, capacity = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local write_capacity, lease_ttl = ARGV[4] == '1', tonumber(ARGV[5])
if not ttl or ttl < 1 or ttl % 1 ~= 0 then
  return redis.error_reply('HOMING_BAD_ARG liveness_ttl_ms must be a whole number >= 1')
end
if not capacity or capacity < 0 or capacity % 1 ~= 0 then
  return redis.error_reply('HOMING_BAD_ARG capacity must be a whole number >= 0')
end
if not lease_ttl or lease_ttl < 0 or lease_ttl % 1 ~= 0 then
  return redis.error_reply('HOMING_BAD_ARG lease_ttl_ms must be a whole number >= 0')
end

local now = homing_now()
local deadline = now + ttl
local known = 1 - redis.call('ZADD', KEYS[2], deadline, worker)
if known == 0 then
  -- Once per registration: its last beat is its deadline minus this (`homing status`).
  redis.call('HSET', homing_base(KEYS[1]) .. ':liveness', worker, ttl)
end
if write_capacity or known == 0 then
  redis.call('HSET', KEYS[3], worker, capacity)
end
local lease = 0
if lease_ttl > 0 then
  local holder = redis.call('GET', KEYS[4])
  if not holder then
    redis.call('SET', KEYS[4], worker, 'PX', lease_ttl)
    lease = 1
  elseif holder == worker then
    lease = 1
  end
end
return {known, deadline, lease}
