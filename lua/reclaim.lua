--[[
  reclaim: take back delivered entries of one stream whose worker has not renewed their lease
  for visibility_timeout (it stopped acknowledging: frozen, partitioned, hung), send them back
  through the route one attempt later (dead-lettered with reason `stalled` past max_attempts),
  and release each such session's pin if the stalled worker owns it. A late completion by the
  stalled worker is then `stale`.
  Includes: settings, bell, route, entry, requeue
  KEYS[1] meta          hash     Q:meta
  KEYS[2] stream        stream   a live worker's inbox or Q:overflow
  ARGV[1] limit                  entries moved per call at most (1-10000)
  Returns: {moved, released}: entries moved and pins released
  Errors:  HOMING_BAD_ARG    limit out of range
           HOMING_BAD_SETTING  a stored setting breaks its rule: nothing is moved
           HOMING_NO_QUEUE, HOMING_PROTOCOL
]]
local cfg = homing_settings(KEYS[1])
local limit = homing_limit(ARGV[1])
if redis.call('EXISTS', KEYS[2]) == 0 then return {0, 0} end

local Q = homing_base(KEYS[1])
local now = homing_now()
local moved, released = 0, 0
local idle = redis.call('XPENDING', KEYS[2], GROUP, 'IDLE', cfg.visibility_timeout_ms, '-', '+', limit)
-- Every entry, and whether its stalled worker owns its session, is read before the first write.
local entries = {}
for i, p in ipairs(idle) do
  local flat, job = homing_read_entry(KEYS[2], p[1])
  local owned = flat ~= nil and job.s ~= nil and redis.call('GET', Q .. ':pin:' .. job.s) == p[2]
  entries[i] = {id = p[1], stalled = p[2], flat = flat, job = job, owned = owned}
end
for _, e in ipairs(entries) do
  homing_ack(KEYS[2], e.id)
  if e.flat then
    -- Release the pin first, so the route does not send the job straight back. A second entry
    -- of the same session finds it already gone.
    if e.owned and redis.call('DEL', Q .. ':pin:' .. e.job.s) == 1 then
      released = released + 1
    end
    local err = 'worker ' .. e.stalled .. ' did not renew its lease within visibility_timeout'
    homing_requeue(Q, cfg, now, e.flat, e.job, 'stalled', err, e.stalled, true)
    moved = moved + 1
  end
end
return {moved, released}
