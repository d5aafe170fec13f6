--[[
  hand_back: graceful shutdown. `drain` stops routing to the worker and moves its unstarted inbox
  entries to the overflow; `leave` (after in-flight jobs finished, or shutdown_grace ended)
  moves whatever is left: entries delivered to this worker (jobs it cut short) go back through
  the route one attempt later (dead-lettered with reason `shutdown` past max_attempts), entries
  never delivered go to the overflow as they are; then it deletes the inbox and the consumer
  and deregisters the worker.
  Includes: settings, bell, route, entry, requeue
  KEYS[1] meta          hash     Q:meta
  KEYS[2] workers       zset     Q:workers
  KEYS[3] capacity      hash     Q:capacity
  KEYS[4] inbox         stream   the worker's inbox
  KEYS[5] overflow      stream   Q:overflow
  ARGV[1] worker                 the worker's id
  ARGV[2] phase                  `drain` or `leave`
  Returns: the number of entries moved to the overflow
  Errors:  HOMING_BAD_ARG    unknown phase
           HOMING_NO_QUEUE, HOMING_PROTOCOL, HOMING_BAD_SETTING
]]
local worker, phase = ARGV[1], ARGV[2]
local cfg = homing_settings(KEYS[1])
if phase ~= 'drain' and phase ~= 'leave' then
  return redis.error_reply('HOMING_BAD_ARG phase must be drain or leave, got ' .. tostring(phase))
end

-- Capacity 0 first: from here on the route spills this worker's sessions instead of queueing.
redis.call('HSET', KEYS[3], worker, 0)
local moved = 0
if phase == 'drain' then
  if redis.call('EXISTS', KEYS[4]) == 0 then return 0 end
  -- Undelivered entries are those after the group's cursor; reading them as this consumer and
  -- acking them in the same script moves them without a window where they are in two places.
  local read = redis.call('XREADGROUP', 'GROUP', GROUP, worker, 'STREAMS', KEYS[4], '>')
  if read then
    for _, e in ipairs(read[1][2]) do
      local unstarted = homing_with_route(e[2], 'spill:busy')
      homing_add_overflow(KEYS[5], unstarted)
      homing_ack(KEYS[4], e[1])
      moved = moved + 1
    end
  end
  return moved
end

local Q = homing_base(KEYS[1])
local now = homing_now()
local err = 'worker ' .. worker .. ' shut down before the job finished (shutdown_grace ran out)'
if redis.call('EXISTS', KEYS[4]) == 1 then
  -- Entries delivered to this worker were started and cut short: one attempt later, like a reap.
  local delivered = {}
  for _, p in ipairs(redis.call('XPENDING', KEYS[4], GROUP, '-', '+', 10000)) do delivered[p[1]] = true end
  for _, e in ipairs(redis.call('XRANGE', KEYS[4], '-', '+')) do
    if delivered[e[1]] then
      homing_requeue(Q, cfg, now, e[2], homing_map(e[2]), 'shutdown', err, worker, true)
    else
      homing_add_overflow(KEYS[5], homing_with_route(e[2], 'spill:busy'))
    end
    moved = moved + 1
  end
  redis.call('DEL', KEYS[4])
end
redis.call('DEL', KEYS[4] .. ':bell')
if redis.call('EXISTS', KEYS[5]) == 1 then
  -- Overflow entries still pending to this worker (jobs it cut short) go back one attempt
  -- later: deleting the consumer alone would leave them delivered to no one.
  for _, p in ipairs(redis.call('XPENDING', KEYS[5], GROUP, '-', '+', 10000, worker)) do
    local flat, job = homing_read_entry(KEYS[5], p[1])
    homing_ack(KEYS[5], p[1])
    if flat then
      homing_requeue(Q, cfg, now, flat, job, 'shutdown', err, worker, true)
      moved = moved + 1
    end
  end
  redis.call('XGROUP', 'DELCONSUMER', KEYS[5], GROUP, worker)
end
redis.call('ZREM', KEYS[2], worker)
redis.call('HDEL', KEYS[3], worker)
redis.call('HDEL', Q .. ':liveness', worker)
redis.call('ZREM', Q .. ':waiting', worker)
return moved
