--[[ repro.safetensors: T.save / T.load (repro.tensor points at these).

  T.save(path, tensors, meta, {dtype = "bf16" | {name = "f16", ...}})
  T.load(path, {raw = false}) --> tensors, meta, dtypes

tensors maps names to f32 / i32 / u8 tensors or to FP8 quantized tensors
(fp8.quantize, fp8.quantize_per_token, fp8.quantize_per_channel). meta is
the file's __metadata__, a string -> string table (written as given, read
back as a table; empty when the file has none).

File dtypes. An f32 tensor is stored as F32, or as BF16 / F16 when
opts.dtype says so (one dtype for every f32 tensor, or a table by name);
the values are rounded to nearest even as PyTorch's .to(torch.bfloat16)
and ml_dtypes do. i32 -> I32, u8 -> U8. A quantized tensor in format
e4m3fn or e5m2 is stored as its 1-byte codes with the dtype F8_E4M3 or
F8_E5M2 (PyTorch's float8_e4m3fn and float8_e5m2), plus a companion:

  Companion naming rule: the quantized tensor NAME gets a companion
  NAME_scale_inv, F32, holding the dequantization multiplier 1/scale
  (TransformerEngine's scale_inv, the name FP8 checkpoints on the Hugging
  Face hub use: value = float(NAME) * NAME_scale_inv). Its shape
  broadcasts against NAME: {} for one scale (fp8.quantize), NAME's shape
  with the last dimension 1 for one scale per row (per token), and
  {1, ..., 1, C} for one scale per column (per channel). On load any shape
  that broadcasts by NumPy's rule is accepted ({1}, {R, 1}, ...); others
  (block scales) are an error that points to {raw = true}.

Loading converts F16, BF16 and F64 to f32 and I64 to i32; an F8_E4M3 or
F8_E5M2 tensor is decoded to f32 and, when NAME_scale_inv is present,
multiplied by it (the companion is then not returned separately); the
result equals q:dequantize() bit for bit for one scale per tensor, and to
within one rounding for per-row / per-column scales (q:dequantize divides by
the scale, loading multiplies by its stored reciprocal). With {raw = true}
F8 tensors come back as their u8 codes and companions as they are.
dtypes maps every name in the file to its file dtype ("F32", "BF16",
"F8_E4M3", ...).
]]
local core = require "repro.core"

local M = {}

local ALIASES = { fp16 = "F16", half = "F16", bfloat16 = "BF16", fp32 = "F32", float32 = "F32" }
local STORE = { F32 = true, F16 = true, BF16 = true, I32 = true, U8 = true, F8_E4M3 = true, F8_E5M2 = true }
local FP8_DTYPE = { e4m3fn = "F8_E4M3", e5m2 = "F8_E5M2" }
local FP8_FORMAT = { F8_E4M3 = "e4m3fn", F8_E5M2 = "e5m2" }
M.SCALE_SUFFIX = "_scale_inv"

local QMT = "repro.fp8.Quantized"
local TMT = "repro.Tensor"
local function kind(v)
  local mt = getmetatable(v)
  local name = type(mt) == "table" and rawget(mt, "__name")
  if name == TMT then return "tensor" end
  if name == QMT then return "quantized" end
  return nil
end

local function dtype_name(fn, d, what)
  if type(d) ~= "string" then error(string.format("%s: dtype for '%s' must be a string, got %s", fn, what, type(d)), 3) end
  local u = ALIASES[d:lower()] or d:upper()
  if not STORE[u] then
    error(string.format("%s: unknown dtype '%s' for '%s' (valid: f32, bf16, f16, i32, u8, f8_e4m3, f8_e5m2)", fn, d, what), 3)
  end
  return u
end

-- The companion tensor of a quantized q: 1/scale shaped to broadcast.
local function scale_inv(q)
  local s = q:scale()
  local shape = q:codes():shape()
  if type(s) == "number" then
    local t = core.tensor.tensor({ s })
    return (1 / t):view({})
  end
  local inv = (1 / s):contiguous()
  local sh = {}
  if q.granularity == "token" then
    for i = 1, #shape - 1 do sh[i] = shape[i] end
    sh[#shape] = 1
  else
    for i = 1, #shape - 1 do sh[i] = 1 end
    sh[#shape] = shape[#shape]
  end
  return inv:view(sh)
end

-- Call a binding; its error is raised at the caller of save/load (level 3).
local function call(f, ...)
  local r = table.pack(pcall(f, ...))
  if not r[1] then error(r[2], 3) end
  return table.unpack(r, 2, r.n)
end

function M.save(path, tensors, meta, opts)
  local fn = "save"
  if type(path) ~= "string" then error("save: path must be a string, got " .. type(path), 2) end
  if type(tensors) ~= "table" then error("save: tensors must be a table of name = tensor, got " .. type(tensors), 2) end
  if meta ~= nil and type(meta) ~= "table" then error("save: meta must be a table of strings, got " .. type(meta), 2) end
  if opts ~= nil and type(opts) ~= "table" then error("save: options must be a table, got " .. type(opts), 2) end
  opts = opts or {}
  for k in pairs(opts) do
    if k ~= "dtype" then error("save: unknown option '" .. tostring(k) .. "' (valid: dtype)", 2) end
  end
  local dt = opts.dtype
  if dt ~= nil and type(dt) ~= "string" and type(dt) ~= "table" then
    error("save: option dtype must be a string or a table of name = dtype, got " .. type(dt), 2)
  end
  if type(dt) == "table" then
    for k in pairs(dt) do
      if tensors[k] == nil then error("save: option dtype names '" .. tostring(k) .. "', which is not among the tensors", 2) end
    end
  end
  local entries = {}
  local function add(name, t, d)
    if entries[name] then
      error(string.format("save: '%s' is both a tensor and the companion scale of quantized '%s'",
        name, name:sub(1, #name - #M.SCALE_SUFFIX)), 3)
    end
    entries[name] = { t, d }
  end
  local names = {}
  for name in pairs(tensors) do
    if type(name) ~= "string" then error("save: tensor names must be strings (got " .. type(name) .. ")", 2) end
    names[#names + 1] = name
  end
  table.sort(names)
  for _, name in ipairs(names) do
    local v = tensors[name]
    local k = kind(v)
    local want = type(dt) == "table" and dt[name] or (type(dt) == "string" and dt) or nil
    if k == "tensor" then
      local d = false
      if want then
        d = dtype_name(fn, want, name)
        -- one dtype for all: it applies to the f32 tensors only
        if type(dt) == "string" and v:dtype() ~= "f32" then d = false end
      end
      add(name, v, d)
    elseif k == "quantized" then
      local fmt = v:format()
      local d = FP8_DTYPE[fmt]
      if not d then
        error(string.format("save: '%s' is quantized in %s; safetensors stores FP8 as F8_E4M3 (e4m3fn) or F8_E5M2 (e5m2) only", name, fmt), 2)
      end
      if type(dt) == "table" and dt[name] and dtype_name(fn, dt[name], name) ~= d then
        error(string.format("save: '%s' is quantized in %s, stored as %s; it cannot be stored as %s", name, fmt, d, dt[name]), 2)
      end
      if tensors[name .. M.SCALE_SUFFIX] ~= nil then
        error(string.format("save: '%s' is quantized and its companion name '%s' is taken by another tensor",
          name, name .. M.SCALE_SUFFIX), 2)
      end
      add(name, v:codes(), d)
      add(name .. M.SCALE_SUFFIX, scale_inv(v), "F32")
    else
      error(string.format("save: '%s' is a %s, not a tensor or a quantized tensor", name, kind(v) or type(v)), 2)
    end
  end
  local all = {}
  for name in pairs(entries) do all[#all + 1] = name end
  table.sort(all)
  local ts, ds = {}, {}
  for i, name in ipairs(all) do ts[i], ds[i] = entries[name][1], entries[name][2] end
  call(core.io.save_safetensors, path, all, ts, ds, meta)
end

-- Does shape s broadcast onto shape t (NumPy's rule: aligned at the right,
-- each dimension 1 or equal; s may have fewer dimensions)?
local function broadcasts(s, t)
  if #s > #t then return false end
  for i = 1, #s do
    local a, b = s[#s - i + 1], t[#t - i + 1]
    if a ~= 1 and a ~= b then return false end
  end
  return true
end

local function shape_str(s) return "{" .. table.concat(s, ",") .. "}" end

function M.load(path, opts)
  if type(path) ~= "string" then error("load: path must be a string, got " .. type(path), 2) end
  if opts ~= nil and type(opts) ~= "table" then error("load: options must be a table, got " .. type(opts), 2) end
  opts = opts or {}
  for k in pairs(opts) do
    if k ~= "raw" then error("load: unknown option '" .. tostring(k) .. "' (valid: raw)", 2) end
  end
  local tensors, meta, dtypes = call(core.io.load_safetensors, path)
  if opts.raw then return tensors, meta, dtypes end
  local out = {}
  for name, t in pairs(tensors) do out[name] = t end
  for name, d in pairs(dtypes) do
    local fmt = FP8_FORMAT[d]
    if fmt then
      local v = core.fp8.decode(tensors[name], fmt)
      local sname = name .. M.SCALE_SUFFIX
      local s = tensors[sname]
      if s ~= nil then
        if s:dtype() ~= "f32" or not broadcasts(s:shape(), v:shape()) then
          error(string.format("load: '%s': companion '%s' (%s %s) is not an f32 scale that broadcasts to %s %s; "
            .. "load with {raw = true} and apply it yourself", path, sname, s:dtype(), shape_str(s:shape()),
            name, shape_str(v:shape())), 2)
        end
        local sh, ss = {}, s:shape()
        for i = 1, v:dim() do sh[i] = ss[i - (v:dim() - #ss)] or 1 end
        v = v * s:contiguous():view(sh)
        out[sname] = nil
      end
      out[name] = v
    end
  end
  return out, meta, dtypes
end

return M
