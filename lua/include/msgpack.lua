--[[
  include/msgpack: a MessagePack decoder for what any language's default encoder writes. Redis
  7.0's cmsgpack cannot read `bin`, which Python's msgpack and Node's @msgpack/msgpack write for
  bytes, so this reads every format of the spec itself: nil, false, true, every int width
  (fixint, uint8-64, int8-64), float32/64, str and bin (both a Lua string, byte for byte),
  arrays and maps (keys in any order). ext types and the unused byte 0xc1 are refused.
  homing_msgpack_decode(raw) returns the value, or nil and why not: it never raises, so a
  malformed envelope is dead-lettered instead of failing the script. Integers beyond 2^53 lose
  precision (Lua numbers are doubles), as they do in cmsgpack.
]]
local HOMING_MSGPACK_MAX_DEPTH = 32

-- Fails the decode (caught by homing_msgpack_decode) with why.
local function homing_msgpack_fail(why)
  error({homing_msgpack = why})
end

-- Fails unless `n` bytes are left at `pos`.
local function homing_msgpack_need(raw, pos, n)
  if pos + n - 1 > #raw then
    homing_msgpack_fail('ends early at byte ' .. pos .. ' (' .. n .. ' needed)')
  end
end

-- A fixed-width number (a `struct` format such as '>I2', '>i8', '>d') and the next position.
local function homing_msgpack_fixed(raw, pos, format, n)
  homing_msgpack_need(raw, pos, n)
  return (struct.unpack(format, raw, pos)), pos + n
end

-- `n` bytes as a string and the next position.
local function homing_msgpack_bytes(raw, pos, n)
  homing_msgpack_need(raw, pos, n)
  return string.sub(raw, pos, pos + n - 1), pos + n
end

-- The length of a str, bin, array or map whose count follows its type byte, by type byte.
local HOMING_MSGPACK_COUNT = {
  [0xc4] = {'>I1', 1}, [0xc5] = {'>I2', 2}, [0xc6] = {'>I4', 4}, -- bin 8, 16, 32
  [0xd9] = {'>I1', 1}, [0xda] = {'>I2', 2}, [0xdb] = {'>I4', 4}, -- str 8, 16, 32
  [0xdc] = {'>I2', 2}, [0xdd] = {'>I4', 4},                      -- array 16, 32
  [0xde] = {'>I2', 2}, [0xdf] = {'>I4', 4},                      -- map 16, 32
}
-- Numbers by type byte.
local HOMING_MSGPACK_NUMBER = {
  [0xca] = {'>f', 4}, [0xcb] = {'>d', 8},
  [0xcc] = {'>I1', 1}, [0xcd] = {'>I2', 2}, [0xce] = {'>I4', 4}, [0xcf] = {'>I8', 8},
  [0xd0] = {'>i1', 1}, [0xd1] = {'>i2', 2}, [0xd2] = {'>i4', 4}, [0xd3] = {'>i8', 8},
}

local homing_msgpack_value

-- `n` values as an array, and the next position.
local function homing_msgpack_array(raw, pos, n, depth)
  -- Every value takes at least one byte: a count beyond what is left is a lie, refused before
  -- looping over it.
  homing_msgpack_need(raw, pos, n)
  local t = {}
  for i = 1, n do t[i], pos = homing_msgpack_value(raw, pos, depth) end
  return t, pos
end

-- `n` key-value pairs as a table, and the next position.
local function homing_msgpack_map(raw, pos, n, depth)
  homing_msgpack_need(raw, pos, 2 * n)
  local t = {}
  for _ = 1, n do
    local k, v
    k, pos = homing_msgpack_value(raw, pos, depth)
    v, pos = homing_msgpack_value(raw, pos, depth)
    if k == nil or k ~= k then homing_msgpack_fail('a map key is nil or NaN') end
    t[k] = v
  end
  return t, pos
end

-- The value at `pos` and the position after it.
homing_msgpack_value = function(raw, pos, depth)
  if depth > HOMING_MSGPACK_MAX_DEPTH then
    homing_msgpack_fail('nests deeper than ' .. HOMING_MSGPACK_MAX_DEPTH .. ' levels')
  end
  homing_msgpack_need(raw, pos, 1)
  local b = string.byte(raw, pos)
  pos = pos + 1
  if b <= 0x7f then return b, pos end
  if b >= 0xe0 then return b - 0x100, pos end
  if b <= 0x8f then return homing_msgpack_map(raw, pos, b - 0x80, depth + 1) end
  if b <= 0x9f then return homing_msgpack_array(raw, pos, b - 0x90, depth + 1) end
  if b <= 0xbf then return homing_msgpack_bytes(raw, pos, b - 0xa0) end
  if b == 0xc0 then return nil, pos end
  if b == 0xc2 then return false, pos end
  if b == 0xc3 then return true, pos end
  local number = HOMING_MSGPACK_NUMBER[b]
  if number then return homing_msgpack_fixed(raw, pos, number[1], number[2]) end
  local count = HOMING_MSGPACK_COUNT[b]
  if not count then
    -- 0xc1 (never used), ext 8/16/32 (0xc7-0xc9) and fixext (0xd4-0xd8).
    homing_msgpack_fail(string.format('type byte 0x%02x at byte %d is not supported', b, pos - 1))
  end
  local n
  n, pos = homing_msgpack_fixed(raw, pos, count[1], count[2])
  if b >= 0xde then return homing_msgpack_map(raw, pos, n, depth + 1) end
  if b >= 0xdc then return homing_msgpack_array(raw, pos, n, depth + 1) end
  return homing_msgpack_bytes(raw, pos, n)
end

-- The one value `raw` holds, or nil and why not (`ends early at byte 7 (4 needed)`); a lone
-- nil decodes to nil with no reason.
local function homing_msgpack_decode(raw)
  local ok, value, pos = pcall(homing_msgpack_value, raw, 1, 0)
  if not ok then
    if type(value) == 'table' and value.homing_msgpack then return nil, value.homing_msgpack end
    return nil, tostring(value)
  end
  if pos <= #raw then return nil, 'bytes follow the value at byte ' .. pos end
  return value
end
