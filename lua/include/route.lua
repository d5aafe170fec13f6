--[[
  include/route: the pin-or-spill rule (DESIGN §3), shared by push, promote and every re-route,
  and enqueueing a new job (push, ingress).
  `fields` is a fresh flat stream entry (`id`, `s`, `p`, `a`, `t`, optional `r`, `k`, `m`,
  from homing_fields_from_map, so without `route`); the route appends `route`, the word that
  queued it.
  Returns the route word: hit | new | spill:busy | spill:dead | off | shadow:hit | shadow:miss.
  A busy owner (draining, or max_waiting jobs behind it and more than wait in the overflow)
  spills: ARCHITECTURE.md, "The route rule".
]]
-- A copy of the flat field list with its `route` field (the route that queued the entry where
-- it is; handlers' logs carry it) set to `word`, added when missing.
local function homing_with_route(flat, word)
  local out, set = {}, false
  for i = 1, #flat, 2 do
    local value = flat[i + 1]
    if flat[i] == 'route' then value, set = word, true end
    out[#out + 1] = flat[i]
    out[#out + 1] = value
  end
  if not set then
    out[#out + 1] = 'route'
    out[#out + 1] = word
  end
  return out
end

-- What one call has learnt of each owner: alive (true/false), its capacity, and whether it is
-- in Q:waiting already. The scripts that route write Q:workers, Q:capacity and Q:waiting only
-- before their first route (hand_back's capacity 0) or after their last (reap and hand_back
-- removing a worker), so within a call the answers hold, and a push of many jobs asks once
-- per owner instead of once per job.
local homing_owners = {}

-- The inbox and overflow lengths this call has read, kept current by its own routes' XADDs:
-- a call of many routes asks XLEN once per stream, not twice per job (ARCHITECTURE.md,
-- "Throughput levers"). Off (nil) unless a script turns it on with `homing_lengths = {}`, which
-- only one whose every write to an inbox or the overflow is a route's may do (push_many,
-- ingress, promote); one that also deletes or moves entries asks XLEN each time.
local homing_lengths = nil
local function homing_xlen(stream)
  if not homing_lengths then return redis.call('XLEN', stream) end
  local n = homing_lengths[stream]
  if not n then
    n = redis.call('XLEN', stream)
    homing_lengths[stream] = n
  end
  return n
end
local function homing_grew(stream)
  if homing_lengths and homing_lengths[stream] then homing_lengths[stream] = homing_lengths[stream] + 1 end
end
-- Every route to the overflow (off, shadow, a spill) goes through here, so its length stays
-- counted.
local function homing_route_overflow(overflow, fields)
  homing_add_overflow(overflow, fields)
  homing_grew(overflow)
end

local function homing_route(Q, cfg, now, session, fields)
  local overflow = Q .. ':overflow'
  if cfg.affinity == 'off' then
    table.insert(fields, 'route')
    table.insert(fields, 'off')
    homing_route_overflow(overflow, fields)
    return 'off'
  end
  local pin = Q .. ':pin:' .. session
  local owner = redis.call('GET', pin)
  local route, inbox = 'new', nil
  if owner then
    local known = homing_owners[owner]
    if not known then
      known = {alive = homing_alive(Q, owner, now)}
      if known.alive then known.capacity = tonumber(redis.call('HGET', Q .. ':capacity', owner) or '0') end
      homing_owners[owner] = known
    end
    if not known.alive then
      -- A dead owner's pin goes now, so the next successful run stamps a live owner.
      redis.call('DEL', pin)
      route = 'spill:dead'
    else
      inbox = Q .. ':inbox:' .. owner
      local capacity = known.capacity
      -- Behind the owner: the jobs past its free slots (XLEN counts running ones too).
      local behind = homing_xlen(inbox) - capacity
      -- A busy owner spills only when both hold: max_waiting jobs wait behind it (absolute),
      -- and no more wait in the overflow (relative), so the job would not start later
      -- elsewhere. The overflow's XLEN also counts its running jobs and the one acked entry
      -- kept for the group lag: a bias towards home, where a job runs warm (a spilled one
      -- waits behind the overflow and then runs cold).
      if capacity == 0 then
        route = 'spill:busy'
      elseif behind >= cfg.max_waiting and behind >= homing_xlen(overflow) then
        route = 'spill:busy'
      else
        route = 'hit'
      end
    end
  end
  if cfg.affinity == 'shadow' then
    local word = 'shadow:miss'
    if route == 'hit' then word = 'shadow:hit' end
    table.insert(fields, 'route')
    table.insert(fields, word)
    homing_route_overflow(overflow, fields)
    return word
  end
  table.insert(fields, 'route')
  table.insert(fields, route)
  if route == 'hit' then
    redis.call('XADD', inbox, '*', unpack(fields))
    homing_grew(inbox)
    homing_ring(inbox, 1)
    -- Steal looks at this inbox once the job may have waited max_wait (NX: keep the oldest).
    if not homing_owners[owner].waiting then
      redis.call('ZADD', Q .. ':waiting', 'NX', now, owner)
      homing_owners[owner].waiting = true
    end
    redis.call('PEXPIRE', pin, cfg.pin_ttl_ms)
  else
    homing_route_overflow(overflow, fields)
  end
  return route
end

-- Delayed jobs are stored whole in Q:delayed as a MessagePack map of the stream fields.
local function homing_fields_from_map(job)
  local fields = {'id', job.id, 's', job.s, 'p', job.p, 'a', tostring(job.a), 't', tostring(job.t)}
  for _, name in ipairs({'r', 'k', 'm'}) do
    if job[name] then
      table.insert(fields, name)
      table.insert(fields, tostring(job[name]))
    end
  end
  return fields
end

-- Enqueues a new job, a map with id, s, p and optional r, k, m. An idempotency key (k) already
-- seen within key_ttl_ms enqueues nothing and returns the first job's id with 'duplicate'; a
-- delay parks the job in Q:delayed; otherwise it is routed. Returns the job id and the route.
-- The key is read first and written last: an error between (a key of the wrong type met by the
-- route) leaves no key behind, so a retry of the same job is enqueued, not taken for a duplicate.
local function homing_enqueue(Q, cfg, now, job, key_ttl_ms, delay_ms)
  local idem = nil
  if job.k then
    idem = Q .. ':idem:' .. job.k
    local first = redis.call('GET', idem)
    if first then return first, 'duplicate' end
  end
  job.a, job.t = 0, now
  local route = 'delayed'
  if delay_ms > 0 then
    redis.call('ZADD', Q .. ':delayed', now + delay_ms, cmsgpack.pack(job))
  else
    route = homing_route(Q, cfg, now, job.s, homing_fields_from_map(job))
  end
  if idem then redis.call('SET', idem, job.id, 'PX', key_ttl_ms) end
  return job.id, route
end
