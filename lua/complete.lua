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

-- The overflow group's last-delivered id cannot change while the script runs: read it once,
-- and delete the kept entries delivery has moved past once, after the acks.
local last, now, acked_overflow = nil, nil, false
local out = {}
for _, j in ipairs(jobs) do
  local stream, entry_id, session, job_id, reply_to, output = streams[j[1]], j[2], j[3], j[4], j[5], j[6]
  local status, stamped, on_owner = 'stale', 0, 0
  if still_pending(j[1], entry_id) then
    -- Acked below: a second listing of the same entry is stale, as it would be alone.
    pending[j[1]][entry_id] = nil
    -- Everything this job's outcome depends on is read before its first write.
    local pin = Q .. ':pin:' .. session
    local owner, owner_alive = false, false
    if cfg.affinity ~= 'off' then
      owner = redis.call('GET', pin)
      if owner and owner ~= worker then now = now or homing_now() end
      owner_alive = owner == worker or (owner and homing_alive(Q, owner, now))
    end
    redis.call('XACK', stream, GROUP, entry_id)
    if j[1] == 1 then
      redis.call('XDEL', stream, entry_id)
    else
      last = last or homing_last_delivered(stream)
      homing_drop_acked(stream, entry_id, last)
      acked_overflow = true
    end
    homing_reply(Q, reply_to, job_id, 'ok', 'out', output)
    status = 'ok'
    if cfg.affinity == 'off' then
      -- No pins without affinity.
    elseif owner == worker then
      redis.call('PEXPIRE', pin, cfg.pin_ttl_ms)
      on_owner = 1
    elseif not owner_alive then
      -- First writer wins: the pin is absent or its owner is dead, and only a success gets here.
      redis.call('SET', pin, worker, 'PX', cfg.pin_ttl_ms)
      stamped = 1
    end
  end
  out[#out + 1] = status
  out[#out + 1] = stamped
  out[#out + 1] = on_owner
end
if acked_overflow then homing_tidy_kept(KEYS[3], last) end
return out
