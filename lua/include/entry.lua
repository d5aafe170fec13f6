--[[
  include/entry: reading, acknowledging and dead-lettering stream entries, and replying to a
  waiting producer.
]]
local GROUP = 'homing'

-- An entry is this worker's to finish only while it is pending to this worker's consumer;
-- after a reclaim it is someone else's (or gone), and the finish is stale.
local function homing_is_pending_to(stream, entry_id, worker)
  local p = redis.call('XPENDING', stream, GROUP, entry_id, entry_id, 1, worker)
  return #p == 1
end

-- The group's last-delivered-id: entries after it are undelivered.
local function homing_last_delivered(stream)
  for _, g in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
    for i = 1, #g, 2 do
      if g[i] == 'name' and g[i + 1] ~= GROUP then break end
      if g[i] == 'last-delivered-id' then return g[i + 1] end
    end
  end
  return nil
end

-- Deletes the overflow's kept entries that delivery has moved past (all but `last`).
local function homing_tidy_kept(stream, last)
  local kept = stream .. ':kept'
  for _, id in ipairs(redis.call('SMEMBERS', kept)) do
    if id ~= last then
      redis.call('XDEL', stream, id)
      redis.call('SREM', kept, id)
    end
  end
end

-- An acked overflow entry: kept when it is the group's last-delivered one, else deleted.
local function homing_drop_acked(stream, entry_id, last)
  if entry_id == last then
    redis.call('SADD', stream .. ':kept', entry_id)
  else
    redis.call('XDEL', stream, entry_id)
  end
end

-- Ack before delete: a crash between them leaves a harmless deleted-but-pending id, never a
-- lost job, and XLEN (the route's backlog measure) drops only once the job is really done.
-- On the overflow, the entry at the group's last-delivered-id is kept (acked, listed in
-- Q:overflow:kept) until delivery moves past it: Redis 7.0 reports the group's lag, which KEDA
-- scales on, as nil once that entry is deleted while older ones remain.
-- `last`, when given, is the overflow group's last-delivered id, read by the caller once for
-- many acks.
local function homing_ack(stream, entry_id, last)
  redis.call('XACK', stream, GROUP, entry_id)
  if string.sub(stream, -9) ~= ':overflow' then
    redis.call('XDEL', stream, entry_id)
    return
  end
  last = last or homing_last_delivered(stream)
  homing_tidy_kept(stream, last)
  homing_drop_acked(stream, entry_id, last)
end

-- Stream entry ids in order: the millisecond part, then the sequence, each compared as the
-- decimal text Redis writes (no leading zeros), so ids beyond 2^53 compare exactly. Two ids
-- whose parts have the same lengths (the usual case) compare as text, without splitting them.
local function homing_id_less(a, b)
  if #a == #b and string.find(a, '-', 1, true) == string.find(b, '-', 1, true) then return a < b end
  local am, as = string.match(a, '^(%d+)%-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)%-(%d+)$')
  if am ~= bm then
    if #am ~= #bm then return #am < #bm end
    return am < bm
  end
  if #as ~= #bs then return #as < #bs end
  return as < bs
end

-- Of `ids` (entries of `stream`, at most 1000), a set of those pending to `worker`: one XPENDING
-- over the range they span instead of one per entry. When the reply fills the page, entries
-- past it may be missing from the set: the second value, whether the set is whole, is then
-- false, and a caller asks about an entry not in the set alone (homing_is_pending_to).
local function homing_pending_among(stream, ids, worker)
  local lo, hi = ids[1], ids[1]
  for i = 2, #ids do
    local id = ids[i]
    if homing_id_less(id, lo) then lo = id end
    if homing_id_less(hi, id) then hi = id end
  end
  local page = 1000
  local set = {}
  local p = redis.call('XPENDING', stream, GROUP, lo, hi, page, worker)
  for _, e in ipairs(p) do set[e[1]] = true end
  return set, #p < page
end

-- A flat field list {f1, v1, f2, v2, ...} as a map.
local function homing_map(flat)
  local map = {}
  for i = 1, #flat, 2 do map[flat[i]] = flat[i + 1] end
  return map
end

-- The entry's fields as a flat list and as a map; nil if the entry was deleted.
local function homing_read_entry(stream, entry_id)
  local r = redis.call('XRANGE', stream, entry_id, entry_id)
  if #r == 0 then return nil, nil end
  return r[1][2], homing_map(r[1][2])
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

-- Dead-letters a job (its entry fields `flat`, as a map `job`) with why, and tells a waiting
-- producer.
local function homing_dead(Q, now, flat, job, reason, err, worker)
  redis.call('XADD', Q .. ':dead', '*', 'reason', reason, 'error', err,
    'failed_at', tostring(now), 'worker', worker, unpack(flat))
  if job.id then homing_reply(Q, job.r or '', job.id, 'dead', 'error', reason .. ': ' .. err) end
end
