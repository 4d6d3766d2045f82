-- repro.nn: modules for small Llama-style language models.
--
-- Module base: parameters() in registration order (depth first), a sorted
-- named_parameters(), train()/eval(), state_dict()/load_state_dict(), and a
-- summary with parameter counts via tostring(module).
--
-- Conventions: Linear weights are {out, in} (y = x·Wᵀ + b), as PyTorch and
-- repro.fp8.linear. Initialisation: every weight matrix and embedding is drawn
-- from N(0, 0.02²) (GPT-2 / small Llama practice), biases are 0 and RMSNorm
-- gains are 1. Draws come from the generator given as `generator` (or a
-- repro.Generator(seed) when `seed` is given), else from the default
-- generator: the same seed gives the same model.
local T = require "repro.tensor"
local fp8 = require "repro.fp8"
local U = require "repro.util"

local nn = {}

-- ---- tensor helpers: the few places that depend on API spelling -------------

local function no_grad(fn)
  if T.no_grad then return T.no_grad(fn) end
  return fn()
end

local function make_leaf(t)
  t = t.detach and t:detach() or t
  if t.requires_grad_ then t:requires_grad_(true) else t.requires_grad = true end
  return t
end

local function randn_param(shape, std, gen)
  local t
  no_grad(function() t = T.randn(shape, gen and { generator = gen } or nil) * std end)
  return make_leaf(t)
end

local function const_param(shape, v)
  local t = T.full and T.full(shape, v) or (T.zeros(shape) + v)
  return make_leaf(t)
end

local function numel(t)
  if t.numel then return t:numel() end
  local n = 1
  for _, s in ipairs(t:shape()) do n = n * s end
  return n
end

local function shape_str(s) return "{" .. table.concat(s, ",") .. "}" end

local function amax(x)
  local v
  no_grad(function() v = x:abs():amax():item() end)
  return v
end

-- ---- Module ------------------------------------------------------------------

local Module = {}
Module.__index = Module
Module.__name = "repro.nn.Module"
nn.Module = Module

-- A new module class: local Linear = nn.class("Linear").
function nn.class(name, parent)
  parent = parent or Module
  local cls = setmetatable({}, { __index = parent })
  cls.__index = cls
  cls.__name = "repro.nn." .. name
  cls.__tostring = Module.__tostring
  cls.classname = name
  -- In the registry under its __name, as luaL_newmetatable leaves C types,
  -- so repro.help finds the methods of every module class.
  debug.getregistry()[cls.__name] = cls
  return cls
end
debug.getregistry()[Module.__name] = Module

function Module.init(self)
  rawset(self, "_param_names", {})
  rawset(self, "_params", {})
  rawset(self, "_child_names", {})
  rawset(self, "_children", {})
  rawset(self, "training", true)
  return self
end

-- Register a parameter tensor under `name`.
function Module:param(name, t)
  self._param_names[#self._param_names + 1] = name
  self._params[name] = t
  self[name] = t
  return t
end

-- Register a child module under `name`.
function Module:child(name, m)
  self._child_names[#self._child_names + 1] = name
  self._children[name] = m
  self[name] = m
  return m
end

-- Visit (prefix, module) depth first in registration order.
function Module:modules(fn, prefix)
  prefix = prefix or ""
  fn(prefix, self)
  for _, c in ipairs(self._child_names) do
    self._children[c]:modules(fn, prefix .. c .. ".")
  end
end

-- Parameters in registration order, depth first (deterministic).
function Module:parameters()
  local out = {}
  self:modules(function(_, m)
    for _, n in ipairs(m._param_names) do out[#out + 1] = m._params[n] end
  end)
  return out
end

-- Parameters with dotted names, in registration order.
function Module:named_parameters_ordered()
  local out = {}
  self:modules(function(prefix, m)
    for _, n in ipairs(m._param_names) do out[#out + 1] = { prefix .. n, m._params[n] } end
  end)
  return out
end

-- {{name, tensor}, ...} sorted by name.
function Module:named_parameters()
  local out = self:named_parameters_ordered()
  table.sort(out, function(a, b) return a[1] < b[1] end)
  return out
end

function Module:num_parameters()
  local n = 0
  for _, p in ipairs(self:parameters()) do n = n + numel(p) end
  return n
end

function Module:train(on)
  if on == nil then on = true end
  self:modules(function(_, m) m.training = on end)
  return self
end

function Module:eval() return self:train(false) end

-- {name = tensor} of every parameter (the tensors themselves; save with T.save).
function Module:state_dict()
  local sd = {}
  for _, np in ipairs(self:named_parameters()) do sd[np[1]] = np[2] end
  return sd
end

-- Copy the values of sd into the parameters. Raises on missing or unexpected
-- keys and on shape mismatches, naming all of them; strict = false skips
-- the key checks.
function Module:load_state_dict(sd, opts)
  local strict = not (opts and opts.strict == false)
  local mine = self:state_dict()
  local missing, unexpected, bad = {}, {}, {}
  for _, k in ipairs(U.sorted_keys(mine)) do
    if sd[k] == nil then missing[#missing + 1] = k
    else
      local a, b = mine[k]:shape(), sd[k]:shape()
      if shape_str(a) ~= shape_str(b) then
        bad[#bad + 1] = string.format("%s: model %s, checkpoint %s", k, shape_str(a), shape_str(b))
      end
    end
  end
  for _, k in ipairs(U.sorted_keys(sd)) do if mine[k] == nil then unexpected[#unexpected + 1] = k end end
  local errs = {}
  if strict and #missing > 0 then errs[#errs + 1] = "missing keys: " .. table.concat(missing, ", ") end
  if strict and #unexpected > 0 then errs[#errs + 1] = "unexpected keys: " .. table.concat(unexpected, ", ") end
  if #bad > 0 then errs[#errs + 1] = "shape mismatch: " .. table.concat(bad, "; ") end
  if #errs > 0 then error("load_state_dict: " .. table.concat(errs, "; "), 2) end
  no_grad(function()
    for k, p in pairs(mine) do
      if sd[k] ~= nil then p:copy_(sd[k]) end
    end
  end)
  return self
end

local function count_str(n)
  if n >= 1e6 then return string.format("%.2fM", n / 1e6) end
  if n >= 1e3 then return string.format("%.1fK", n / 1e3) end
  return tostring(n)
end

-- A tree of modules with their own and total parameter counts.
function Module:__tostring()
  local lines = {}
  local function walk(m, name, depth)
    local own = {}
    for _, n in ipairs(m._param_names) do own[#own + 1] = n .. shape_str(m._params[n]:shape()) end
    lines[#lines + 1] = string.format("%s%s%s%s  (%s params)%s", string.rep("  ", depth),
      name ~= "" and (name .. ": ") or "", m.classname or "Module", m.describe and m:describe() or "",
      count_str(m:num_parameters()), #own > 0 and ("  " .. table.concat(own, " ")) or "")
    if m.classname == "Sequential" then   -- its functions too, in order
      for i, f in ipairs(m.steps) do
        if type(f) == "function" then
          lines[#lines + 1] = string.format("%s%d: %s", string.rep("  ", depth + 1), i, require("repro.pretty").repr(f))
        else walk(f, tostring(i), depth + 1) end
      end
    else
      for _, c in ipairs(m._child_names) do walk(m._children[c], c, depth + 1) end
    end
  end
  walk(self, "", 0)
  lines[#lines + 1] = string.format("total: %d parameters", self:num_parameters())
  return table.concat(lines, "\n")
end

-- ---- layers ------------------------------------------------------------------

local function generator_of(o)
  if o.generator then return o.generator end
  if o.seed then return T.Generator(o.seed) end
  return nil
end

local function recipe_for(numerics, f)
  if numerics == nil or numerics == "fp32" then return nil end
  if numerics ~= "bf16" and numerics ~= "fp8" then
    error("nn: numerics must be 'fp32', 'bf16' or 'fp8', got " .. tostring(numerics), 3)
  end
  if not fp8.linear_recipe then error("nn: numerics '" .. numerics .. "' needs repro.fp8.linear_recipe", 3) end
  f = f or {}
  return fp8.linear_recipe{ numerics = numerics, scaling = f.scaling, history = f.history, margin = f.margin,
                            algo = f.algo, saturate = f.saturate, forward_format = f.forward_format,
                            backward_format = f.backward_format, pow2 = f.pow2, grad_rounding = f.grad_rounding,
                            backward_operand_format = f.backward_operand_format, input_bf16 = f.input_bf16 }
end

-- ---- constructor arguments ----------------------------------------------------
-- Every layer takes its sizes positionally or in a table, as PyTorch and
-- Torch7 users expect: nn.Linear(8, 4), nn.Linear(8, 4, {bias = true}),
-- nn.Linear{8, 4, bias = true}, nn.Linear{in_features = 8, out_features = 4}.
-- Returns one options table (never the caller's: it is copied) with the
-- sizes in the named fields, or raises naming the constructor, the missing or
-- bad field, and the forms it accepts.
local function ctor_args(ctor, fields, valid, forms, ...)
  local n = select("#", ...)
  local first = ...
  local o = {}
  if type(first) == "table" and getmetatable(first) == nil then
    if n > 1 then error(string.format("%s: unexpected argument #2 after an options table (%s)", ctor, forms), 3) end
    for k, v in pairs(first) do o[k] = v end
    for i, f in ipairs(fields) do
      if o[i] ~= nil then
        if o[f] ~= nil and o[f] ~= o[i] then
          error(string.format("%s: %s given twice (entry %d = %s and %s = %s)", ctor, f, i, tostring(o[i]), f,
            tostring(o[f])), 3)
        end
        o[f], o[i] = o[i], nil
      end
    end
  else
    local args = table.pack(...)
    local i = 1
    while i <= #fields and i <= args.n and type(args[i]) ~= "table" do
      o[fields[i]] = args[i]; i = i + 1
    end
    if i <= args.n then
      local opts = args[i]
      if type(opts) ~= "table" or getmetatable(opts) ~= nil then
        error(string.format("%s: argument #%d is a %s, expected %s (%s)", ctor, i, type(opts),
          i <= #fields and "the number " .. fields[i] or "an options table", forms), 3)
      end
      if i < args.n then error(string.format("%s: unexpected argument #%d (%s)", ctor, i + 1, forms), 3) end
      for k, v in pairs(opts) do
        if math.type(k) == "integer" then
          error(string.format("%s: sizes go before the options table, not inside it (%s)", ctor, forms), 3)
        end
        if o[k] ~= nil then error(string.format("%s: %s given twice", ctor, tostring(k)), 3) end
        o[k] = v
      end
    end
  end
  for _, f in ipairs(fields) do
    local v = o[f]
    if v == nil then error(string.format("%s: missing %s (%s)", ctor, f, forms), 3) end
    if math.type(v) ~= "integer" or v < 1 then
      error(string.format("%s: %s must be a positive integer, got %s", ctor, f,
        type(v) == "number" and tostring(v) or type(v)), 3)
    end
  end
  local ok = {}
  for _, f in ipairs(fields) do ok[f] = true end
  for _, k in ipairs(valid) do ok[k] = true end
  local bad = {}
  for k in pairs(o) do if not ok[k] then bad[#bad + 1] = tostring(k) end end
  if #bad > 0 then
    table.sort(bad)
    local names = {}
    for _, f in ipairs(fields) do names[#names + 1] = f end
    for _, k in ipairs(valid) do names[#names + 1] = k end
    error(string.format("%s: unknown option%s %s (valid: %s)", ctor, #bad > 1 and "s" or "",
      table.concat(bad, ", "), table.concat(names, ", ")), 3)
  end
  return o
end

-- nn.Linear(in, out [, {bias = false, numerics = "fp32", fp8 = {...}, std = 0.02, generator =, seed =}])
-- or nn.Linear{in, out, bias = ...} or nn.Linear{in_features =, out_features =, ...}
local Linear = nn.class("Linear")
local LINEAR_OPTS = { "bias", "numerics", "fp8", "std", "generator", "seed", "stats" }
nn.Linear = function(...)
  local o = ctor_args("nn.Linear", { "in_features", "out_features" }, LINEAR_OPTS,
    "nn.Linear(in, out [, {bias = true}]) or nn.Linear{in, out, bias = true}", ...)
  local self = Module.init(setmetatable({}, Linear))
  self.in_features, self.out_features = o.in_features, o.out_features
  local g = generator_of(o)
  self:param("weight", randn_param({ self.out_features, self.in_features }, o.std or 0.02, g))
  if o.bias then self:param("bias", const_param({ self.out_features }, 0)) end
  self.numerics = o.numerics or "fp32"
  self.recipe = recipe_for(self.numerics, o.fp8)
  self.stats = o.stats   -- shared {on = bool} switch of the owning model
  return self
end

function Linear:describe()
  return string.format("(%d -> %d%s%s)", self.in_features, self.out_features, self.bias and ", bias" or "",
    self.numerics ~= "fp32" and (", " .. self.numerics) or "")
end

function Linear:forward(x)
  if self.stats and self.stats.on then self.amax_in = amax(x) end
  local y
  if self.recipe then y = fp8.linear(x, self.weight, self.recipe)
  else y = x:matmul(self.weight:t()) end
  if self.bias then y = y + self.bias end
  return y
end
Linear.__call = Linear.forward

-- nn.Embedding(num, dim [, {std = 0.02, generator =, seed =}]) or nn.Embedding{num, dim, ...}
local Embedding = nn.class("Embedding")
nn.Embedding = function(...)
  local o = ctor_args("nn.Embedding", { "num", "dim" }, { "std", "generator", "seed" },
    "nn.Embedding(num, dim) or nn.Embedding{num, dim}", ...)
  local self = Module.init(setmetatable({}, Embedding))
  self.num, self.dim = o.num, o.dim
  self:param("weight", randn_param({ self.num, self.dim }, o.std or 0.02, generator_of(o)))
  return self
end
function Embedding:describe() return string.format("(%d, %d)", self.num, self.dim) end
function Embedding:forward(ids) return T.embedding(self.weight, ids) end
Embedding.__call = Embedding.forward

-- nn.RMSNorm(dim [, {eps = 1e-5}]) or nn.RMSNorm{dim, eps = 1e-5}
local RMSNorm = nn.class("RMSNorm")
nn.RMSNorm = function(...)
  local o = ctor_args("nn.RMSNorm", { "dim" }, { "eps" }, "nn.RMSNorm(dim [, {eps = 1e-5}]) or nn.RMSNorm{dim}", ...)
  if o.eps ~= nil and (type(o.eps) ~= "number" or not (o.eps >= 0)) then
    error("nn.RMSNorm: eps must be a number >= 0, got " .. tostring(o.eps), 2)
  end
  local self = Module.init(setmetatable({}, RMSNorm))
  self.dim, self.eps = o.dim, o.eps or 1e-5
  self:param("weight", const_param({ self.dim }, 1))
  return self
end
function RMSNorm:describe() return string.format("(%d, eps=%g)", self.dim, self.eps) end
function RMSNorm:forward(x) return T.rms_norm(x, self.weight, self.eps) end
RMSNorm.__call = RMSNorm.forward

-- SwiGLU MLP (Shazeer 2020), the FP8 paper's notation: h = silu(x W1ᵀ) ⊙ (x W2ᵀ),
-- y = h W3ᵀ; W1, W2 {ffn, dim}, W3 {dim, ffn}. smooth = "channel" | "token"
-- selects Smooth-SwiGLU (fp8.swiglu's per-channel scaling of h before the
-- quantized W3); in fp32 numerics it is the same function, computed directly.
local SwiGLU = nn.class("SwiGLU")
nn.SwiGLU = function(o)
  local self = Module.init(setmetatable({}, SwiGLU))
  self.dim, self.ffn_dim = o.dim, o.ffn_dim
  self.smooth = o.smooth
  self.numerics = o.numerics or "fp32"
  self.stats = o.stats
  local lo = { numerics = self.numerics, fp8 = o.fp8, generator = o.generator, stats = o.stats }
  local function lin(i, out) lo[1], lo[2] = i, out return nn.Linear(lo) end
  self:child("w1", lin(self.dim, self.ffn_dim))
  self:child("w2", lin(self.dim, self.ffn_dim))
  -- fp8.h_bf16: W3's input (h) in bf16, the rest of the FFN in fp8 (a control)
  if o.fp8 and o.fp8.h_bf16 then
    lo.fp8 = setmetatable({ input_bf16 = true }, { __index = o.fp8 })
  end
  self:child("w3", lin(self.ffn_dim, self.dim))
  self.statistic = (o.fp8 and o.fp8.smooth_statistic) or "output"
  self.statistic = self.smooth and self.statistic or nil
  if self.smooth then self.classname = "SmoothSwiGLU" end
  return self
end
function SwiGLU:describe()
  return string.format("(%d -> %d -> %d%s)", self.dim, self.ffn_dim, self.dim, self.smooth and (", smooth=" .. self.smooth) or "")
end

function SwiGLU:forward(x)
  local on = self.stats and self.stats.on
  if self.numerics ~= "fp32" then
    if on then self.w1.amax_in = amax(x); self.w2.amax_in = self.w1.amax_in end
    local y, info = fp8.swiglu(x, self.w1.weight, self.w2.weight, self.w3.weight,
      { recipes = { self.w1.recipe, self.w2.recipe, self.w3.recipe }, smooth = self.smooth,
        statistic = self.statistic })
    if on then self.h_amax = info.h_amax; self.w3.amax_in = info.h_amax end
    return y
  end
  -- one fused op: the same bits as w1(x):silu() * w2(x), one pass and one node
  local a, b = self.w1(x), self.w2(x)
  local h = T.silu_mul(a, b)
  if on then self.h_amax = amax(h) end
  return self.w3(h)
end
SwiGLU.__call = SwiGLU.forward

-- Per-channel cosine between row i of W1 and row i of W2 (all ffn channels).
function SwiGLU:alignment()
  return U.row_cosines(self.w1.weight, self.w2.weight, "alignment")
end

-- nn.Sequential(m1, m2, ...) or nn.Sequential{m1, m2, ...}: applies its
-- entries in order. Entries are modules (their parameters are the
-- Sequential's, named "1.weight", "2.bias", ...) or plain functions of one
-- tensor (T.relu), which have no parameters.
local Sequential = nn.class("Sequential")
nn.Sequential = function(...)
  local items = table.pack(...)
  if items.n == 1 and type(items[1]) == "table" and getmetatable(items[1]) == nil then
    local t = items[1]
    for k in pairs(t) do
      if math.type(k) ~= "integer" or k < 1 or k > #t then
        error("nn.Sequential: the table form takes a list of modules, got key " .. tostring(k), 2)
      end
    end
    items = table.pack(table.unpack(t, 1, #t))
  end
  local self = Module.init(setmetatable({}, Sequential))
  self.steps = {}
  for i = 1, items.n do
    local m = items[i]
    if not (type(m) == "function" or (type(m) == "table" and type(getmetatable(m)) == "table"
                                      and type(m.forward) == "function")) then
      error(string.format("nn.Sequential: entry %d is a %s, expected a module (e.g. nn.Linear(4, 8)) or a function",
        i, type(m)), 2)
    end
    self:add(m)
  end
  return self
end
function Sequential:describe() return string.format("(%d entries)", #self.steps) end
function Sequential:forward(x)
  for _, m in ipairs(self.steps) do x = m(x) end
  return x
end
Sequential.__call = Sequential.forward
-- Entry i (a module or a function).
function Sequential:get(i) return self.steps[i] end
-- Append an entry (Torch7's nn.Sequential():add(m)); returns self.
function Sequential:add(m)
  local mt = getmetatable(m)
  local is_module = type(m) == "table" and type(mt) == "table" and type(m.forward) == "function"
  if not is_module and type(m) ~= "function" then
    error(string.format("nn.Sequential:add: expected a module (e.g. nn.Linear(4, 8)) or a function, got a %s", type(m)), 2)
  end
  local i = #self.steps + 1
  self.steps[i] = m
  if is_module then self:child(tostring(i), m) end
  return self
end
function Sequential:__len() return #self.steps end

-- Causal self-attention with rotary position embeddings (RoPE, base 10000).
local Attention = nn.class("CausalSelfAttention")
nn.CausalSelfAttention = function(o)
  local self = Module.init(setmetatable({}, Attention))
  self.dim, self.heads = o.dim, o.heads
  if self.dim % self.heads ~= 0 then
    error(string.format("nn.CausalSelfAttention: dim %d is not divisible by heads %d", self.dim, self.heads), 2)
  end
  self.head_dim = self.dim // self.heads
  if self.head_dim % 2 ~= 0 then error("nn.CausalSelfAttention: head dim " .. self.head_dim .. " must be even (RoPE)", 2) end
  self.rope_base = o.rope_base or 10000
  -- attention = "fused": the online-softmax kernel (T.attention's impl); nil
  -- keeps the default kernel, whose bits the committed results were made with.
  if o.attention ~= nil and o.attention ~= "blocked" and o.attention ~= "fused" then
    error("nn.CausalSelfAttention: attention must be 'blocked' or 'fused', got " .. tostring(o.attention), 2)
  end
  self.att_opts = o.attention and { impl = o.attention } or nil
  local lo = { numerics = o.numerics, fp8 = o.fp8, generator = o.generator, stats = o.stats }
  for _, n in ipairs { "wq", "wk", "wv", "wo" } do
    lo[1], lo[2] = self.dim, self.dim
    self:child(n, nn.Linear(lo))
  end
  return self
end
function Attention:describe() return string.format("(dim=%d, heads=%d)", self.dim, self.heads) end

function Attention:forward(x)
  local s = x:shape()
  local B, Tn, H, D = s[1], s[2], self.heads, self.head_dim
  local function heads(t) return t:view(B, Tn, H, D):transpose(2, 3) end   -- (B, H, T, D)
  local ropt = { base = self.rope_base }
  local q = T.rope(heads(self.wq(x)), ropt)
  local k = T.rope(heads(self.wk(x)), ropt)
  local v = heads(self.wv(x))
  local y = T.attention(q, k, v, self.att_opts):transpose(2, 3):contiguous():view(B, Tn, self.dim)
  return self.wo(y)
end
Attention.__call = Attention.forward

-- Pre-norm transformer block: x + attn(norm(x)), then + mlp(norm(x)).
local Block = nn.class("TransformerBlock")
nn.TransformerBlock = function(o)
  local self = Module.init(setmetatable({}, Block))
  if o.seed and not o.generator then
    local c = {}
    for k, v in pairs(o) do c[k] = v end
    c.generator, o = generator_of(o), c
  end
  self:child("attn_norm", nn.RMSNorm{ o.dim, eps = o.eps })
  self:child("attn", nn.CausalSelfAttention(o))
  self:child("mlp_norm", nn.RMSNorm{ o.dim, eps = o.eps })
  self:child("mlp", nn.SwiGLU(o))
  return self
end
function Block:forward(x)
  x = x + self.attn(self.attn_norm(x))
  return x + self.mlp(self.mlp_norm(x))
end
Block.__call = Block.forward

-- ---- Llama ---------------------------------------------------------------------

-- Default FFN width: 8/3·dim (so the SwiGLU's three matrices cost about as much
-- as a 4·dim GELU MLP's two), rounded up to a multiple of 8.
function nn.default_ffn_dim(dim) return 8 * math.ceil(8 * dim / 3 / 8) end

-- nn.Llama{vocab, dim, layers, heads, ffn_dim, seq_len, mlp = "swiglu" | "smooth_swiglu",
--          numerics = "fp32" | "bf16" | "fp8", tie_embeddings = false, fp8 = {...}, seed =, generator =,
--          attention = "blocked" | "fused"}
-- The embedding and the output head stay fp32; numerics applies to the
-- linears of the blocks (the usual FP8 recipe keeps the first and last layer
-- in higher precision).
local Llama = nn.class("Llama")
local LLAMA_OPTS = { "vocab", "dim", "layers", "heads", "ffn_dim", "seq_len", "mlp", "numerics", "tie_embeddings",
                     "fp8", "seed", "generator", "attention" }
nn.Llama = function(o)
  if type(o) ~= "table" then
    error("nn.Llama: expected a table of options, nn.Llama{vocab =, dim =, layers =, heads = [, ...]}, got "
      .. type(o), 2)
  end
  local known = {}
  for _, k in ipairs(LLAMA_OPTS) do known[k] = true end
  for k in pairs(o) do
    if not known[k] then
      error(string.format("nn.Llama: unknown option '%s' (valid: %s)", tostring(k), table.concat(LLAMA_OPTS, ", ")), 2)
    end
  end
  for _, k in ipairs { "vocab", "dim", "layers", "heads" } do
    if math.type(o[k]) ~= "integer" or o[k] < 1 then
      error(string.format("nn.Llama: '%s' must be a positive integer, got %s", k, tostring(o[k])), 2)
    end
  end
  local mlp = o.mlp or "swiglu"
  if mlp ~= "swiglu" and mlp ~= "smooth_swiglu" then
    error("nn.Llama: mlp must be 'swiglu' or 'smooth_swiglu', got " .. tostring(mlp), 2)
  end
  local self = Module.init(setmetatable({}, Llama))
  self.config = {
    vocab = o.vocab, dim = o.dim, layers = o.layers, heads = o.heads,
    ffn_dim = o.ffn_dim or nn.default_ffn_dim(o.dim), seq_len = o.seq_len or 256, mlp = mlp,
    numerics = o.numerics or "fp32", tie_embeddings = o.tie_embeddings or false, fp8 = o.fp8,
    attention = o.attention,
  }
  local c = self.config
  self.stats_switch = { on = false }
  local g = generator_of(o)
  self:child("tok_emb", nn.Embedding{ c.vocab, c.dim, generator = g })
  self.blocks = {}
  for l = 1, c.layers do
    self.blocks[l] = self:child("layers." .. l, nn.TransformerBlock{
      dim = c.dim, heads = c.heads, ffn_dim = c.ffn_dim, numerics = c.numerics, fp8 = c.fp8, generator = g,
      attention = c.attention,
      smooth = mlp == "smooth_swiglu" and ((o.fp8 and o.fp8.smooth) or "channel") or nil,
      stats = self.stats_switch })
  end
  self:child("norm", nn.RMSNorm{ c.dim })
  if not c.tie_embeddings then self:child("lm_head", nn.Linear{ c.dim, c.vocab, generator = g }) end
  -- each recipe its own stream for stochastic gradient rounding, from the model's seed
  local k = 0
  for _, nl in ipairs(self:linears()) do
    if nl[2].recipe and nl[2].recipe.reseed then k = k + 1; nl[2].recipe:reseed(((o.seed or 0) % 2147483648) * 4096 + k) end
  end
  return self
end

-- Recipes frozen (true) or not: frozen recipes record no statistics and
-- leave their amax histories alone (repro.train freezes them to evaluate).
function Llama:freeze_recipes(on)
  for _, nl in ipairs(self:linears()) do
    if nl[2].recipe and nl[2].recipe.freeze then nl[2].recipe:freeze(on and true or false) end
  end
end

function Llama:describe()
  local c = self.config
  return string.format("(vocab=%d, dim=%d, layers=%d, heads=%d, ffn=%d, mlp=%s, numerics=%s%s)", c.vocab, c.dim,
    c.layers, c.heads, c.ffn_dim, c.mlp, c.numerics, c.tie_embeddings and ", tied" or "")
end

-- Raise unless ids is a (B, T) i32 tensor of ids in 1..vocab: the message
-- says what is expected and what came (shape, dtype, the offending value).
local function check_ids(self, ids, what, fn)
  local V = self.config.vocab
  local expect = string.format("%s must be (batch, time) i32 with values in 1..%d", what, V)
  if not T.is_tensor(ids) then error(string.format("%s: %s, got a %s", fn, expect, type(ids)), 3) end
  if ids:is_closed() then error(string.format("%s: %s, got a closed tensor", fn, expect), 3) end
  local shape = shape_str(ids:shape())
  if ids:dim() ~= 2 or ids:dtype() ~= "i32" then
    error(string.format("%s: %s, got %s%s", fn, expect, ids:dtype() ~= "i32" and (ids:dtype() .. " ") or "", shape), 3)
  end
  if ids:numel() == 0 then error(string.format("%s: %s, got the empty shape %s", fn, expect, shape), 3) end
  local lo, hi = ids:amin():item(), ids:amax():item()
  if lo < 1 or hi > V then
    local bad = lo < 1 and lo or hi
    local flat = ids:reshape(-1):totable()
    local pos = 0
    for i, v in ipairs(flat) do if v == bad then pos = i break end end
    local Tn = ids:size(2)
    error(string.format("%s: %s, got %d at (%d, %d)%s", fn, expect, bad, (pos - 1) // Tn + 1, (pos - 1) % Tn + 1,
      bad == 0 and " (ids are 1-based: add 1 to 0-based ids)" or ""), 3)
  end
end

-- ids (B, T) i32 1-based -> logits (B, T, vocab).
function Llama:forward(ids)
  check_ids(self, ids, "ids", "nn.Llama")
  local x = self.tok_emb(ids)
  for _, b in ipairs(self.blocks) do x = b(x) end
  x = self.norm(x)
  if self.config.tie_embeddings then return x:matmul(self.tok_emb.weight:t()) end
  return self.lm_head(x)
end
Llama.__call = Llama.forward

-- Mean next-token cross entropy of ids (B, T) against targets (B, T).
function Llama:loss(ids, targets)
  check_ids(self, ids, "ids", "nn.Llama:loss")
  check_ids(self, targets, "targets", "nn.Llama:loss")
  if shape_str(ids:shape()) ~= shape_str(targets:shape()) then
    error(string.format("nn.Llama:loss: targets must have the shape of ids %s, got %s", shape_str(ids:shape()),
      shape_str(targets:shape())), 2)
  end
  return T.cross_entropy(self:forward(ids), targets)
end

-- Record statistics during the forwards that follow (the trainer turns it on
-- for stats steps only: computing amax costs a pass over each activation).
function Llama:collect_stats(on) self.stats_switch.on = on and true or false end

-- Every linear with its dotted name, in registration order.
function Llama:linears()
  local out = {}
  self:modules(function(prefix, m)
    if getmetatable(m) == Linear then out[#out + 1] = { prefix:sub(1, -2), m } end
  end)
  return out
end

-- The FP8 recipes (name -> recipe) of the block linears.
function Llama:recipes()
  local out = {}
  for _, nl in ipairs(self:linears()) do if nl[2].recipe then out[nl[1]] = nl[2].recipe end end
  return out
end

-- A flat table of named numbers from the last forward with stats on:
-- NAME.amax_in per linear, layers.L.mlp.h_amax per SwiGLU, NAME.fp8.KEY from
-- recipe:stats(), and layers.L.mlp.align_mean / align_max (mean and max of the
-- W1/W2 per-channel cosine).
function Llama:stats()
  local out = {}
  for _, nl in ipairs(self:linears()) do
    local name, m = nl[1], nl[2]
    if m.amax_in then out[name .. ".amax_in"] = m.amax_in end
    if m.recipe and m.recipe.stats then
      for k, v in pairs(U.flatten(m.recipe:stats())) do
        if type(v) == "number" or type(v) == "boolean" then out[name .. ".fp8." .. k] = v end
      end
    end
  end
  for l, b in ipairs(self.blocks) do
    if b.mlp.h_amax then out["layers." .. l .. ".mlp.h_amax"] = b.mlp.h_amax end
    local cos = b.mlp:alignment()
    local s, mx = 0, -1
    for _, v in ipairs(cos) do s = s + v; if v > mx then mx = v end end
    out["layers." .. l .. ".mlp.align_mean"] = s / #cos
    out["layers." .. l .. ".mlp.align_max"] = mx
  end
  return out
end

-- The cosine vector (ffn_dim entries) of layer `layer` (1-based).
function Llama:swiglu_alignment(layer)
  local b = self.blocks[layer]
  if not b then error(string.format("swiglu_alignment: layer %s outside 1..%d", tostring(layer), #self.blocks), 2) end
  return b.mlp:alignment()
end

nn.no_grad = no_grad
-- clone, freeze, forward_no_grad, and Llama:generate / forward_masked
require("repro.nn_generate").install(nn, Llama)
return nn
