--[[
  reap: take everything from one worker whose liveness deadline passed: its inbox (delivered
  entries one attempt later, undelivered ones as they were) and its pending overflow entries go
  back through the route (its pins are released there, as the owner is dead); then its
  consumer, inbox and capacity are deleted and it leaves Q:workers. Large inboxes take several
  calls: the worker stays listed until the last one. Given a worker id, it forgets that worker
  (`homing forget`), refusing one that is alive unless forced.
  Includes: settings, bell, route, entry, requeue
  KEYS[1] meta          hash     Q:meta
  KEYS[2] workers       zset     Q:workers
  KEYS[3] capacity      hash     Q:capacity
  KEYS[4] overflow      stream   Q:overflow
  ARGV[1] limit                  entries moved per call at most (1-10000)
  ARGV[2] worker                 '' to take the first dead worker, or the id of one to forget
  ARGV[3] force                  1 to forget a worker even if its deadline has not passed
  ARGV[4] reaper                 the calling worker's id, never reaped by its own call ('' for
                                 a command)
  Returns: {worker, moved, done 0|1}: worker is '' when no worker is dead
  Errors:  HOMING_BAD_ARG    limit out of range
           HOMING_UNKNOWN_WORKER  the given worker is not in Q:workers
           HOMING_ALIVE      the given worker heartbeated within liveness_ttl and force is 0
           HOMING_NO_QUEUE, HOMING_PROTOCOL, HOMING_BAD_SETTING
]]
local target, force, reaper = ARGV[2], ARGV[3] == '1', ARGV[4]
local cfg = homing_settings(KEYS[1])
local limit = homing_limit(ARGV[1])

local Q = homing_base(KEYS[1])
local now = homing_now()
local dead, err
if target == '' then
  -- A worker never reaps itself: one that runs maintenance is alive, even if its own heartbeat
  -- has not yet gone through after an outage.
  for _, w in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. now, 'LIMIT', 0, 2)) do
    if w ~= reaper and not dead then dead = w end
  end
  if not dead then return {'', 0, 1} end
  err = 'worker ' .. dead .. ' died (no heartbeat within liveness_ttl) with the job in flight'
else
  local deadline = redis.call('ZSCORE', KEYS[2], target)
  if not deadline then
    return redis.error_reply('HOMING_UNKNOWN_WORKER worker ' .. target ..
      ' is not in Q:workers (ids are <name>-<suffix>; it may have left or been reaped already)')
  end
  if tonumber(deadline) >= now and not force then
    return redis.error_reply('HOMING_ALIVE worker ' .. target .. ' heartbeated within liveness_ttl; ' ..
      'forget it only if you know it is gone (--force), or stop it and it hands its jobs back')
  end
  dead = target
  err = 'worker ' .. dead .. ' was forgotten with the job in flight'
end

-- Read everything first, then write: a script error must leave Redis as it was.
local inbox = Q .. ':inbox:' .. dead
local inbox_entries, delivered, inbox_more = {}, {}, false
if redis.call('EXISTS', inbox) == 1 then
  for _, p in ipairs(redis.call('XPENDING', inbox, GROUP, '-', '+', limit)) do delivered[p[1]] = true end
  inbox_entries = redis.call('XRANGE', inbox, '-', '+', 'COUNT', limit)
  inbox_more = redis.call('XLEN', inbox) > #inbox_entries
end
local overflow_pending, overflow_entries = {}, {}
if not inbox_more and redis.call('EXISTS', KEYS[4]) == 1 then
  overflow_pending = redis.call('XPENDING', KEYS[4], GROUP, '-', '+', limit, dead)
  for i, p in ipairs(overflow_pending) do
    local flat, job = homing_read_entry(KEYS[4], p[1])
    overflow_entries[i] = {p[1], flat, job}
  end
end

if target ~= '' then
  -- Deadline 0: dead to the route from here on, so nothing is routed back to its inbox.
  redis.call('ZADD', KEYS[2], 0, dead)
end
local moved = 0
for _, e in ipairs(inbox_entries) do
  homing_ack(inbox, e[1])
  homing_requeue(Q, cfg, now, e[2], homing_map(e[2]), 'stalled', err, dead, delivered[e[1]] == true)
  moved = moved + 1
end
if inbox_more then return {dead, moved, 0} end
redis.call('DEL', inbox, inbox .. ':bell')

for _, e in ipairs(overflow_entries) do
  homing_ack(KEYS[4], e[1])
  if e[2] then
    homing_requeue(Q, cfg, now, e[2], e[3], 'stalled', err, dead, true)
    moved = moved + 1
  end
end
if #overflow_pending == limit then return {dead, moved, 0} end
if redis.call('EXISTS', KEYS[4]) == 1 then
  redis.call('XGROUP', 'DELCONSUMER', KEYS[4], GROUP, dead)
end
redis.call('ZREM', KEYS[2], dead)
redis.call('HDEL', KEYS[3], dead)
redis.call('HDEL', Q .. ':liveness', dead)
redis.call('ZREM', Q .. ':waiting', dead)
return {dead, moved, 1}
