--[[
  reclaim: take back delivered entries of one stream whose worker has not renewed their lease
  for visibility_timeout (it stopped acknowledging: frozen, partitioned, hung), send them back
  through the route one attempt later (dead-lettered with reason `stalled` past max_attempts),
  and release each such session's pin if the stalled worker owns it. A late completion by the
  stalled worker is then `stale`.
  Includes: settings, route, entry, requeue
  KEYS[1] meta          hash     Q:meta
  KEYS[2] stream        stream   a live worker's inbox or Q:overflow
  ARGV[1] limit                  entries moved per call at most (1-10000)
  Returns: {moved, released}: entries moved and pins released
  Errors:  HOMING_BAD_ARG    limit out of range
           HOMING_NO_QUEUE, HOMING_PROTOCOL
]]
local cfg = homing_settings(KEYS[1])
local limit = homing_limit(ARGV[1])
if redis.call('EXISTS', KEYS[2]) == 0 then return {0, 0} end

local Q = homing_base(KEYS[1])
local now = homing_now()
local moved, released = 0, 0
local idle = redis.call('XPENDING', KEYS[2], GROUP, 'IDLE', cfg.visibility_timeout_ms, '-', '+', limit)
for _, p in ipairs(idle) do
  local id, stalled = p[1], p[2]
  local flat, job = homing_read_entry(KEYS[2], id)
  homing_ack(KEYS[2], id)
  if flat then
    -- Release the pin first, so the route does not send the job straight back.
    local pin = Q .. ':pin:' .. (job.s or '')
    if job.s and redis.call('GET', pin) == stalled then
      redis.call('DEL', pin)
      released = released + 1
    end
    local err = 'worker ' .. stalled .. ' did not renew its lease within visibility_timeout'
    homing_requeue(Q, cfg, now, flat, job, 'stalled', err, stalled, true)
    moved = moved + 1
  end
end
return {moved, released}
