--[[
  steal: the bounded wait for a warm worker. Entries of one inbox that are not yet delivered and
  were added more than max_wait ago move to the overflow (route `spill:wait`), so another worker
  may start them; the pin stays, as the owner is alive, only slow.
  Includes: settings, entry
  KEYS[1] meta          hash     Q:meta
  KEYS[2] inbox         stream   a live worker's inbox
  KEYS[3] overflow      stream   Q:overflow
  ARGV[1] limit                  entries moved per call at most (1-10000)
  Returns: the number of entries moved
  Errors:  HOMING_BAD_ARG    limit out of range
           HOMING_BAD_SETTING  a stored setting breaks its rule: nothing is moved
           HOMING_NO_QUEUE, HOMING_PROTOCOL
]]
local cfg = homing_settings(KEYS[1])
local limit = homing_limit(ARGV[1])
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end

-- Undelivered entries are those after the group's last-delivered-id.
local last = homing_last_delivered(KEYS[2])
if not last then return 0 end

-- An entry id starts with the Redis time (ms) of its XADD.
local cutoff = homing_now() - cfg.max_wait_ms
local moved = 0
for _, e in ipairs(redis.call('XRANGE', KEYS[2], '(' .. last, tostring(cutoff), 'COUNT', limit)) do
  redis.call('XDEL', KEYS[2], e[1])
  redis.call('XADD', KEYS[3], '*', unpack(e[2]))
  moved = moved + 1
end
return moved
