--[[
  complete: acknowledge finished jobs, many in one call; a successful first job stamps the
  session's owner. Each job is handled exactly as if it were completed alone, in list order.
  Includes: settings, entry
  KEYS[1] meta          hash     Q:meta
  KEYS[2] inbox         stream   the worker's inbox
  KEYS[3] overflow      stream   Q:overflow
  ARGV[1] worker                 this worker's id (its consumer name)
  ARGV[2] jobs                   MessagePack array, one array per finished job: {source (1 the
                                 inbox, 2 the overflow), entry_id, session, job_id, reply_to ('' for
                                 none), output (the handler's bytes, sent to Q:reply:<reply_to>)};
                                 1-1000 jobs
  Returns: a flat list, 3 per job in order: "ok"|"stale", stamped 0|1, on_owner 0|1. Stale if the
           entry is no longer pending to this worker (it was reclaimed): nothing is written for
           it. on_owner is 1 when this worker already owned the session (the job ran warm).
  Errors:  HOMING_BAD_ARG      jobs is not such a list (an entry_id is ms-seq digits): nothing
                               is written
           HOMING_BAD_SETTING  a stored setting breaks its rule: nothing is written
           HOMING_NO_QUEUE, HOMING_PROTOCOL
]]
local worker = ARGV[1]
local cfg = homing_settings(KEYS[1])
local Q = homing_base(KEYS[1])
local streams = {KEYS[2], KEYS[3]}

-- Every job is checked before the first write.
local ok, jobs = pcall(cmsgpack.unpack, ARGV[2])
if not ok or type(jobs) ~= 'table' or #jobs < 1 or #jobs > 1000 then
  return redis.error_reply('HOMING_BAD_ARG jobs must be a MessagePack array of 1-1000 jobs')
end
for i, j in ipairs(jobs) do
  local shape = type(j) == 'table' and #j == 6 and streams[j[1]] ~= nil
  for k = 2, 6 do shape = shape and type(j[k]) == 'string' end
  shape = shape and string.find(j[2], '^%d+%-%d+$') ~= nil
  if not shape then
    return redis.error_reply('HOMING_BAD_ARG job ' .. i ..
      ' must be {source 1|2, entry_id, session, job_id, reply_to, output}')
  end
end

-- Which entries are still pending to this worker: one XPENDING per stream for the whole list.
local pending, whole = {}, {}
for source = 1, 2 do
  local ids = {}
  for _, j in ipairs(jobs) do
    if j[1] == source then ids[#ids + 1] = j[2] end
  end
  if #ids > 0 then pending[source], whole[source] = homing_pending_among(streams[source], ids, worker) end
end
local function still_pending(source, entry_id)
  if pending[source][entry_id] then return true end
  return not whole[source] and homing_is_pending_to(streams[source], entry_id, worker)
end

-- Every pin the list touches, read in one MGET; `pins` then follows this call's own stamps, so
-- a session's later job sees its earlier job's stamp, exactly as if each were completed alone.
-- Whether an owner is alive is asked once per owner: nothing here changes Q:workers.
local pins, alive, now = {}, {}, nil
if cfg.affinity ~= 'off' then
  local keys, seen = {}, {}
  for _, j in ipairs(jobs) do
    if not seen[j[3]] then
      seen[j[3]] = true
      keys[#keys + 1] = Q .. ':pin:' .. j[3]
    end
  end
  local got = redis.call('MGET', unpack(keys))
  for i, key in ipairs(keys) do pins[key] = got[i] end
end
local function owner_alive(owner)
  if alive[owner] == nil then
    now = now or homing_now()
    alive[owner] = homing_alive(Q, owner, now)
  end
  return alive[owner]
end

-- Acks and deletes go out once per stream after the loop. The overflow group's last-delivered
-- id cannot change while the script runs: read once, its entry is kept (include/entry.lua).
local acked, dropped, last, kept = {{}, {}}, {{}, {}}, nil, nil
local out = {}
for _, j in ipairs(jobs) do
  local entry_id, session, job_id, reply_to, output = j[2], j[3], j[4], j[5], j[6]
  local status, stamped, on_owner = 'stale', 0, 0
  if still_pending(j[1], entry_id) then
    -- Acked below: a second listing of the same entry is stale, as it would be alone.
    pending[j[1]][entry_id] = nil
    acked[j[1]][#acked[j[1]] + 1] = entry_id
    if j[1] == 1 then
      dropped[1][#dropped[1] + 1] = entry_id
    else
      last = last or homing_last_delivered(KEYS[3])
      if entry_id == last then kept = entry_id else dropped[2][#dropped[2] + 1] = entry_id end
    end
    homing_reply(Q, reply_to, job_id, 'ok', 'out', output)
    status = 'ok'
    local pin = Q .. ':pin:' .. session
    local owner = pins[pin]
    if cfg.affinity == 'off' then
      -- No pins without affinity.
    elseif owner == worker then
      redis.call('PEXPIRE', pin, cfg.pin_ttl_ms)
      on_owner = 1
    elseif not owner or not owner_alive(owner) then
      -- First writer wins: the pin is absent or its owner is dead, and only a success gets here.
      redis.call('SET', pin, worker, 'PX', cfg.pin_ttl_ms)
      pins[pin] = worker
      stamped = 1
    end
  end
  out[#out + 1] = status
  out[#out + 1] = stamped
  out[#out + 1] = on_owner
end
-- Ack before delete (include/entry.lua, homing_ack).
for source = 1, 2 do
  if #acked[source] > 0 then redis.call('XACK', streams[source], GROUP, unpack(acked[source])) end
  if #dropped[source] > 0 then redis.call('XDEL', streams[source], unpack(dropped[source])) end
end
if kept then redis.call('SADD', KEYS[3] .. ':kept', kept) end
if #acked[2] > 0 then homing_tidy_kept(KEYS[3], last) end
return out
