--[[
  push_many: enqueue many jobs in one call, each exactly as `push` would, in order (a later job
  sees an idempotency key or a pin an earlier one wrote). The settings are read once.
  Includes: settings, bell, route, push
  KEYS[1] meta          hash     Q:meta
  ARGV[1] jobs                   MessagePack array of 1-1000 jobs, each an array of push's eight
                                 arguments in push's order: {id, session, payload, delay_ms, key,
                                 key_ttl_ms, reply_to, max_attempts}, every one a str
  Returns: a flat list, 2 per job in order: {job id, route} as push returns them, or
           {'', 'HOMING_BAD_ARG <what>'} for a job whose arguments break a rule (that job only is
           refused; the others are enqueued)
  Errors:  HOMING_BAD_ARG    jobs is not such a list: nothing is written
           HOMING_BAD_SETTING  a stored setting breaks its rule: nothing is written
           HOMING_NO_QUEUE   the queue has no settings yet
           HOMING_PROTOCOL   protocol version mismatch
]]
local cfg = homing_settings(KEYS[1])
local ok, jobs = pcall(cmsgpack.unpack, ARGV[1])
if not ok or type(jobs) ~= 'table' or #jobs < 1 or #jobs > 1000 then
  return redis.error_reply('HOMING_BAD_ARG jobs must be a MessagePack array of 1-1000 jobs')
end
-- Every job is checked before the first write.
local checked = {}
for i, a in ipairs(jobs) do
  local shape = type(a) == 'table' and #a == 8
  for k = 1, 8 do shape = shape and type(a[k]) == 'string' end
  if not shape then
    return redis.error_reply('HOMING_BAD_ARG job ' .. i .. ' must be an array of push\'s 8 arguments as str')
  end
  local job, key_ttl_ms, delay_ms = homing_push_job(cfg, a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8])
  checked[i] = {job, key_ttl_ms, delay_ms}
end
local Q, now = homing_base(KEYS[1]), homing_now()
-- Every write of this script to an inbox or the overflow is a route's: it may count their lengths.
homing_lengths = {}
local out = {}
for _, c in ipairs(checked) do
  if c[1] then
    local id, route = homing_enqueue(Q, cfg, now, c[1], c[2], c[3])
    out[#out + 1] = id
    out[#out + 1] = route
  else
    out[#out + 1] = ''
    out[#out + 1] = 'HOMING_BAD_ARG ' .. c[2]
  end
end
return out
