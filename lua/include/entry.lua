--[[
  include/entry: reading and acknowledging one stream entry, shared by complete and fail.
]]
local GROUP = 'homing'

-- An entry is this worker's to finish only while it is pending to this worker's consumer;
-- after a reclaim it is someone else's (or gone), and the finish is stale.
local function homing_is_pending_to(stream, entry_id, worker)
  local p = redis.call('XPENDING', stream, GROUP, entry_id, entry_id, 1, worker)
  return #p == 1
end

-- Ack before delete: a crash between them leaves a harmless deleted-but-pending id, never a
-- lost job, and XLEN (the route's backlog measure) drops only once the job is really done.
local function homing_ack(stream, entry_id)
  redis.call('XACK', stream, GROUP, entry_id)
  redis.call('XDEL', stream, entry_id)
end

-- The entry's fields as a flat list and as a map; nil if the entry was deleted.
local function homing_read_entry(stream, entry_id)
  local r = redis.call('XRANGE', stream, entry_id, entry_id)
  if #r == 0 then return nil, nil end
  local flat = r[1][2]
  local map = {}
  for i = 1, #flat, 2 do map[flat[i]] = flat[i + 1] end
  return flat, map
end

-- A result for a waiting producer: appended to its reply stream, which is capped and expires
-- so a producer that went away leaves nothing behind.
local REPLY_MAXLEN, REPLY_TTL_MS = 10000, 3600000
local function homing_reply(Q, reply_to, job_id, status, field, value)
  if reply_to == '' then return end
  local key = Q .. ':reply:' .. reply_to
  redis.call('XADD', key, 'MAXLEN', '~', REPLY_MAXLEN, '*', 'id', job_id, 'status', status, field, value)
  redis.call('PEXPIRE', key, REPLY_TTL_MS)
end
