--[[
  fetch: claim up to `count` new entries for a worker, inbox first, then the overflow, in one
  round trip. (The blocking read when both are empty is a plain XREADGROUP: scripts cannot block.)
  KEYS[1] inbox         stream   the worker's inbox
  KEYS[2] overflow      stream   Q:overflow
  ARGV[1] worker                 the worker's id (its consumer name)
  ARGV[2] count                  free slots, 1-10000
  Returns: {inbox entries, overflow entries}, each a list of {entry id, {field, value, ...}}
  Errors:  HOMING_BAD_ARG    count out of range
]]
local worker, count = ARGV[1], tonumber(ARGV[2])
if not count or count < 1 or count > 10000 then
  return redis.error_reply('HOMING_BAD_ARG count must be 1-10000')
end

local function take(stream, n)
  local r = redis.call('XREADGROUP', 'GROUP', 'homing', worker, 'COUNT', n, 'STREAMS', stream, '>')
  if r then return r[1][2] end
  return {}
end

local inbox = take(KEYS[1], count)
local overflow = {}
if #inbox < count then overflow = take(KEYS[2], count - #inbox) end
return {inbox, overflow}
