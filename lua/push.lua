--[[
  push: enqueue one job: idempotency key, delay, or the pin-or-spill route.
  Includes: settings, bell, route, push
  KEYS[1] meta          hash     Q:meta
  ARGV[1] id                     job id, 1-64 bytes, unique per queue
  ARGV[2] session                affinity key, 1-256 bytes
  ARGV[3] payload                opaque bytes, at most the queue's max_payload
  ARGV[4] delay_ms               run no earlier than now + delay_ms (0: route now)
  ARGV[5] key                    idempotency key ('' for none)
  ARGV[6] key_ttl_ms             how long the key remembers the job id (used with a key)
  ARGV[7] reply_to               producer id that waits for the result ('' for none)
  ARGV[8] max_attempts           per-job override of the queue's max_attempts (0: the queue's;
                                 else the max_attempts rule of include/settings)
  Returns: {job id, route}: route is hit | new | spill:busy | spill:dead | off | shadow:hit |
           shadow:miss | delayed, or `duplicate` with the id first pushed under the key
  Errors:  HOMING_BAD_ARG    an argument is out of range (the message names it)
           HOMING_BAD_SETTING  a stored setting breaks its rule (the message names the fix)
           HOMING_NO_QUEUE   the queue has no settings yet
           HOMING_PROTOCOL   protocol version mismatch
]]
local cfg = homing_settings(KEYS[1])
local job, key_ttl_ms, delay_ms = homing_push_job(cfg, ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5],
  ARGV[6], ARGV[7], ARGV[8])
if not job then return redis.error_reply('HOMING_BAD_ARG ' .. key_ttl_ms) end
return {homing_enqueue(homing_base(KEYS[1]), cfg, homing_now(), job, key_ttl_ms, delay_ms)}
