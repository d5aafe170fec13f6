--[[
  include/bell: waking idle workers. Idle workers block on lists (BLPOP of their inbox's bell
  and the overflow's), not on the streams: at each XADD Redis walks every client blocked on
  that stream, but a list element is served to one blocked client and the walk stops. A bell
  only wakes a worker to fetch; it carries nothing, so a lost one delays a job by at most a
  maintenance tick (steal.lua rings again), never loses it.
]]
-- `Q:overflow:bell` holds at most this many: each wakes one more idle worker, and a woken worker
-- whose fetch may have left entries behind rings again (fetch.lua). An inbox's bell holds 1.
local HOMING_OVERFLOW_BELLS = 64

-- The bells this call has seen full. No script pops a bell, and the two that delete one (reap,
-- hand_back) delete the bell of a worker no route picks (dead, or with capacity 0), so a bell
-- seen full stays full for the rest of the call: a push of many jobs asks LLEN once per bell,
-- not once per job.
local homing_bells_full = {}

local function homing_ring(stream, most)
  local bell = stream .. ':bell'
  if homing_bells_full[bell] then return end
  local n = redis.call('LLEN', bell)
  if n < most then
    redis.call('RPUSH', bell, '1')
    n = n + 1
  end
  if n >= most then homing_bells_full[bell] = true end
end

-- Rings the overflow's bell once when entries wait after `last` (the group's cursor) and no
-- bell is pending: a pending one means no worker is idle to take another. For a fetch that
-- left entries behind (its last read id), and for a bell lost to a dropped wait (steal.lua).
local function homing_ring_if_waiting(overflow, last)
  local bell = overflow .. ':bell'
  if redis.call('LLEN', bell) > 0 then return end
  local newest = redis.call('XREVRANGE', overflow, '+', '-', 'COUNT', 1)[1]
  if newest and newest[1] ~= last then redis.call('RPUSH', bell, '1') end
end

-- Adds an entry to the overflow and rings its bell.
local function homing_add_overflow(overflow, fields)
  redis.call('XADD', overflow, '*', unpack(fields))
  homing_ring(overflow, HOMING_OVERFLOW_BELLS)
end

