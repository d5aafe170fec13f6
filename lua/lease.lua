--[[
  lease: take, renew or release a named lease, so one worker at a time runs a maintenance pass.
  A holder that stops renewing loses it after ttl_ms, and the next worker to ask takes it; a
  holder that stops on purpose releases it (ttl_ms 0), so another takes it at its next ask.
  KEYS[1] lease         string   Q:lease:<pass>
  ARGV[1] worker                 the asking worker's id
  ARGV[2] ttl_ms                 the lease's life from now; 0 releases it if this worker holds it
  Returns: 1 when the worker holds the lease (taken or renewed), else 0
  Errors:  HOMING_BAD_ARG    ttl_ms out of range
]]
local worker, ttl = ARGV[1], tonumber(ARGV[2])
if not ttl or ttl < 0 or ttl % 1 ~= 0 then
  return redis.error_reply('HOMING_BAD_ARG ttl_ms must be a whole number >= 0')
end
local holder = redis.call('GET', KEYS[1])
if ttl == 0 then
  if holder == worker then redis.call('DEL', KEYS[1]) end
  return 0
end
if holder == worker then
  redis.call('PEXPIRE', KEYS[1], ttl)
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], worker, 'PX', ttl)
  return 1
end
return 0
