--[[
  include/push: one job of a push checked against the queue's settings, shared by push and
  push_many. Every argument arrives as the raw text (or bytes) a producer sent.
]]
-- A decimal whole number >= 0 (as Rust writes them), or nil. '0', every push's delay without
-- one, skips the pattern and the conversion.
local function homing_whole(raw)
  if raw == '0' then return 0 end
  if string.find(raw, '^%d+$') then return tonumber(raw) end
  return nil
end

-- The job map for homing_enqueue with its key_ttl_ms and delay_ms, or nil and what is wrong
-- (the argument named, for HOMING_BAD_ARG). Writes nothing.
local function homing_push_job(cfg, id, session, payload, delay, key, key_ttl, reply_to, max_attempts)
  if #id < 1 or #id > 64 then return nil, 'job id must be 1-64 bytes, got ' .. #id end
  if #session < 1 or #session > 256 then return nil, 'session must be 1-256 bytes, got ' .. #session end
  if #payload > cfg.max_payload then
    return nil, 'payload is ' .. #payload .. ' bytes, over the queue max_payload of ' .. cfg.max_payload
  end
  local delay_ms = homing_whole(delay)
  if not delay_ms then return nil, 'delay_ms must be a whole number >= 0' end
  -- Read only with a key: without one it is unused.
  local key_ttl_ms = nil
  if key ~= '' then
    key_ttl_ms = homing_whole(key_ttl)
    if not key_ttl_ms or key_ttl_ms < 1 then
      return nil, 'key_ttl_ms must be a whole number >= 1 with an idempotency key'
    end
  end
  local attempts = nil
  if max_attempts ~= '0' then
    local problem
    attempts, problem = homing_rules().parse('max_attempts', max_attempts)
    if not attempts then return nil, problem end
  end
  local job = {id = id, s = session, p = payload}
  if reply_to ~= '' then job.r = reply_to end
  if key ~= '' then job.k = key end
  if attempts then job.m = attempts end
  return job, key_ttl_ms, delay_ms
end
