--[[
  push: enqueue one job: idempotency key, delay, or the pin-or-spill route.
  Includes: settings, route
  KEYS[1] meta          hash     Q:meta
  ARGV[1] id                     job id, 1-64 bytes, unique per queue
  ARGV[2] session                affinity key, 1-256 bytes
  ARGV[3] payload                opaque bytes, at most the queue's max_payload
  ARGV[4] delay_ms               run no earlier than now + delay_ms (0: route now)
  ARGV[5] key                    idempotency key ('' for none)
  ARGV[6] key_ttl_ms             how long the key remembers the job id (used with a key)
  ARGV[7] reply_to               producer id that waits for the result ('' for none)
  ARGV[8] max_attempts           per-job override of the queue's max_attempts (0: queue's)
  Returns: {job id, route}: route is hit | new | spill:busy | spill:dead | off | shadow:hit |
           shadow:miss | delayed, or `duplicate` with the id first pushed under the key
  Errors:  HOMING_BAD_ARG    an argument is out of range (the message names it)
           HOMING_NO_QUEUE   the queue has no settings yet
           HOMING_PROTOCOL   protocol version mismatch
]]
local id, session, payload = ARGV[1], ARGV[2], ARGV[3]
local delay_ms, key, key_ttl_ms = tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6])
local reply_to, max_attempts = ARGV[7], tonumber(ARGV[8])

local cfg = homing_settings(KEYS[1])
if #id < 1 or #id > 64 then
  return redis.error_reply('HOMING_BAD_ARG job id must be 1-64 bytes, got ' .. #id)
end
if #session < 1 or #session > 256 then
  return redis.error_reply('HOMING_BAD_ARG session must be 1-256 bytes, got ' .. #session)
end
if #payload > cfg.max_payload then
  return redis.error_reply('HOMING_BAD_ARG payload is ' .. #payload ..
    ' bytes, over the queue max_payload of ' .. cfg.max_payload)
end
if not delay_ms or delay_ms < 0 then
  return redis.error_reply('HOMING_BAD_ARG delay_ms must be a whole number >= 0')
end
if key ~= '' and (not key_ttl_ms or key_ttl_ms < 1) then
  return redis.error_reply('HOMING_BAD_ARG key_ttl_ms must be >= 1 with an idempotency key')
end
if not max_attempts or max_attempts < 0 then
  return redis.error_reply('HOMING_BAD_ARG max_attempts must be a whole number >= 0')
end

local job = {id = id, s = session, p = payload}
if reply_to ~= '' then job.r = reply_to end
if key ~= '' then job.k = key end
if max_attempts > 0 then job.m = max_attempts end
return {homing_enqueue(homing_base(KEYS[1]), cfg, homing_now(), job, key_ttl_ms, delay_ms)}
