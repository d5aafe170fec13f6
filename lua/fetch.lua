--[[
  fetch: claim up to `count` new entries for a worker from its inbox and the overflow, in one
  round trip, reading both fairly: `first` names the stream read first, and it gets half the
  slots (rounded up); the other gets the rest, and whatever one stream lacks the other may
  fill. The caller alternates `first`, so under a full inbox the overflow is still read at
  every other call and never starves. When both are empty the worker blocks on the streams'
  bells (BLPOP, include/bell.lua); a read of the overflow that left entries behind rings the
  overflow's bell for one more idle worker, when no bell is pending.
  Includes: bell
  KEYS[1] inbox         stream   the worker's inbox
  KEYS[2] overflow      stream   Q:overflow
  ARGV[1] worker                 the worker's id (its consumer name)
  ARGV[2] count                  free slots, 1-10000
  ARGV[3] first                  'inbox' or 'overflow': the stream read first
  Returns: {inbox entries, overflow entries}, each a list of {entry id, {field, value, ...}}
  Errors:  HOMING_BAD_ARG    count out of range, or first not inbox/overflow
           NOGROUP           the stream read first is missing: nothing is read (a stream read
                             after another delivered entries is skipped if it fails)
]]
local worker, count, first = ARGV[1], tonumber(ARGV[2]), ARGV[3]
if not count or count < 1 or count > 10000 then
  return redis.error_reply('HOMING_BAD_ARG count must be 1-10000')
end
if first ~= 'inbox' and first ~= 'overflow' then
  return redis.error_reply('HOMING_BAD_ARG first must be inbox or overflow')
end

-- The last id a read of the overflow took when it filled its count: entries may wait after it.
local full_to = nil
-- A read delivers (it writes the group's pending list), so a read that fails after another
-- delivered must not fail the script: that would strand what was delivered. It reads nothing
-- instead, and the next fetch, which reads that stream first, reports the error (NOGROUP
-- for an inbox reaped while its worker was frozen: the worker recreates the group).
local delivered = false
local function take(stream, n)
  if n < 1 then return {} end
  local r = redis.pcall('XREADGROUP', 'GROUP', 'homing', worker, 'COUNT', n, 'STREAMS', stream, '>')
  if type(r) == 'table' and r.err then
    if delivered then return {} end
    return error(r)
  end
  local got = r and r[1][2] or {}
  delivered = delivered or #got > 0
  if stream == KEYS[2] then
    full_to = #got == n and got[n][1] or nil
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
if full_to then homing_ring_if_waiting(KEYS[2], full_to) end
if first == 'overflow' then return {from_b, from_a} end
return {from_a, from_b}
