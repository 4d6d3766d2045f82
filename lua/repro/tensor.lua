-- repro.tensor: tensor creation and methods (C core plus Lua conveniences:
-- printing, no_grad, gradcheck). Returns a table; sets no globals.
local core = require "repro.core"

local T = {}
for k, v in pairs(core.tensor) do
  if k:sub(1, 1) ~= "_" then T[k] = v end
end
for k, v in pairs(core.nnops) do T[k] = v end

local mt = core.tensor._metatable
local methods = debug.getregistry()["repro.Tensor.methods"]

-- Every method is also a function of T: T.exp(x), T.add(a, b), T.sum(x, 1).
for k, v in pairs(methods) do
  if k:sub(1, 1) ~= "_" and T[k] == nil then T[k] = v end
end

---------------------------------------------------------------- grad mode

-- Run fn(...) with autograd off; the previous mode comes back even if fn errors.
function T.no_grad(fn, ...)
  local prev = T.set_grad_enabled(false)
  local res = table.pack(pcall(fn, ...))
  T.set_grad_enabled(prev)
  if not res[1] then error(res[2], 0) end
  return table.unpack(res, 2, res.n)
end

function T.enable_grad(fn, ...)
  local prev = T.set_grad_enabled(true)
  local res = table.pack(pcall(fn, ...))
  T.set_grad_enabled(prev)
  if not res[1] then error(res[2], 0) end
  return table.unpack(res, 2, res.n)
end

---------------------------------------------------------------- printing

local EDGE, THRESHOLD = 3, 1000

-- Shrink each long dimension to its first and last EDGE entries, so printing
-- a huge tensor touches only a few elements.
local function summarised(t)
  local dims = {}
  if t:numel() <= THRESHOLD then return t, dims end
  for d = 1, t:dim() do
    local n = t:size(d)
    if n > 2 * EDGE then
      t = T.cat({t:narrow(d, 1, EDGE), t:narrow(d, n - EDGE + 1, EDGE)}, d)
      dims[d] = true
    end
  end
  return t, dims
end

local function number_format(flat, dtype)
  if dtype ~= "f32" then return function(v) return string.format("%d", v) end end
  local maxa, mina, ints = 0, math.huge, true
  for _, v in ipairs(flat) do
    if v == v and v ~= math.huge and v ~= -math.huge then
      local a = math.abs(v)
      if a > maxa then maxa = a end
      if a > 0 and a < mina then mina = a end
      if v ~= math.floor(v) then ints = false end
    end
  end
  local fmt
  if ints and maxa < 1e8 then fmt = "%.0f."
  elseif maxa >= 1e8 or (mina < 1e-4) or (mina < math.huge and maxa / mina > 1e3) then fmt = "%.4e"
  else fmt = "%.4f" end
  return function(v)
    if v ~= v then return "nan" end
    if v == math.huge then return "inf" end
    if v == -math.huge then return "-inf" end
    return string.format(fmt, v)
  end
end

local function flatten(tab, out)
  if type(tab) ~= "table" then out[#out + 1] = tab; return out end
  for _, v in ipairs(tab) do flatten(v, out) end
  return out
end

local function format_values(t)
  local s, dims = T.no_grad(summarised, t)
  local tab = s:totable()
  local fmtv = number_format(flatten(tab, {}), t:dtype())
  local width = 0
  for _, v in ipairs(flatten(tab, {})) do width = math.max(width, #fmtv(v)) end
  local nd = t:dim()
  local function rec(x, depth, indent)
    if depth > nd then return string.rep(" ", width - #fmtv(x)) .. fmtv(x) end
    local parts, n = {}, #x
    for i = 1, n do
      parts[#parts + 1] = rec(x[i], depth + 1, indent .. " ")
      if dims[depth] and i == EDGE then parts[#parts + 1] = "..." end
    end
    if depth == nd then return "[" .. table.concat(parts, ", ") .. "]" end
    local sep = "," .. string.rep("\n", nd - depth) .. indent .. " "
    return "[" .. table.concat(parts, sep) .. "]"
  end
  if nd == 0 then return fmtv(tab) end
  return rec(tab, 1, string.rep(" ", #"tensor("))
end

-- tensor([[1., 2.],
--         [3., 4.]], shape={2,2}, dtype=f32)
function T.format(t)
  if t:is_closed() then return "tensor(closed)" end
  local shape = table.concat(t:shape(), ",")
  local extra = ""
  if t.grad_fn then extra = ", grad_fn=<" .. t.grad_fn .. ">"
  elseif t.requires_grad then extra = ", requires_grad=true" end
  return string.format("tensor(%s, shape={%s}, dtype=%s%s)", format_values(t), shape, t:dtype(), extra)
end
mt.__tostring = T.format

---------------------------------------------------------------- gradcheck

-- Compare autograd with central differences. fn(inputs...) returns a tensor;
-- a non-scalar output is reduced with fixed random weights. The perturbed
-- objective is accumulated in double in Lua, and the step actually taken (after
-- rounding to f32) is the denominator, so eps = 1e-3 works in f32.
-- Returns true, or raises an error naming the input and its worst element.
function T.gradcheck(fn, inputs, opts)
  opts = opts or {}
  for k in pairs(opts) do
    if k ~= "eps" and k ~= "atol" and k ~= "rtol" then
      error("gradcheck: unknown option '" .. tostring(k) .. "' (valid: eps, atol, rtol)", 2)
    end
  end
  if T.is_tensor(inputs) then inputs = {inputs} end
  local eps, atol, rtol = opts.eps or 1e-3, opts.atol or 1e-2, opts.rtol or 1e-2
  local n = #inputs
  local function call() return fn(table.unpack(inputs, 1, n)) end

  local out = call()
  if not T.is_tensor(out) then error("gradcheck: fn must return a tensor (got " .. type(out) .. ")", 2) end
  local w = T.randn(out:shape(), {generator = T.Generator(20240917)})
  local wflat = w:reshape(-1):totable()
  local function objective()
    local o = T.no_grad(call)
    local of = o:reshape(-1):totable()
    local acc = 0
    for i = 1, #of do acc = acc + of[i] * wflat[i] end
    return acc
  end

  for _, x in ipairs(inputs) do if T.is_tensor(x) then x.grad = nil end end
  local loss = (out * w):sum()
  if not loss.requires_grad then error("gradcheck: the output does not depend on any input that requires grad", 2) end
  loss:backward()

  for i, x in ipairs(inputs) do
    if T.is_tensor(x) and x.requires_grad then
      local g = x.grad
      local analytic = g and g:reshape(-1):totable() or {}
      local worst, wk, wa, wn = -math.huge, nil, nil, nil
      for k = 1, x:numel() do
        local orig = x:_getflat(k)
        x:_setflat(k, orig + eps); local xp = x:_getflat(k); local fp = objective()
        x:_setflat(k, orig - eps); local xm = x:_getflat(k); local fm = objective()
        x:_setflat(k, orig)
        local num = (fp - fm) / (xp - xm)
        local ana = analytic[k] or 0
        local excess = math.abs(ana - num) - (atol + rtol * math.abs(num))
        if excess ~= excess then excess = math.huge end
        if excess > worst then worst, wk, wa, wn = excess, k, ana, num end
      end
      if worst > 0 then
        error(string.format("gradcheck: input %d (shape {%s}), element %d: analytic %.6g, numeric %.6g (atol %g, rtol %g)",
          i, table.concat(x:shape(), ","), wk, wa, wn, atol, rtol), 2)
      end
      x.grad = nil
    end
  end
  return true
end

-- safetensors with BF16/F16/FP8 storage and quantized tensors (repro.safetensors)
do
  local st = require "repro.safetensors"
  T.save, T.load = st.save, st.load
end

return T
