-- repro.materials_train: training of the crystal models (nn.CGCNN,
-- nn.DiffCSP, nn.CompactDiffusion) through the kit's trainer (repro.train),
-- with an EMA of the weights that is checkpointed and resumed with the rest.
--
--   local data = MT.Sampler{items = list, bucket = function(item) return key end, seed = 1}
--   local r = MT.fit{model = m, loss = function(model, items) return loss_tensor end,
--                    data = data, steps = 2000, batch = 64, lr = 1e-3, ema = 0.999,
--                    warmup = 100, checkpoint = "dir", resume = true, log = "run.tsv"}
--   -- r.ema: the EMA (r.ema:with(fn) runs fn with the averaged weights), r.result
--   -- also quiet, progress_every, progress (a context from exp:begin_run: run i/N, the experiment's ETA)
--
-- The sampler draws each batch from one bucket (e.g. the number of atoms, so
-- a dense model sees crystals of one size), bucket chosen with probability
-- proportional to its size, items uniformly with replacement, all from a
-- generator seeded by (seed, step): its state is one step counter, so a
-- resumed run draws exactly the batches it would have drawn.
local T = require "repro.tensor"
local optim = require "repro.optim"
local train = require "repro.train"
local D = require "repro.diffusion"

local MT = {}

local Sampler = {}
Sampler.__index = Sampler

function MT.Sampler(o)
  if type(o) ~= "table" or type(o.items) ~= "table" or #o.items == 0 then
    error("materials_train.Sampler: items must be a non-empty list", 2)
  end
  local self = setmetatable({items = o.items, seed = o.seed or 1, count = 0, buckets = {}, keys = {}}, Sampler)
  local bucket = o.bucket or function() return 1 end
  for i, it in ipairs(o.items) do
    local k = bucket(it)
    if not self.buckets[k] then self.buckets[k] = {}; self.keys[#self.keys + 1] = k end
    local b = self.buckets[k]
    b[#b + 1] = i
  end
  table.sort(self.keys)
  return self
end

-- A list of `n` items (the split argument is the trainer's; only "train").
function Sampler:batch(_, n)
  self.count = self.count + 1
  local g = T.Generator(self.seed * 1000003 + self.count)
  local u = T.rand({n + 1}, {generator = g}):totable()
  local r = math.floor(u[n + 1] * #self.items)
  local key
  for _, k in ipairs(self.keys) do
    r = r - #self.buckets[k]
    if r < 0 then key = k; break end
  end
  key = key or self.keys[#self.keys]
  local b = self.buckets[key]
  local out = {}
  for i = 1, n do out[i] = self.items[b[math.floor(u[i] * #b) + 1] or b[#b]] end
  return out
end

function Sampler:get_state() return {count = self.count} end
function Sampler:set_state(s) self.count = s.count end

-- The trainer's view of a model: loss, trainable parameters, and a state
-- holding the model and the EMA shadows.
local Wrapped = {}
Wrapped.__index = Wrapped

function Wrapped:loss(items) return self.lossfn(self.model, items) end
function Wrapped:parameters() return self.model:parameters() end
function Wrapped:train() self.model:train() end
function Wrapped:eval() self.model:eval() end
function Wrapped:state_dict()
  local sd = {}
  for k, v in pairs(self.model:state_dict()) do sd["model." .. k] = v end
  if self.ema then
    for i, t in ipairs(self.ema:state()) do sd[string.format("ema.%04d", i)] = t end
  end
  return sd
end
function Wrapped:load_state_dict(sd)
  local m, e = {}, {}
  for k, v in pairs(sd) do
    local mk = k:match("^model%.(.*)$")
    local ei = k:match("^ema%.(%d+)$")
    if mk then m[mk] = v elseif ei then e[tonumber(ei)] = v
    else error("materials_train: unexpected key '" .. k .. "' in the checkpoint", 2) end
  end
  self.model:load_state_dict(m)
  if self.ema then self.ema:load(e) end
end

-- Train; see the header. Returns {result = trainer result, ema = EMA or nil,
-- seconds = wall time}.
function MT.fit(o)
  for _, k in ipairs{"model", "loss", "data", "steps", "batch"} do
    if o[k] == nil then error("materials_train.fit: '" .. k .. "' is required", 2) end
  end
  local model = o.model
  local w = setmetatable({model = model, lossfn = o.loss}, Wrapped)
  if o.ema then w.ema = D.EMA(model, o.ema) end
  local opt = optim.adamw(model:parameters(), {lr = o.lr or 1e-3, weight_decay = o.weight_decay or 0})
  local lr, warm, steps = o.lr or 1e-3, o.warmup or 0, o.steps
  local min_frac = o.min_lr_frac or 0.1
  local function schedule(step)
    if step <= warm then return lr * step / math.max(warm, 1) end
    local p = (step - warm) / math.max(steps - warm, 1)
    return lr * (min_frac + (1 - min_frac) * 0.5 * (1 + math.cos(math.pi * p)))
  end
  local U = require "repro.util"
  local t0 = U.now()
  local result = train.run{model = w, optimizer = opt, data = o.data, steps = steps, batch = o.batch,
    schedule = schedule, grad_clip = o.grad_clip or 1.0, log = o.log, checkpoint = o.checkpoint,
    checkpoint_every = o.checkpoint_every, resume = o.resume, quiet = o.quiet,
    progress_every = o.progress_every, progress = o.progress,
    on_step = function() if w.ema then w.ema:update() end end}
  return {result = result, ema = w.ema, seconds = U.now() - t0}
end

return MT
