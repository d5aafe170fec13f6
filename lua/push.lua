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
  ARGV[8] max_attempts           per-job override of the queue's max_attempts (0: the queue's;
                                 else the max_attempts rule of include/settings)
  Returns: {job id, route}: route is hit | new | spill:busy | spill:dead | off | shadow:hit |
           shadow:miss | delayed, or `duplicate` with the id first pushed under the key
  Errors:  HOMING_BAD_ARG    an argument is out of range (the message names it)
           HOMING_BAD_SETTING  a stored setting breaks its rule (the message names the fix)
           HOMING_NO_QUEUE   the queue has no settings yet
           HOMING_PROTOCOL   protocol version mismatch
]]
local id, session, payload = ARGV[1], ARGV[2], ARGV[3]
local key, reply_to = ARGV[5], ARGV[7]

-- A decimal whole number >= 0 (as Rust writes them), or nil.
local function whole(raw)
  if string.find(raw, '^%d+$') then return tonumber(raw) end
  return nil
end

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
local delay_ms = whole(ARGV[4])
if not delay_ms then
  return redis.error_reply('HOMING_BAD_ARG delay_ms must be a whole number >= 0')
end
local key_ttl_ms = whole(ARGV[6])
if key ~= '' and (not key_ttl_ms or key_ttl_ms < 1) then
  return redis.error_reply('HOMING_BAD_ARG key_ttl_ms must be a whole number >= 1 with an idempotency key')
end
local max_attempts, problem = nil, nil
if ARGV[8] ~= '0' then
  max_attempts, problem = homing_parse_setting('max_attempts', ARGV[8])
  if not max_attempts then return redis.error_reply('HOMING_BAD_ARG ' .. problem) end
end

local job = {id = id, s = session, p = payload}
if reply_to ~= '' then job.r = reply_to end
if key ~= '' then job.k = key end
if max_attempts then job.m = max_attempts end
return {homing_enqueue(homing_base(KEYS[1]), cfg, homing_now(), job, key_ttl_ms, delay_ms)}
