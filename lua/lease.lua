--[[
  lease: take or renew a named lease, so one worker at a time runs a maintenance pass. A holder
  that stops renewing loses it after ttl_ms, and the next worker to ask takes it.
  KEYS[1] lease         string   Q:lease:<pass>
  ARGV[1] worker                 the asking worker's id
  ARGV[2] ttl_ms                 the lease's life from now
  Returns: 1 when the worker holds the lease (taken or renewed), else 0
  Errors:  HOMING_BAD_ARG    ttl_ms out of range
]]
local worker, ttl = ARGV[1], tonumber(ARGV[2])
if not ttl or ttl < 1 or ttl % 1 ~= 0 then
  return redis.error_reply('HOMING_BAD_ARG ttl_ms must be a whole number >= 1')
end
local holder = redis.call('GET', KEYS[1])
if holder == worker then
  redis.call('PEXPIRE', KEYS[1], ttl)
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], worker, 'PX', ttl)
  return 1
end
return 0
