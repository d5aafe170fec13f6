--[[
  steal: the bounded wait for a warm worker. The route lists an inbox in Q:waiting when it
  queues a job there, scored by that job's time; the inboxes whose score is older than max_wait
  are looked at here, so the pass costs what waited, not what exists. In each, the entries not
  yet delivered and added more than max_wait ago move to the overflow (route `spill:wait`); the
  pin stays, as the owner is alive, only slow. The inbox is then listed again at its oldest
  undelivered entry, or dropped when it has none (entries delivered meanwhile leave it listed
  until this pass looks, once). Last, it rings the overflow's bell when that is empty while
  entries wait undelivered: a bell is lost when a worker's blocking wait is dropped (shutdown,
  a broken connection) just as Redis hands it one, and idle workers fetch only when rung.
  Includes: settings, bell, route, entry
  KEYS[1] meta          hash     Q:meta
  KEYS[2] waiting       zset     Q:waiting: worker id → time (ms) of its oldest queued job
  KEYS[3] overflow      stream   Q:overflow
  ARGV[1] limit                  entries moved, and inboxes looked at, per call at most (1-10000)
  Returns: {moved, looked}: entries moved and inboxes looked at
  Errors:  HOMING_BAD_ARG    limit out of range
           HOMING_NO_QUEUE, HOMING_PROTOCOL, HOMING_BAD_SETTING
]]
local cfg = homing_settings(KEYS[1])
local limit = homing_limit(ARGV[1])

local Q = homing_base(KEYS[1])
-- An entry id starts with the Redis time (ms) of its XADD.
local cutoff = homing_now() - cfg.max_wait_ms
local moved, looked = 0, 0
for _, worker in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', cutoff, 'LIMIT', 0, limit)) do
  looked = looked + 1
  local inbox = Q .. ':inbox:' .. worker
  -- Undelivered entries are those after the group's last-delivered-id.
  local last = redis.call('EXISTS', inbox) == 1 and homing_last_delivered(inbox)
  if not last then
    redis.call('ZREM', KEYS[2], worker)
  else
    for _, e in ipairs(redis.call('XRANGE', inbox, '(' .. last, tostring(cutoff), 'COUNT', limit - moved)) do
      redis.call('XDEL', inbox, e[1])
      homing_add_overflow(KEYS[3], homing_with_route(e[2], 'spill:wait'))
      moved = moved + 1
    end
    local oldest = redis.call('XRANGE', inbox, '(' .. last, '+', 'COUNT', 1)[1]
    if oldest then
      redis.call('ZADD', KEYS[2], tonumber(string.match(oldest[1], '^(%d+)')), worker)
    else
      redis.call('ZREM', KEYS[2], worker)
    end
  end
  if moved >= limit then break end
end
homing_ring_if_waiting(KEYS[3], homing_last_delivered(KEYS[3]))
return {moved, looked}
