--[[
  include/settings: the Redis clock and the queue's settings, shared by every script.
  Q is the queue's key base (`<prefix>:{<queue>}`); every script that needs Q receives `Q:meta` as its first key
  and derives Q from it, so a key is spelled the same way in every script.
]]
local PROTOCOL_VERSION = '1'

local function homing_now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function homing_base(meta_key)
  return string.sub(meta_key, 1, -6)
end

-- Raises HOMING_NO_QUEUE / HOMING_PROTOCOL before the caller writes anything.
local function homing_settings(meta_key)
  local v = redis.call('HMGET', meta_key, 'version', 'affinity', 'max_waiting', 'pin_ttl_ms',
    'max_attempts', 'max_payload', 'backoff_base_ms', 'backoff_max_ms', 'max_wait_ms',
    'visibility_timeout_ms')
  if not v[1] then
    error({err = 'HOMING_NO_QUEUE queue settings missing at ' .. meta_key ..
      ': start a worker or run `homing queue init` first'})
  end
  if v[1] ~= PROTOCOL_VERSION then
    error({err = 'HOMING_PROTOCOL queue speaks protocol ' .. v[1] .. ', this script speaks ' ..
      PROTOCOL_VERSION .. ': upgrade the older side'})
  end
  return {
    affinity = v[2],
    max_waiting = tonumber(v[3]),
    pin_ttl_ms = tonumber(v[4]),
    max_attempts = tonumber(v[5]),
    max_payload = tonumber(v[6]),
    backoff_base_ms = tonumber(v[7]),
    backoff_max_ms = tonumber(v[8]),
    max_wait_ms = tonumber(v[9]),
    visibility_timeout_ms = tonumber(v[10]),
  }
end

-- A worker is alive while its deadline in Q:workers is in the future.
local function homing_alive(Q, worker, now)
  local deadline = redis.call('ZSCORE', Q .. ':workers', worker)
  return deadline ~= false and tonumber(deadline) >= now
end

-- A per-call batch limit (ARGV), checked before anything is written.
local function homing_limit(raw)
  local n = tonumber(raw)
  if not n or n < 1 or n > 10000 or n % 1 ~= 0 then
    error({err = 'HOMING_BAD_ARG limit must be a whole number 1-10000, got ' .. tostring(raw)})
  end
  return n
end
