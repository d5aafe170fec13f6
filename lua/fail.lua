--[[
  fail: acknowledge a failed job; retry it later with backoff, or dead-letter it.
  Includes: settings, entry
  KEYS[1] meta          hash     Q:meta
  KEYS[2] stream        stream   where the entry was read (an inbox or the overflow)
  ARGV[1] entry_id               stream entry id
  ARGV[2] worker                 this worker's id (its consumer name)
  ARGV[3] jitter                 a random number in [0, 1): the retry waits
                                 d/2 + jitter*d/2 with d = min(backoff_base_ms * 2^attempt,
                                 backoff_max_ms), so delays grow and retries spread out
  ARGV[4] dead_reason            '' to retry while attempts remain, or a reason to dead-letter
                                 at once (`fatal`, `malformed`)
  ARGV[5] error                  the error text, kept with a dead letter
  A dead-lettered job whose producer waits (field `r`) gets an error reply.
  Returns: {"retry", due_ms} | {"dead", reason} | {"stale", 0}: stale if the entry is no longer
           pending to this worker, and then nothing is written
  Errors:  HOMING_BAD_ARG    jitter is not a number in [0, 1)
           HOMING_BAD_SETTING  a stored setting breaks its rule: nothing is written
           HOMING_NO_QUEUE, HOMING_PROTOCOL
]]
local entry_id, worker, jitter = ARGV[1], ARGV[2], tonumber(ARGV[3])
local dead_reason, err = ARGV[4], ARGV[5]
local cfg = homing_settings(KEYS[1])
if not jitter or jitter < 0 or jitter >= 1 then
  return redis.error_reply('HOMING_BAD_ARG jitter must be a number in [0, 1)')
end

if not homing_is_pending_to(KEYS[2], entry_id, worker) then
  return {'stale', 0}
end
local flat, job = homing_read_entry(KEYS[2], entry_id)
if not flat then
  -- Pending but deleted: nothing to retry or keep; the ack only clears the group's record.
  homing_ack(KEYS[2], entry_id)
  return {'stale', 0}
end

-- The outcome is decided from what was read before the first write.
local Q = homing_base(KEYS[1])
local now = homing_now()
local attempt = tonumber(job.a)
local max_attempts = tonumber(job.m or '') or cfg.max_attempts
local due = nil
if dead_reason == '' and attempt and job.id and job.s and job.p then
  if attempt + 1 < max_attempts then
    local d = math.min(cfg.backoff_base_ms * 2 ^ attempt, cfg.backoff_max_ms)
    due = now + math.floor(d / 2 + jitter * d / 2)
  else
    dead_reason = 'max_attempts'
  end
elseif dead_reason == '' then
  dead_reason = 'malformed'
end

homing_ack(KEYS[2], entry_id)
if due then
  job.a = attempt + 1
  redis.call('ZADD', Q .. ':delayed', due, cmsgpack.pack(job))
  return {'retry', due}
end
homing_dead(Q, now, flat, job, dead_reason, err, worker)
return {'dead', dead_reason}
