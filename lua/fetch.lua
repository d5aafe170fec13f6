--[[
  fetch: claim up to `count` new entries for a worker from its inbox and the overflow, in one
  round trip, reading both fairly: `first` names the stream read first, and it gets half the
  slots (rounded up); the other gets the rest, and whatever one stream lacks the other may
  fill. The caller alternates `first`, so under a full inbox the overflow is still read at
  every other call and never starves. (The blocking read when both are empty is a plain
  XREADGROUP: scripts cannot block.)
  KEYS[1] inbox         stream   the worker's inbox
  KEYS[2] overflow      stream   Q:overflow
  ARGV[1] worker                 the worker's id (its consumer name)
  ARGV[2] count                  free slots, 1-10000
  ARGV[3] first                  'inbox' or 'overflow': the stream read first
  Returns: {inbox entries, overflow entries}, each a list of {entry id, {field, value, ...}}
  Errors:  HOMING_BAD_ARG    count out of range, or first not inbox/overflow
]]
local worker, count, first = ARGV[1], tonumber(ARGV[2]), ARGV[3]
if not count or count < 1 or count > 10000 then
  return redis.error_reply('HOMING_BAD_ARG count must be 1-10000')
end
if first ~= 'inbox' and first ~= 'overflow' then
  return redis.error_reply('HOMING_BAD_ARG first must be inbox or overflow')
end

local function take(stream, n)
  if n < 1 then return {} end
  local r = redis.call('XREADGROUP', 'GROUP', 'homing', worker, 'COUNT', n, 'STREAMS', stream, '>')
  if r then return r[1][2] end
  return {}
end

local a, b = KEYS[1], KEYS[2]
if first == 'overflow' then a, b = KEYS[2], KEYS[1] end
local from_a = take(a, math.ceil(count / 2))
local from_b = take(b, count - #from_a)
local more = take(a, count - #from_a - #from_b)
for _, e in ipairs(more) do table.insert(from_a, e) end
if first == 'overflow' then return {from_b, from_a} end
return {from_a, from_b}
