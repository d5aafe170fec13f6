--[[
  replay: send a dead letter back through the route as a fresh job (attempt 0), removing it
  from Q:dead.
  Includes: settings, bell, route, entry
  KEYS[1] meta          hash     Q:meta
  KEYS[2] dead          stream   Q:dead
  ARGV[1] entry_id               the dead letter's entry id in Q:dead
  Returns: {job id, route}
  Errors:  HOMING_NOT_FOUND  no dead letter has that entry id
           HOMING_BAD_ARG    the dead letter is a malformed entry or envelope without id, s
                             and p, so there is no job to replay (purge it instead)
           HOMING_BAD_SETTING  a stored setting breaks its rule: nothing is moved
           HOMING_NO_QUEUE, HOMING_PROTOCOL
]]
local entry_id = ARGV[1]
local cfg = homing_settings(KEYS[1])
local r = redis.call('XRANGE', KEYS[2], entry_id, entry_id)
if #r == 0 then
  return redis.error_reply('HOMING_NOT_FOUND no dead letter ' .. entry_id .. ' (list them with `homing dead list`)')
end
local job = homing_map(r[1][2])
if not (job.id and job.s and job.p) then
  return redis.error_reply('HOMING_BAD_ARG dead letter ' .. entry_id ..
    ' holds no job (it was a malformed entry or envelope): purge it with `homing dead purge`')
end

local Q = homing_base(KEYS[1])
local now = homing_now()
-- A fresh run: attempt 0, but the first enqueue time kept. The dead letter's own fields
-- (reason, error, ...) are not copied: only the job's wire fields are.
job.a, job.t = 0, job.t or now
redis.call('XDEL', KEYS[2], entry_id)
return {job.id, homing_route(Q, cfg, now, job.s, homing_fields_from_map(job))}
