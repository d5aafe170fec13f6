--[[
  complete: acknowledge a finished job; a successful first job stamps the session's owner.
  Includes: settings, entry
  KEYS[1] meta          hash     Q:meta
  KEYS[2] stream        stream   where the entry was read (an inbox or the overflow)
  ARGV[1] entry_id               stream entry id
  ARGV[2] worker                 this worker's id (its consumer name)
  ARGV[3] session                the job's session
  ARGV[4] job_id                 the job's id (field `id`), echoed in the reply
  ARGV[5] reply_to               the producer waiting for the result (field `r`), '' for none
  ARGV[6] output                 the handler's output bytes, sent to `Q:reply:<reply_to>`
  Returns: {"ok"|"stale", stamped 0|1, on_owner 0|1}: stale if the entry is no longer pending
           to this worker (it was reclaimed), and then nothing is written; on_owner is 1 when
           this worker already owned the session (the job ran warm)
  Errors:  HOMING_BAD_SETTING  a stored setting breaks its rule: nothing is written
           HOMING_NO_QUEUE, HOMING_PROTOCOL
]]
local entry_id, worker, session = ARGV[1], ARGV[2], ARGV[3]
local job_id, reply_to, output = ARGV[4], ARGV[5], ARGV[6]
local cfg = homing_settings(KEYS[1])
local Q = homing_base(KEYS[1])

if not homing_is_pending_to(KEYS[2], entry_id, worker) then
  return {'stale', 0, 0}
end
-- Everything the outcome depends on is read before the first write.
local pin = Q .. ':pin:' .. session
local owner, owner_alive = false, false
if cfg.affinity ~= 'off' then
  owner = redis.call('GET', pin)
  owner_alive = owner == worker or (owner and homing_alive(Q, owner, homing_now()))
end

homing_ack(KEYS[2], entry_id)
homing_reply(Q, reply_to, job_id, 'ok', 'out', output)
if cfg.affinity == 'off' then
  return {'ok', 0, 0}
end
if owner == worker then
  redis.call('PEXPIRE', pin, cfg.pin_ttl_ms)
  return {'ok', 0, 1}
end
if owner_alive then
  return {'ok', 0, 0}
end
-- First writer wins: the pin is absent or its owner is dead, and only a success gets here.
redis.call('SET', pin, worker, 'PX', cfg.pin_ttl_ms)
return {'ok', 1, 0}
