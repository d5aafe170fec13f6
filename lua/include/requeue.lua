--[[
  include/requeue: send a job whose run was cut short (its worker died or stalled) back
  through the route one attempt later, or to Q:dead once its attempts are used up.
  Needs include/settings, include/route and include/entry before it.
]]
local function homing_requeue(Q, cfg, now, flat, reason, err, worker, bump)
  local job = {}
  for i = 1, #flat, 2 do job[flat[i]] = flat[i + 1] end
  local attempt = tonumber(job.a)
  local bad = not (job.id and job.s and job.p and attempt and job.t)
  local max_attempts = tonumber(job.m or '') or cfg.max_attempts
  if bump and attempt then attempt = attempt + 1 end
  if bad or attempt >= max_attempts then
    if bad then reason, err = 'malformed', 'malformed entry found while requeueing' end
    redis.call('XADD', Q .. ':dead', '*', 'reason', reason, 'error', err,
      'failed_at', tostring(now), 'worker', worker, unpack(flat))
    if job.id then homing_reply(Q, job.r or '', job.id, 'dead', 'error', reason .. ': ' .. err) end
    return 'dead'
  end
  for i = 1, #flat, 2 do
    if flat[i] == 'a' then flat[i + 1] = tostring(attempt) end
  end
  return homing_route(Q, cfg, now, job.s, flat)
end
