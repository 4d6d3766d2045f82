-- Malformed safetensors files (each made here) must give a Lua error naming
-- the file, the entry and the fault; never a crash or a huge allocation.
local A = dofile(arg[0]:match("(.*/)") .. "assert.lua")
local T = require "repro.tensor"

local path = os.tmpname()

local function raw(bytes)
  local f = assert(io.open(path, "wb"))
  f:write(bytes)
  f:close()
end

-- A file from a JSON header text and data bytes (header padded to 8).
local function file(header, data)
  header = header .. string.rep(" ", (8 - #header % 8) % 8)
  raw(string.pack("<I8", #header) .. header .. (data or ""))
end

local function entry(name, dtype, shape, b, e)
  return string.format('"%s":{"dtype":"%s","shape":[%s],"data_offsets":[%s,%s]}', name, dtype,
    table.concat(shape, ","), b, e)
end

local function bad(what, ...)
  local pieces = { ... }
  A.test(what, function()
    local err = A.raises(function() T.load(path) end, nil, what)
    A.truthy(tostring(err):find(path, 1, true), what .. ": message names the file: " .. tostring(err))
    for _, p in ipairs(pieces) do
      A.truthy(tostring(err):find(p, 1, true), what .. ": message mentions '" .. p .. "': " .. tostring(err))
    end
  end)
end

local f32x6 = string.pack("<ffffff", 1, 2, 3, 4, 5, 6)

A.test("a valid file loads (control)", function()
  file("{" .. entry("w", "F32", { 2, 3 }, 0, 24) .. ',"__metadata__":{"k":"v"}}', f32x6)
  local ts, meta = T.load(path)
  A.eq(6, ts.w:totable()[2][3])
  A.eq("v", meta.k)
end)

raw("abc");                                              bad("too short", "too short")
raw(string.pack("<I8", 1000) .. "{}");                   bad("header longer than the file", "header length 1000")
raw(string.pack("<I8", 1 << 62) .. "{}");                bad("absurd header length", "header length")
raw(string.pack("<I8", -1) .. "{}");                     bad("header length 2^64-1", "header length")
file('{"w":{"dtype":"F32","sha');                        bad("truncated JSON", "bad JSON")
file(string.rep("[", 5000) .. string.rep("]", 5000));    bad("nested too deep", "bad JSON")
file('{"w\255":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', "x"); bad("not UTF-8", "bad JSON")
file('[1,2,3]');                                         bad("root not an object", "not an object")
file('{"w":"hello"}');                                   bad("entry not an object", "'w'", "not an object")
file('{"w":{"dtype":7,"shape":[1],"data_offsets":[0,1]}}', "x"); bad("dtype not a string", "'w'", "dtype")
file('{"w":{"dtype":"U8","shape":{},"data_offsets":[0,1]}}', "x"); bad("shape not an array", "'w'", "shape")
file('{"w":{"dtype":"U8","shape":[1.5],"data_offsets":[0,1]}}', "x"); bad("shape not integers", "'w'", "shape[1]")
file('{"w":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}}', "x"); bad("negative size", "'w'", "shape[1]")
file('{"w":{"dtype":"U8","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,1]}}', "x"); bad("too many dimensions", "'w'", "9 dimensions")
file('{"w":{"dtype":"U8","shape":[1],"data_offsets":[0]}}', "x"); bad("data_offsets of one value", "'w'", "data_offsets")
file('{"w":{"dtype":"U8","shape":[1],"data_offsets":["0","1"]}}', "x"); bad("data_offsets of strings", "'w'", "data_offsets")
file('{"w":{"dtype":"U8","shape":[1]}}', "x");            bad("data_offsets missing", "'w'", "data_offsets")
file("{" .. entry("w", "Q4_K", { 1 }, 0, 1) .. "}", "x"); bad("unknown dtype", "'w'", "unknown or unsupported dtype 'Q4_K'")
file("{" .. entry("w", "F32", { 4294967296, 4294967296, 16 }, 0, 4) .. "}", "xxxx"); bad("shape product overflows", "'w'", "overflows")
file("{" .. entry("w", "F32", { 1000000, 1000000 }, 0, 4) .. "}", "xxxx"); bad("shape far larger than the file", "'w'", "data bytes")
file("{" .. entry("w", "U8", { 4 }, 2, 6) .. "}", "xxxx"); bad("data_offsets past the end", "'w'", "out of range")
file("{" .. entry("w", "U8", { 4 }, -4, 0) .. "}", "xxxx"); bad("negative data_offsets", "'w'", "out of range")
file("{" .. entry("w", "U8", { 0 }, 3, 1) .. "}", "xxxx"); bad("end before begin", "'w'", "out of range")
file("{" .. entry("w", "F32", { 2 }, 0, 4) .. "}", "xxxxxxxx"); bad("offsets inconsistent with shape x dtype", "'w'", "need 8")
file("{" .. entry("a", "U8", { 4 }, 0, 4) .. "," .. entry("b", "U8", { 4 }, 2, 6) .. "}", "xxxxxx"); bad("overlapping tensors", "'b'", "overlaps")
file("{" .. entry("a", "U8", { 4 }, 0, 4) .. "," .. entry("b", "U8", { 4 }, 0, 4) .. "}", "xxxx"); bad("aliased tensors", "overlaps")
file("{" .. entry("a", "U8", { 2 }, 0, 2) .. "," .. entry("b", "U8", { 2 }, 4, 6) .. "}", "xxxxxx"); bad("hole between tensors", "belong to no tensor", "'b'")
file("{" .. entry("a", "U8", { 1 }, 0, 1) .. "," .. entry("a", "U8", { 1 }, 0, 1) .. "}", "x"); bad("duplicate names", "bad JSON", "duplicate")
file("{" .. entry("a", "U8", { 1 }, 0, 1) .. "}", "xGARBAGE"); bad("trailing garbage", "7 bytes of trailing garbage")
file('{"__metadata__":{"k":3}}');                         bad("metadata value not a string", "'k'", "not a string")
file('{"__metadata__":[1]}');                             bad("metadata not an object", "__metadata__")
file("{" .. entry("w", "I64", { 1 }, 0, 8) .. "}", string.pack("<i8", 1 << 40)); bad("I64 value beyond i32", "'w'", "does not fit")

A.test("a folder and a missing file", function()
  A.raises(function() T.load("/") end, "'/'")
  A.raises(function() T.load(path .. ".missing") end, "cannot open")
end)

A.test("truncation at every length fails cleanly", function()
  local body = "{" .. entry("a", "F32", { 2, 3 }, 0, 24) .. "," .. entry("b", "U8", { 3 }, 24, 27) .. "}"
  body = body .. string.rep(" ", (8 - #body % 8) % 8)
  local full = string.pack("<I8", #body) .. body .. f32x6 .. "abc"
  raw(full)
  A.eq(3, #T.load(path).b:totable())
  for cut = 0, #full - 1 do
    raw(full:sub(1, cut))
    A.truthy(not pcall(T.load, path), "truncated at " .. cut)
  end
end)

A.test("random byte flips never crash", function()
  local body = "{" .. entry("a", "F32", { 2, 3 }, 0, 24) .. ',"__metadata__":{"x":"y"}}'
  body = body .. string.rep(" ", (8 - #body % 8) % 8)
  local full = string.pack("<I8", #body) .. body .. f32x6
  local seed = 12345
  for _ = 1, 400 do
    seed = (seed * 6364136223846793005 + 1442695040888963407) & 0x7fffffffffffffff
    local i = seed % #full + 1
    local b = (seed >> 20) % 256
    raw(full:sub(1, i - 1) .. string.char(b) .. full:sub(i + 1))
    local ok, err = pcall(T.load, path)
    A.truthy(ok or type(err) == "string", "an error is a message")
  end
end)

A.test("writing to a full disk or a missing folder is a clear error", function()
  A.raises(function() T.save("/dev/full", { x = T.zeros(4096) }) end, "No space left on device")
  A.raises(function() T.save(path .. ".d/none/x.safetensors", { x = T.zeros(4) }) end, "cannot open")
end)

os.remove(path)
A.done("test_safetensors_malformed")
