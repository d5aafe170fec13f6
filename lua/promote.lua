--[[
  promote: move due jobs from the delayed set through the route. A job is due once the Redis
  clock (whole ms) is strictly past its score, so it never starts before its delay. A member
  that is not a MessagePack map with id, s and p goes to Q:dead (reason `malformed`, the raw
  member kept) instead of failing the pass.
  Includes: settings, msgpack, bell, route
  KEYS[1] meta          hash     Q:meta
  ARGV[1] limit                  at most this many jobs per call (1-10000)
  Returns: the number of jobs moved (routed or dead-lettered)
  Errors:  HOMING_BAD_ARG    limit out of range
           HOMING_BAD_SETTING  a stored setting breaks its rule: nothing is moved
           HOMING_NO_QUEUE, HOMING_PROTOCOL
]]
local cfg = homing_settings(KEYS[1])
local limit = homing_limit(ARGV[1])

local Q = homing_base(KEYS[1])
local now = homing_now()
-- Every write of this script to an inbox or the overflow is a route's: it may count their lengths.
homing_lengths = {}
local delayed = Q .. ':delayed'
local due = redis.call('ZRANGEBYSCORE', delayed, '-inf', '(' .. now, 'LIMIT', 0, limit)
-- Every member is decoded before the first write.
local jobs = {}
for i, member in ipairs(due) do
  local job = homing_msgpack_decode(member)
  local is_job = type(job) == 'table' and type(job.id) == 'string' and type(job.s) == 'string'
  if is_job and type(job.p) == 'string' then jobs[i] = job end
end
for i, member in ipairs(due) do
  redis.call('ZREM', delayed, member)
  if jobs[i] then
    homing_route(Q, cfg, now, jobs[i].s, homing_fields_from_map(jobs[i]))
  else
    redis.call('XADD', Q .. ':dead', '*', 'reason', 'malformed',
      'error', 'delayed member is not a MessagePack map with id, s and p',
      'failed_at', tostring(now), 'member', member)
  end
end
return #due
