--[[
  fetch: claim up to `count` new entries for a worker from its inbox and the overflow, in one
  round trip, reading both fairly: `first` names the stream read first, and it gets half the
  slots (rounded up); the other gets the rest, and whatever one stream lacks the other may
  fill. The caller alternates `first`, so under a full inbox the overflow is still read at
  every other call and never starves. When both are empty the worker blocks on the streams'
  bells (BLPOP, include/bell.lua); a read of the overflow that left entries behind rings the
  overflow's bell for one more idle worker.
  Includes: bell
  KEYS[1] inbox         stream   the worker's inbox
  KEYS[2] overflow      stream   Q:overflow
  ARGV[1] worker                 the worker's id (its consumer name)
  ARGV[2] count                  free slots, 1-10000
  ARGV[3] first                  'inbox' or 'overflow': the stream read first
  Returns: {inbox entries, overflow entries}, each a list of {entry id, {field, value, ...}}
  Errors:  HOMING_BAD_ARG    count out of range, or first not inbox/overflow
           NOGROUP           a stream is missing: nothing is read
]]
local worker, count, first = ARGV[1], tonumber(ARGV[2]), ARGV[3]
if not count or count < 1 or count > 10000 then
  return redis.error_reply('HOMING_BAD_ARG count must be 1-10000')
end
if first ~= 'inbox' and first ~= 'overflow' then
  return redis.error_reply('HOMING_BAD_ARG first must be inbox or overflow')
end

-- Both streams must exist before the first read: a read delivers (it writes the group's
-- pending list), so a second read failing on a missing stream (an inbox reaped while its
-- worker was frozen) would strand what the first one delivered. One EXISTS for both.
if redis.call('EXISTS', KEYS[1], KEYS[2]) ~= 2 then
  return redis.error_reply('NOGROUP the inbox or the overflow does not exist; the worker recreates it with its group')
end

-- Whether the last read of the overflow left undelivered entries behind it.
local left_behind = false
local function take(stream, n)
  if n < 1 then return {} end
  local r = redis.call('XREADGROUP', 'GROUP', 'homing', worker, 'COUNT', n, 'STREAMS', stream, '>')
  local got = r and r[1][2] or {}
  if stream == KEYS[2] then
    left_behind = false
    if #got == n then
      -- Entries after the last one read are undelivered (acked entries kept for the lag sit
      -- at or before the group's cursor).
      local newest = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)[1]
      left_behind = newest[1] ~= got[n][1]
    end
  end
  return got
end

local a, b = KEYS[1], KEYS[2]
if first == 'overflow' then a, b = KEYS[2], KEYS[1] end
local half = math.ceil(count / 2)
local from_a = take(a, half)
local from_b = take(b, count - #from_a)
-- `a` gave less than its half only when it had no more: read it again only when it was full.
if #from_a == half then
  for _, e in ipairs(take(a, count - #from_a - #from_b)) do table.insert(from_a, e) end
end
if left_behind then homing_ring(KEYS[2], HOMING_OVERFLOW_BELLS) end
if first == 'overflow' then return {from_b, from_a} end
return {from_a, from_b}
