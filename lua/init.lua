--[[
  init: write the queue's settings unless they exist (first writer wins), and check the protocol.
  The settings it would leave in force are checked against their rules (include/settings)
  before anything is written, so no client can store a value the other scripts would refuse.
  Includes: settings
  KEYS[1] meta          hash     Q:meta
  ARGV[1] mode                   `create` (write only if absent) or `update` (overwrite the
                                 given fields, keep the others)
  ARGV[2] settings               JSON array of alternating field, value (see lua/README.md);
                                 create needs every field
  Returns: {created 0|1, field, value, ...}: whether this call wrote, then the stored settings
           (with `checked`, which init writes whenever the settings in force join to another
           text: their values joined by spaces, the other scripts' sign that they were checked)
  Errors:  HOMING_BAD_ARG    unknown mode, settings not a JSON array of field, value pairs, an
                             unknown field, a given value outside its rule (the message
                             names the field and the rule), or a `partitions` other than
                             the stored one (it is fixed when the queue is created)
           HOMING_BAD_SETTING  a stored value that stays in force breaks its rule (the message
                             names the field and the fix)
           HOMING_PROTOCOL   the stored settings speak another protocol version
]]
local mode = ARGV[1]
if mode ~= 'create' and mode ~= 'update' then
  return redis.error_reply('HOMING_BAD_ARG mode must be create or update, got ' .. tostring(mode))
end
local decoded, settings = pcall(cjson.decode, ARGV[2])
if not decoded or type(settings) ~= 'table' or #settings % 2 ~= 0 then
  return redis.error_reply('HOMING_BAD_ARG settings must be a JSON array of field, value pairs')
end
local rules = homing_rules()
local given, flat = {}, {}
for i = 1, #settings, 2 do
  local field, value = settings[i], settings[i + 1]
  if type(value) == 'number' then value = tostring(value) end
  local known = field == 'affinity' or field == 'partitions' or rules.rule(field) ~= nil
  if type(field) ~= 'string' or type(value) ~= 'string' or not known then
    return redis.error_reply('HOMING_BAD_ARG settings field ' .. tostring(field) ..
      ' is not a queue setting with a string value')
  end
  given[field] = value
  table.insert(flat, field)
  table.insert(flat, value)
end

local stored = {}
local pairs_now = redis.call('HGETALL', KEYS[1])
for i = 1, #pairs_now, 2 do stored[pairs_now[i]] = pairs_now[i + 1] end
if stored.version and stored.version ~= PROTOCOL_VERSION then
  return redis.error_reply('HOMING_PROTOCOL queue speaks protocol ' .. stored.version ..
    ', this client speaks ' .. PROTOCOL_VERSION .. ': upgrade the older side')
end

-- The settings in force after this call: the given ones over the stored ones when it writes.
local write = not stored.version or mode == 'update'

-- partitions is fixed when the queue is created: a session's partition is its hash modulo it,
-- so a change would strand the jobs and pins of every session whose partition moved. No
-- script reads it; producers and workers read it from partition 0's meta.
local parts = given.partitions
if parts and not (string.find(parts, '^%d+$') and tonumber(parts) >= 1 and tonumber(parts) <= 1024) then
  return redis.error_reply('HOMING_BAD_ARG partitions is "' .. parts ..
    '": must be a whole number from 1 to 1024')
end
local parts_was = stored.partitions or '1'
if write and stored.version and parts and parts ~= parts_was and string.find(parts_was, '^%d+$') then
  return redis.error_reply('HOMING_BAD_ARG partitions is ' .. parts_was .. ' for this queue and ' ..
    'cannot change (a session\'s partition is its hash modulo partitions, so its queued jobs ' ..
    'and pin would be stranded): create a new queue with the partitions it needs')
end
local function in_force(field)
  if write and given[field] then return given[field] end
  return stored[field]
end
local cfg, field, problem = rules.check(in_force)
if not cfg then
  -- The caller's fault when it gave the value (or one of the pair), or left it out with none
  -- stored; else the stored value is, and the message says how to replace it.
  local from_args = write and (given[field] ~= nil or stored[field] == nil or
    (field == 'backoff_max_ms' and given.backoff_base_ms ~= nil))
  if from_args then return redis.error_reply('HOMING_BAD_ARG ' .. problem) end
  return redis.error_reply('HOMING_BAD_SETTING ' .. problem .. '; fix it with `' ..
    rules.fix(field) .. '`')
end

local created = 0
if write then
  redis.call('HSET', KEYS[1], 'version', PROTOCOL_VERSION, unpack(flat))
  created = 1
end
-- Every setting in force is checked: say so to the other scripts' fast path (homing_settings).
local marker = rules.marker(in_force)
if stored.checked ~= marker then redis.call('HSET', KEYS[1], 'checked', marker) end
local out = {created}
for _, v in ipairs(redis.call('HGETALL', KEYS[1])) do table.insert(out, v) end
return out
