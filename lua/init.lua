--[[
  init: write the queue's settings unless they exist (first writer wins), and check the protocol.
  Includes: settings
  KEYS[1] meta          hash     Q:meta
  ARGV[1] mode                   `create` (write only if absent) or `update` (overwrite)
  ARGV[2] settings               the settings as alternating field, value (see lua/README.md)
  Returns: {created 0|1, field, value, ...}: whether this call wrote, then the stored settings
  Errors:  HOMING_BAD_ARG    unknown mode or an odd settings list
           HOMING_PROTOCOL   the stored settings speak another protocol version
]]
local mode = ARGV[1]
local settings = cjson.decode(ARGV[2])
if mode ~= 'create' and mode ~= 'update' then
  return redis.error_reply('HOMING_BAD_ARG mode must be create or update, got ' .. tostring(mode))
end
if type(settings) ~= 'table' or #settings % 2 ~= 0 then
  return redis.error_reply('HOMING_BAD_ARG settings must be a JSON array of field, value pairs')
end

local stored = redis.call('HGET', KEYS[1], 'version')
if stored and stored ~= PROTOCOL_VERSION then
  return redis.error_reply('HOMING_PROTOCOL queue speaks protocol ' .. stored ..
    ', this client speaks ' .. PROTOCOL_VERSION .. ': upgrade the older side')
end

local created = 0
if not stored or mode == 'update' then
  redis.call('HSET', KEYS[1], 'version', PROTOCOL_VERSION, unpack(settings))
  created = 1
end
local out = {created}
for _, v in ipairs(redis.call('HGETALL', KEYS[1])) do table.insert(out, v) end
return out
