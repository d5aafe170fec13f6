--[[
  promote: move due jobs from the delayed set through the route. A job is due once the Redis
  clock (whole ms) is strictly past its score, so it never starts before its delay.
  Includes: settings, route
  KEYS[1] meta          hash     Q:meta
  ARGV[1] limit                  at most this many jobs per call (1-10000)
  Returns: the number of jobs moved
  Errors:  HOMING_BAD_ARG    limit out of range
           HOMING_NO_QUEUE, HOMING_PROTOCOL
]]
local cfg = homing_settings(KEYS[1])
local limit = homing_limit(ARGV[1])

local Q = homing_base(KEYS[1])
local now = homing_now()
local delayed = Q .. ':delayed'
local due = redis.call('ZRANGEBYSCORE', delayed, '-inf', '(' .. now, 'LIMIT', 0, limit)
for _, member in ipairs(due) do
  redis.call('ZREM', delayed, member)
  local job = cmsgpack.unpack(member)
  homing_route(Q, cfg, now, job.s, homing_fields_from_map(job))
end
return #due
