--[[
  include/requeue: send a job whose run was cut short (its worker died or stalled) back
  through the route one attempt later, or to Q:dead once its attempts are used up.
  Needs include/settings, include/route and include/entry before it.
  `flat` is the entry's field list, `job` the same as a map.
]]
local function homing_requeue(Q, cfg, now, flat, job, reason, err, worker, bump)
  local attempt = tonumber(job.a)
  if not (job.id and job.s and job.p and attempt and job.t) then
    homing_dead(Q, now, flat, job, 'malformed', 'malformed entry found while requeueing', worker)
    return 'dead'
  end
  if bump then attempt = attempt + 1 end
  if attempt >= (tonumber(job.m or '') or cfg.max_attempts) then
    homing_dead(Q, now, flat, job, reason, err, worker)
    return 'dead'
  end
  job.a = attempt
  return homing_route(Q, cfg, now, job.s, homing_fields_from_map(job))
end
