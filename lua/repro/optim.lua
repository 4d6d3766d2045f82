-- repro.optim: optimizers over lists of tensors (or parameter groups), and
-- learning-rate schedules.
--
--   local opt = optim.soap(params, {lr = 3e-3, betas = {0.95, 0.95}})
--   opt:zero_grad(); loss:backward(); opt:step()
--
-- params: a list of tensors, or a list of groups {params = {...}, <option> = ...}
-- whose options override cfg for that group. A tensor without .grad is skipped.
-- Methods: step(), zero_grad(), state_dict(), load_state_dict(sd),
-- memory_bytes(), set_lr(lr), get_lr(), param_groups().
--
-- Kinds and defaults (core/optim.h has the exact update rules):
--   sgd       lr 1e-3, momentum 0, dampening 0, nesterov false, weight_decay 0 (PyTorch SGD)
--   adamw     lr 1e-3, betas {0.9, 0.999}, eps 1e-8, weight_decay 0.01 (PyTorch AdamW)
--   adafactor lr 1e-2 (explicit: relative step and parameter scaling are off),
--             beta1 0 (no momentum), decay_rate -0.8, clip_threshold 1, eps 1e-30,
--             weight_decay 0; second moment factored (row/column) for >= 2-d
--             parameters, viewed as (numel / last dim, last dim)
--   shampoo   lr 3e-3, betas {0.95, 0.95}, shampoo_beta -1 (= betas[2]), eps 1e-8,
--             weight_decay 0.01, precondition_frequency 10, max_precond_dim 10000,
--             exponent -0.25 per side (-0.5: the "idealised" variant),
--             matrix_eps 1e-6 with matrix_eps_relative true (e = matrix_eps * λmax),
--             start_preconditioning_step 1 (roots at steps 1, 1+f, ...), graft true
--             (per-layer norm of AdamW's update). These are the kit's variant.
--             The SOAP paper's baseline (arXiv 2409.11321, experimental setup: DistributedShampoo
--             of facebookresearch/optimizers, Shi et al. 2023, with Adam grafting and
--             exponent -1/2.5) is, in these options:
--               exponent = -1/2.5 (the paper's tuned power, per side),
--               start_preconditioning_step = -1 (= precondition_frequency, the
--                 DistributedShampoo default: grafted AdamW alone until step f),
--               matrix_eps = 1e-12, matrix_eps_relative = false (DistributedShampoo's
--                 default epsilon, added to the bias-corrected factor after its
--                 eigenvalues are shifted to >= 0), graft = true (AdamGraftingConfig:
--                 layer-wise norm of Adam's update, same betas and eps).
--             experiments/soap_lm.lua runs this configuration by default.
--   soap      lr 3e-3, betas {0.95, 0.95}, shampoo_beta -1, eps 1e-8, weight_decay 0.01,
--             precondition_frequency 10, max_precond_dim 10000, merge_dims false,
--             precondition_1d false, normalize_grads false, correct_bias true.
--             Follows nikhilvyas/SOAP soap.py at commit f42d296c, which is the
--             December 2024 change: exp_avg lives in the rotated basis (with Q
--             orthogonal this equals the paper's Algorithm 3). The first step only
--             accumulates statistics (no update). Large ("huge") dimensions: the kit
--             follows soap.py's rule, by dimension: a side longer than max_precond_dim
--             gets the identity (the paper speaks of vocabulary layers; with the
--             default 10000 and a small vocabulary every side is preconditioned).
--   adamw and soap take m_format / v_format: "fp32", "bf16" (2 bytes), "e4m3fn",
--   "e5m2" (1 byte + a 4-byte per-tensor scale per moment).
--
-- A non-finite gradient (NaN or Inf anywhere): step() raises "non-finite
-- gradient in parameter I of group G" and changes nothing: every gradient is
-- checked before any parameter or state is touched. Skip the step (pcall) or
-- stop the run; the optimizer's state is as before the call.
local core = require "repro.core"
local C = core.optim

local optim = {}

-- The optimizers of core/optim.c's table, in its order (the index is the id a
-- state_dict stores): a new table entry is a new optim.NAME here.
local KIND_NAMES = C.kinds()
local KINDS = {}
for i, name in ipairs(KIND_NAMES) do KINDS[name] = i end

local Optimizer = {}
Optimizer.__index = Optimizer
Optimizer.__name = "repro.Optimizer"
-- In the registry under its __name, as luaL_newmetatable leaves C types, so
-- repro.help finds its methods.
debug.getregistry()[Optimizer.__name] = Optimizer

local function is_tensor(x)
  local mt = getmetatable(x)
  return mt ~= nil and mt.__name == "repro.Tensor"
end

local function build(kind, params, cfg)
  if type(params) ~= "table" then
    error(kind .. ": params must be a list of tensors or of parameter groups, got " .. type(params), 3)
  end
  if cfg ~= nil and type(cfg) ~= "table" then error(kind .. ": options must be a table", 3) end
  cfg = cfg or {}
  local self = setmetatable({kind = kind, groups = {}, nsteps = 0}, Optimizer)
  -- Validate the shared options once (unknown names raise, listing the valid ones).
  C.config(kind, cfg)
  local groups = params
  if #params > 0 and is_tensor(params[1]) then groups = {{params = params}} end
  for gi, g in ipairs(groups) do
    if type(g) ~= "table" or type(g.params) ~= "table" then
      error(string.format("%s: parameter group %d needs a params list", kind, gi), 3)
    end
    local merged = {}
    for k, v in pairs(cfg) do merged[k] = v end
    for k, v in pairs(g) do if k ~= "params" then merged[k] = v end end
    local group = {config = C.config(kind, merged), params = {}, states = {}}
    for pi, p in ipairs(g.params) do
      if not is_tensor(p) then
        error(string.format("%s: group %d entry %d is not a tensor", kind, gi, pi), 3)
      end
      group.params[pi] = p
    end
    self.groups[gi] = group
  end
  return self
end

for name in pairs(KINDS) do
  optim[name] = function(params, cfg) return build(name, params, cfg) end
end

-- repro.Optimizer: soap {lr = 0.003, betas = {0.95, 0.95}, eps = 1e-08, ...}
--   (12 tensors, 1 group, 0 steps); one {...} per group when groups differ.
function Optimizer:__tostring()
  local P = require "repro.pretty"
  local function cfg_text(c)
    local keys = {}
    for k in pairs(c) do if k ~= "lr" and k ~= "kind" then keys[#keys + 1] = k end end
    table.sort(keys)
    local parts = {"lr = " .. P.inline(c.lr)}
    for _, k in ipairs(keys) do parts[#parts + 1] = k .. " = " .. P.inline(c[k]) end
    return "{" .. table.concat(parts, ", ") .. "}"
  end
  local texts, ntensors = {}, 0
  for gi, g in ipairs(self.groups) do
    texts[gi] = cfg_text(g.config:get())
    ntensors = ntensors + #g.params
  end
  local all_same = true
  for gi = 2, #texts do if texts[gi] ~= texts[1] then all_same = false end end
  local ng = #self.groups
  local tail = string.format("(%d tensor%s, %d group%s, %d step%s)", ntensors, ntensors == 1 and "" or "s",
    ng, ng == 1 and "" or "s", self.nsteps, self.nsteps == 1 and "" or "s")
  if all_same then
    return string.format("repro.Optimizer: %s %s %s", self.kind, texts[1] or "{}", tail)
  end
  local lines = {string.format("repro.Optimizer: %s %s", self.kind, tail)}
  for gi, t in ipairs(texts) do
    local n = #self.groups[gi].params
    lines[#lines + 1] = string.format("  group %d (%d tensor%s): %s", gi, n, n == 1 and "" or "s", t)
  end
  return table.concat(lines, "\n")
end

function Optimizer:step()
  for gi, g in ipairs(self.groups) do
    for i, p in ipairs(g.params) do
      if not C.grad_is_finite(p) then
        error(string.format("%s: non-finite gradient in parameter %d of group %d; step refused, nothing changed",
          self.kind, i, gi), 2)
      end
    end
  end
  for _, g in ipairs(self.groups) do
    for i, p in ipairs(g.params) do
      if p.grad ~= nil then
        local st = g.states[i]
        if not st then st = C.state(g.config, p); g.states[i] = st end
        C.step(g.config, st, p, true)   -- gradients scanned above, once per step
      end
    end
  end
  self.nsteps = self.nsteps + 1
end

function Optimizer:zero_grad()
  for _, g in ipairs(self.groups) do
    for _, p in ipairs(g.params) do C.zero_grad(p) end
  end
end

function Optimizer:memory_bytes()
  local n = 0
  for _, g in ipairs(self.groups) do
    for i in ipairs(g.params) do
      if g.states[i] then n = n + g.states[i]:bytes() end
    end
  end
  return n
end

function Optimizer:set_lr(lr)
  if type(lr) ~= "number" then error(self.kind .. ": set_lr expects a number, got " .. type(lr), 2) end
  for _, g in ipairs(self.groups) do g.config:set{lr = lr} end
end

function Optimizer:get_lr() return self.groups[1] and self.groups[1].config:get().lr end

function Optimizer:param_groups()
  local out = {}
  for gi, g in ipairs(self.groups) do out[gi] = g.config:get() end
  return out
end

-- A flat table (string keys; tensor and number values) so T.save can store it:
--   optimizer = kind id (1 sgd, 2 adamw, 3 adafactor, 4 shampoo, 5 soap), ngroups,
--   "group.G.lr", "param.G.I.step", "param.G.I.started", "param.G.I.<buffer>".
function Optimizer:state_dict()
  local sd = {optimizer = KINDS[self.kind], ngroups = #self.groups, nsteps = self.nsteps}
  for gi, g in ipairs(self.groups) do
    sd["group." .. gi .. ".lr"] = g.config:get().lr
    for i in ipairs(g.params) do
      local st = g.states[i]
      if st then
        local bufs, step, started = st:buffers()
        local prefix = "param." .. gi .. "." .. i .. "."
        sd[prefix .. "step"] = step
        sd[prefix .. "started"] = started
        for name, t in pairs(bufs) do sd[prefix .. name] = t end
      end
    end
  end
  return sd
end

function Optimizer:load_state_dict(sd)
  if type(sd) ~= "table" then error(self.kind .. ": load_state_dict expects a table", 2) end
  local k = tonumber(sd.optimizer)
  if k ~= KINDS[self.kind] then
    error(string.format("%s: load_state_dict: state_dict is from a %s optimizer, not %s", self.kind,
      KIND_NAMES[k] or tostring(sd.optimizer), self.kind), 2)
  end
  if tonumber(sd.ngroups) ~= #self.groups then
    error(string.format("%s: load_state_dict: state_dict has %s parameter groups, optimizer has %d",
      self.kind, tostring(sd.ngroups), #self.groups), 2)
  end
  -- Check everything before changing anything.
  local plan = {}
  for gi, g in ipairs(self.groups) do
    local lr = sd["group." .. gi .. ".lr"]
    if type(lr) ~= "number" then error(self.kind .. ": load_state_dict: missing group." .. gi .. ".lr", 2) end
    for i, p in ipairs(g.params) do
      local prefix = "param." .. gi .. "." .. i .. "."
      if sd[prefix .. "step"] ~= nil then
        local bufs = {}
        for key, v in pairs(sd) do
          if type(key) == "string" and key:sub(1, #prefix) == prefix then bufs[key:sub(#prefix + 1)] = v end
        end
        plan[#plan + 1] = {g = g, i = i, p = p, bufs = bufs, step = math.tointeger(sd[prefix .. "step"]),
                           started = math.tointeger(sd[prefix .. "started"] or 0)}
      end
    end
  end
  local staged = {}
  for n, e in ipairs(plan) do
    if not e.step or not e.started then error(self.kind .. ": load_state_dict: step counters must be integers", 2) end
    local st = C.state(e.g.config, e.p)
    local ok, err = pcall(st.load, st, e.bufs, e.step, e.started)
    if not ok then error(self.kind .. ": " .. tostring(err), 2) end
    staged[n] = st
  end
  for gi, g in ipairs(self.groups) do
    g.states = {}
    g.config:set{lr = sd["group." .. gi .. ".lr"]}
  end
  for n, e in ipairs(plan) do e.g.states[e.i] = staged[n] end
  self.nsteps = math.tointeger(sd.nsteps) or 0
end

-- Save a state_dict with T.save: tensors as tensors, numbers in the metadata
-- as "%.17g" strings (exact round trip). optim.load(path) returns the state_dict.
function optim.save(path, sd)
  local T = require "repro.tensor"
  local tensors, meta = {}, {}
  for k, v in pairs(sd) do
    if type(v) == "number" then meta[k] = math.type(v) == "integer" and string.format("%d", v) or string.format("%.17g", v)
    else tensors[k] = v end
  end
  T.save(path, tensors, meta)
end

function optim.load(path)
  local T = require "repro.tensor"
  local tensors, meta = T.load(path)
  local sd = {}
  for k, v in pairs(tensors) do sd[k] = v end
  for k, v in pairs(meta or {}) do sd[k] = math.tointeger(tonumber(v)) or tonumber(v) end
  return sd
end

-- ---- learning-rate schedules: functions step -> lr (step counts from 0) ----
optim.schedule = {}

function optim.schedule.constant(lr)
  assert(type(lr) == "number" and lr >= 0, "schedule.constant: lr must be a number >= 0")
  return function() return lr end
end

local function check_sched(name, o, need)
  if type(o) ~= "table" then error("schedule." .. name .. ": expects an options table", 3) end
  local valid = {}
  for _, k in ipairs(need) do valid[k] = true end
  for k in pairs(o) do
    if not valid[k] then
      error(string.format("schedule.%s: unknown option '%s' (valid: %s)", name, tostring(k), table.concat(need, ", ")), 3)
    end
  end
  if type(o.lr) ~= "number" or o.lr < 0 then error("schedule." .. name .. ": lr must be a number >= 0", 3) end
  if type(o.warmup or 0) ~= "number" or (o.warmup or 0) < 0 then error("schedule." .. name .. ": warmup must be >= 0", 3) end
end

-- Schedules map the trainer's step number t = 1, 2, ... (the t-th update) to
-- a learning rate.

-- Linear warm-up: lr·t/warmup for t < warmup, then constant lr.
function optim.schedule.linear_warmup(o)
  check_sched("linear_warmup", o, {"lr", "warmup"})
  local lr, w = o.lr, o.warmup or 0
  return function(t)
    if t < w then return lr * t / w end
    return lr
  end
end

-- Linear warm-up to lr at t = warmup, then cosine decay to min_lr at t = total;
-- min_lr after.
function optim.schedule.warmup_cosine(o)
  check_sched("warmup_cosine", o, {"lr", "warmup", "total", "min_lr"})
  local lr, w, total, min_lr = o.lr, o.warmup or 0, o.total, o.min_lr or 0
  if type(total) ~= "number" or total <= w then error("schedule.warmup_cosine: total must be > warmup", 2) end
  return function(t)
    if t < w then return lr * t / w end
    if t >= total then return min_lr end
    local f = (t - w) / (total - w)
    return min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * f))
  end
end

return optim
