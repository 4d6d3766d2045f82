-- safetensors interop (issue 21): BF16/F16 storage, FP8 tensors with their
-- NAME_scale_inv companions, __metadata__, raw loads, and the errors.
local A = dofile(arg[0]:match("(.*/)") .. "assert.lua")
local repro = require "repro"
local T, fp8 = repro.tensor, repro.fp8

local path = os.tmpname()

local function bits(v) return string.unpack("<I4", string.pack("<f", v)) end
local function f32(u) return (string.unpack("<f", string.pack("<I4", u))) end

-- flat f32 values compared bit for bit (NaN equals NaN of any payload)
local function same_bits(expected, actual, what)
  local e, a = expected:view(-1):totable(), actual:view(-1):totable()
  A.eq(#e, #a, what .. ": count")
  for i = 1, #e do
    if not (e[i] ~= e[i] and a[i] ~= a[i]) and bits(e[i]) ~= bits(a[i]) then
      A.eq(string.format("%.9g (0x%08x)", e[i], bits(e[i])), string.format("%.9g (0x%08x)", a[i], bits(a[i])),
        what .. " element " .. i)
    end
  end
end

-- Every special and boundary value, then random bit patterns (all exponents,
-- NaNs included): the values a rounding routine gets wrong.
local function awkward_values(n)
  local v = { 0.0, -0.0, 1 / 0, -1 / 0, 0 / 0, 1.0, -1.0, 65504.0, 65519.99, 65520.0, -65520.0, 2 ^ -14, 2 ^ -24,
    2 ^ -25, f32(bits(2 ^ -25) + 1), 1.5 * 2 ^ -24, 2.5 * 2 ^ -24, 1 + 2 ^ -11, 1 + 3 * 2 ^ -11, 1 + 2 ^ -8,
    1 + 3 * 2 ^ -8, f32(0x7f7fffff), f32(0x00000001), f32(0x007fffff), f32(0x3f808000), f32(0x3f818000),
    f32(0x33800001), f32(0x387fe000), f32(0x387ff000), f32(0x477fefff) }
  local rng = 12345
  for _ = 1, n do
    rng = (rng * 6364136223846793005 + 1442695040888963407) & 0xffffffffffffffff
    v[#v + 1] = f32((rng >> 32) & 0xffffffff)
  end
  return T.tensor(v)
end

A.test("f32 stored as BF16 and F16 rounds as fp8.cast (ml_dtypes) does, bit for bit", function()
  local x = awkward_values(20000)
  T.save(path, { b = x, h = x, f = x }, nil, { dtype = { b = "bf16", h = "f16" } })
  local t, meta, dtypes = T.load(path)
  A.eq("BF16", dtypes.b); A.eq("F16", dtypes.h); A.eq("F32", dtypes.f)
  A.eq(nil, next(meta), "no metadata")
  same_bits(fp8.cast(x, "bf16"), t.b, "bf16")
  same_bits(fp8.cast(x, "fp16"), t.h, "f16")
  same_bits(x, t.f, "f32")
  -- the file holds 2 bytes per value for the 16-bit ones
  local f = assert(io.open(path, "rb"))
  local size = f:seek("end")
  f:close()
  A.truthy(size < 8 * x:numel() + 4096, "file size " .. size)
end)

A.test("one dtype for every f32 tensor; i32 and u8 tensors keep theirs", function()
  local ids = T.tensor({ 1, -2, 3 }, { dtype = "i32" })
  local codes = T.tensor({ 0, 7, 255 }, { dtype = "u8" })
  T.save(path, { w = T.tensor { 1.0, 2.0 ^ -20, 3.14159 }, ids = ids, codes = codes }, nil, { dtype = "bf16" })
  local t, _, d = T.load(path)
  A.eq("BF16", d.w); A.eq("I32", d.ids); A.eq("U8", d.codes)
  A.allclose({ 1, -2, 3 }, t.ids:totable(), 0)
  A.allclose({ 0, 7, 255 }, t.codes:totable(), 0)
  A.allclose(fp8.cast(T.tensor { 1.0, 2.0 ^ -20, 3.14159 }, "bf16"):totable(), t.w:totable(), 0)
end)

A.test("quantized tensors: F8 codes + NAME_scale_inv, decoded and scaled on load", function()
  repro.manual_seed(7)
  local x = T.randn { 5, 8 } * 3
  local q = fp8.quantize(x, "e4m3fn", { scale = 37.25 })
  local q5 = fp8.quantize(x, "e5m2", { scale = 0.3 })
  local qt = fp8.quantize_per_token(x, "e4m3fn", { pow2 = true })
  local qc = fp8.quantize_per_channel(x, "e5m2")
  A.eq("tensor", q.granularity); A.eq("token", qt.granularity); A.eq("channel", qc.granularity)
  T.save(path, { q = q, q5 = q5, qt = qt, qc = qc }, { note = "fp8" })
  local raw, meta, d = T.load(path, { raw = true })
  A.eq("fp8", meta.note)
  A.eq("F8_E4M3", d.q); A.eq("F8_E5M2", d.q5); A.eq("F8_E4M3", d.qt); A.eq("F8_E5M2", d.qc)
  A.eq("F32", d.q_scale_inv); A.eq("F32", d.qc_scale_inv)
  -- raw: the codes as they were, companions with the documented shapes
  for name, qq in pairs { q = q, q5 = q5, qt = qt, qc = qc } do
    A.eq("u8", raw[name]:dtype(), name)
    A.allclose(qq:codes():totable(), raw[name]:totable(), 0, name .. " codes")
  end
  A.eq(0, raw.q_scale_inv:dim(), "one scale: shape {}")
  A.eq(f32(bits(1 / f32(bits(37.25)))), raw.q_scale_inv:item(), "q_scale_inv = 1/scale")
  A.eq("5,1", table.concat(raw.qt_scale_inv:shape(), ","), "per token: {R, 1}")
  A.eq("1,8", table.concat(raw.qc_scale_inv:shape(), ","), "per channel: {1, C}")
  -- decoded: the dequantized values
  local t = T.load(path)
  A.eq(nil, t.q_scale_inv, "companions are consumed")
  same_bits(q:dequantize(), t.q, "per-tensor e4m3fn")
  same_bits(q5:dequantize(), t.q5, "per-tensor e5m2")
  same_bits(qt:dequantize(), t.qt, "per-token, power-of-two scales")
  local e, a = qc:dequantize():view(-1):totable(), t.qc:view(-1):totable()
  for i = 1, #e do A.near(e[i], a[i], math.abs(e[i]) * 2 ^ -23, "per-channel element " .. i) end
end)

A.test("u8 codes stored as F8 without a scale decode to the format's values", function()
  local codes = T.tensor({ 0x38, 0x7e, 0xb8, 0x01, 0x7f }, { dtype = "u8" })
  T.save(path, { a = codes, b = codes }, nil, { dtype = { a = "f8_e4m3", b = "F8_E5M2" } })
  local t = T.load(path)
  A.allclose({ 1, 448, -1, 2 ^ -9, 0 / 0 }, t.a:totable(), 0, "e4m3fn")
  A.allclose(fp8.decode(codes, "e5m2"):totable(), t.b:totable(), 0, "e5m2")
end)

-- A file as another writer makes it: header text and raw bytes.
local function file(header, data)
  header = header .. string.rep(" ", (8 - #header % 8) % 8)
  local f = assert(io.open(path, "wb"))
  f:write(string.pack("<I8", #header) .. header .. (data or ""))
  f:close()
end

A.test("an F8 file written elsewhere (scale_inv of shape {1} and {R,1}) loads", function()
  file('{"__metadata__":{"format":"pt"},'
    .. '"w":{"dtype":"F8_E4M3","shape":[2,2],"data_offsets":[0,4]},'
    .. '"w_scale_inv":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},'
    .. '"v":{"dtype":"F8_E5M2","shape":[2,2],"data_offsets":[8,12]},'
    .. '"v_scale_inv":{"dtype":"F32","shape":[2,1],"data_offsets":[12,20]}}',
    string.char(0x38, 0x40, 0xb8, 0x00) .. string.pack("<f", 0.5) .. string.char(0x3c, 0x40, 0xbc, 0x7b)
    .. string.pack("<ff", 2, 0.25))
  local t, meta = T.load(path)
  A.eq("pt", meta.format)
  A.allclose({ { 0.5, 1 }, { -0.5, 0 } }, t.w:totable(), 0, "e4m3fn * 0.5")
  A.allclose({ { 2, 4 }, { -0.25, 57344 * 0.25 } }, t.v:totable(), 0, "e5m2 * per-row scale")
end)

A.test("a companion that does not broadcast is an error that says how to load", function()
  file('{"w":{"dtype":"F8_E4M3","shape":[4,4],"data_offsets":[0,16]},'
    .. '"w_scale_inv":{"dtype":"F32","shape":[2,2],"data_offsets":[16,32]}}', string.rep("\0", 16) .. string.rep("\0", 16))
  A.raises(function() T.load(path) end, "companion 'w_scale_inv' (f32 {2,2}) is not an f32 scale that broadcasts to w {4,4}")
  local t, _, d = T.load(path, { raw = true })
  A.eq("F8_E4M3", d.w); A.eq("u8", t.w:dtype()); A.eq(2, t.w_scale_inv:size(1))
end)

A.test("__metadata__ round trip, and files are byte-identical run to run", function()
  local meta = { format = "pt", ["ключ"] = "значение", empty = "", json = '{"a": [1, 2]}' }
  local x = T.tensor { { 1, 2 }, { 3, 4 } }
  T.save(path, { x = x, q = fp8.quantize(x, "e4m3fn") }, meta, { dtype = { x = "f16" } })
  local a = repro.core.io.fnv1a64(assert(io.open(path, "rb")):read("a"))
  local _, m = T.load(path)
  for k, v in pairs(meta) do A.eq(v, m[k], "metadata " .. k) end
  T.save(path, { q = fp8.quantize(x, "e4m3fn"), x = x }, meta, { dtype = { x = "f16" } })
  A.eq(a, repro.core.io.fnv1a64(assert(io.open(path, "rb")):read("a")), "same bytes")
end)

A.test("bad arguments give errors naming the problem", function()
  local x = T.randn { 2, 2 }
  A.raises(function() T.save(path, { x = x }, nil, { dtype = "f64" }) end, "unknown dtype 'f64' for 'x'")
  A.raises(function() T.save(path, { x = x }, nil, { dtype = { y = "bf16" } }) end, "names 'y', which is not among")
  A.raises(function() T.save(path, { x = x }, nil, { dtyp = "bf16" }) end, "unknown option 'dtyp'")
  A.raises(function() T.save(path, { x = T.tensor({ 1 }, { dtype = "i32" }) }, nil, { dtype = { x = "bf16" } }) end,
    "'x' is i32 and cannot be stored as BF16")
  A.raises(function() T.save(path, { x = x }, nil, { dtype = { x = "f8_e4m3" } }) end, "'x' is f32 and cannot be stored as F8_E4M3")
  A.raises(function() T.save(path, { q = fp8.quantize(x, "e4m3fnuz") }) end, "quantized in e4m3fnuz")
  A.raises(function() T.save(path, { q = fp8.quantize(x, "e4m3fn"), q_scale_inv = x }) end, "companion name 'q_scale_inv' is taken")
  A.raises(function() T.save(path, { q = fp8.quantize(x, "e4m3fn") }, nil, { dtype = { q = "f8_e5m2" } }) end,
    "cannot be stored as f8_e5m2")
  A.raises(function() T.save(path, { x = {} }) end, "'x' is a table, not a tensor or a quantized tensor")
  A.raises(function() T.save(path, { x = x }, { step = 3 }) end, "metadata must map strings to strings")
  A.raises(function() T.load(path, { rwa = true }) end, "unknown option 'rwa'")
  file('{"w":{"dtype":"F8_E4M3FNUZ","shape":[1],"data_offsets":[0,1]}}', "\0")
  A.raises(function() T.load(path) end, "unknown or unsupported dtype 'F8_E4M3FNUZ'")
  file('{"w":{"dtype":"F8_E5M2","shape":[3],"data_offsets":[0,2]}}', "\0\0")
  A.raises(function() T.load(path) end, "shape needs more bytes than the file's 2 data bytes")
  file('{"__metadata__":{"a":1},"w":{"dtype":"BF16","shape":[1],"data_offsets":[0,2]}}', "\0\0")
  A.raises(function() T.load(path) end, "metadata 'a' is not a string")
end)

os.remove(path)
A.done("test_safetensors_dtypes")
