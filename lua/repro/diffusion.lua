-- repro.diffusion: the pieces shared by the crystal diffusion models
-- (repro.crystal_diffusion): noise schedules, the wrapped normal on the
-- torus, sinusoidal time features, layer norm, and an exponential moving
-- average of weights.
--
--   D.cosine_betas(T)          discrete DDPM cosine schedule (Nichol & Dhariwal 2021),
--                              index 0..T with beta_0 = 0, as DiffCSP uses for lattices
--   D.wrapped_sigmas(T, lo, hi) geometric sigmas for fractional coordinates and
--                              sigma_norm = E[score^2] by quadrature
--   D.wrapped_score(d, sigma)  d log p / d(-x) of the wrapped normal at displacement d
--   D.logsnr_cosine(t)         continuous cosine schedule with log-SNR clipped to [-20, 20]
--   D.EMA(model, decay)        shadow weights: update(), swap(), state()/load()
local T = require "repro.tensor"

local D = {}

---------------------------------------------------------------- schedules

-- {T =, betas = {[0] = 0, ...}, alphas, abar, post_std}: cosine schedule with
-- s = 0.008, betas clipped to [1e-4, 0.9999]; post_std[t] is the DDPM
-- posterior standard deviation sqrt(beta_t (1 - abar_{t-1}) / (1 - abar_t)).
function D.cosine_betas(T_, s)
  s = s or 0.008
  if math.type(T_) ~= "integer" or T_ < 1 then error("diffusion.cosine_betas: T must be a positive integer, got " .. tostring(T_), 2) end
  local f = function(t) return math.cos(((t / T_) + s) / (1 + s) * math.pi * 0.5) ^ 2 end
  local f0 = f(0)
  local betas, alphas, abar, post = {[0] = 0}, {[0] = 1}, {[0] = 1}, {[0] = 0}
  for t = 1, T_ do
    local b = 1 - (f(t) / f0) / (f(t - 1) / f0)
    b = math.min(math.max(b, 1e-4), 0.9999)
    betas[t], alphas[t] = b, 1 - b
    abar[t] = abar[t - 1] * alphas[t]
    post[t] = math.sqrt(b * (1 - abar[t - 1]) / (1 - abar[t]))
  end
  return {T = T_, betas = betas, alphas = alphas, abar = abar, post_std = post}
end

-- Score of the wrapped normal with std sigma at displacement d (a number),
-- with DiffCSP's sign: sum_k (d + k)/sigma^2 w_k, w = softmax_k(-(d + k)^2 / 2 sigma^2).
local function score1(d, sigma, nimg)
  local m, terms = -math.huge, {}
  for k = -nimg, nimg do
    local e = -(d + k) ^ 2 / (2 * sigma * sigma)
    terms[#terms + 1] = {e, (d + k) / (sigma * sigma)}
    if e > m then m = e end
  end
  local num, den = 0, 0
  for _, p in ipairs(terms) do
    local w = math.exp(p[1] - m)
    num, den = num + p[2] * w, den + w
  end
  return num / den
end
D.wrapped_score1 = score1

-- {T =, sigmas = {[0] = 0, ...}, norms = {[0] = 1, ...}}: sigma_t geometric
-- from lo to hi (t = 1..T); norms[t] = E[score^2] under the wrapped normal,
-- by a 2000-point quadrature over one period (DiffCSP estimates it by Monte
-- Carlo; the quadrature is deterministic).
function D.wrapped_sigmas(T_, lo, hi)
  lo, hi = lo or 0.005, hi or 0.5
  local sig, norms = {[0] = 0}, {[0] = 1}
  local M = 2000
  for t = 1, T_ do
    local s = T_ == 1 and lo or math.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * (t - 1) / (T_ - 1))
    sig[t] = s
    -- density of the wrapped normal on [-1/2, 1/2) and the squared score
    local acc, z = 0, 0
    local nimg = math.max(2, math.ceil(6 * s))
    for i = 0, M - 1 do
      local x = (i + 0.5) / M - 0.5
      local p = 0
      for k = -nimg, nimg do p = p + math.exp(-(x + k) ^ 2 / (2 * s * s)) end
      local sc = score1(x, s, nimg)
      acc, z = acc + p * sc * sc, z + p
    end
    norms[t] = acc / z
  end
  return {T = T_, sigmas = sig, norms = norms}
end

-- Tensor version of the score at displacements d (any shape) with a per-row
-- sigma: sigma is a Lua array with one value per leading index of d.
function D.wrapped_score(d, sigma)
  local shape = d:shape()
  local rows = shape[1]
  local flat = d:reshape(rows, -1):totable()
  for r = 1, rows do
    local s = sigma[r]
    local nimg = math.max(2, math.ceil(6 * s))
    local row = flat[r]
    for c = 1, #row do row[c] = score1(row[c], s, nimg) end
  end
  return T.tensor(flat):reshape(shape)
end

-- x mod 1 into [0, 1) (no gradient).
function D.frac(x)
  return T.no_grad(function()
    local r = x - x:to("i32"):to("f32")
    r = r + r:lt(0)
    return r - r:ge(1)
  end)
end

-- Continuous cosine schedule: log-SNR(t) = -2 log tan(a t + b) with the
-- range clipped to [lmin, lmax] (default [-20, 20]) at t = 1 and t = 0.
-- Returns logsnr, alpha, sigma for t in [0, 1] (numbers).
function D.logsnr_cosine(t, lmin, lmax)
  lmin, lmax = lmin or -20, lmax or 20
  local b = math.atan(math.exp(-0.5 * lmax))
  local a = math.atan(math.exp(-0.5 * lmin)) - b
  local l = -2 * math.log(math.tan(a * t + b))
  local alpha2 = 1 / (1 + math.exp(-l))
  return l, math.sqrt(alpha2), math.sqrt(1 - alpha2)
end

---------------------------------------------------------------- layers

-- Layer norm over the last dim without affine parameters.
function D.layer_norm(x)
  return T.layer_norm(x, 1e-5)   -- one fused kernel (core/ops_pair.c)
end

-- Sinusoidal features of a (B) tensor of times: (B, dim).
-- The frequency row depends on dim alone: made once per dim (the same ops,
-- so the same bits) instead of four small ops on every denoiser call.
local freq_rows = {}
local function freq_row(dim)
  local half = dim // 2
  local f = freq_rows[dim]
  if not f then
    f = T.no_grad(function()
      return (T.arange(0, half):to("f32") * (-math.log(10000) / math.max(half - 1, 1))):exp():view(1, half)
    end)
    freq_rows[dim] = f
  end
  return f
end

function D.time_features(t, dim)
  local tv <close> = t:view(-1, 1)
  local e <close> = tv * freq_row(dim)
  local s <close> = e:sin()
  local c <close> = e:cos()
  return T.cat({s, c}, 2)
end

---------------------------------------------------------------- EMA

local EMA = {}
EMA.__index = EMA

-- Shadow copies of model:parameters(); after each optimizer step call
-- ema:update(): shadow = decay * shadow + (1 - decay) * param.
function D.EMA(model, decay)
  if not (type(decay) == "number" and decay >= 0 and decay < 1) then
    error("diffusion.EMA: decay must be in [0, 1), got " .. tostring(decay), 2)
  end
  local self = setmetatable({params = model:parameters(), decay = decay, shadow = {}}, EMA)
  T.no_grad(function()
    for i, p in ipairs(self.params) do self.shadow[i] = p:detach():clone() end
  end)
  return self
end

function EMA:update()
  local d = self.decay
  T.no_grad(function()
    for i, p in ipairs(self.params) do
      self.shadow[i]:copy_(self.shadow[i] * d + p:detach() * (1 - d))
    end
  end)
end

-- Exchange model weights and shadow weights (call twice to undo).
function EMA:swap()
  T.no_grad(function()
    for i, p in ipairs(self.params) do
      local tmp = p:detach():clone()
      p:copy_(self.shadow[i])
      self.shadow[i]:copy_(tmp)
    end
  end)
end

-- Run fn() with the EMA weights in the model.
function EMA:with(fn, ...)
  self:swap()
  local res = table.pack(pcall(fn, ...))
  self:swap()
  if not res[1] then error(res[2], 0) end
  return table.unpack(res, 2, res.n)
end

function EMA:state()
  local s = {}
  for i, t in ipairs(self.shadow) do s[i] = t end
  return s
end

function EMA:load(s)
  T.no_grad(function()
    for i, t in ipairs(self.shadow) do
      if not s[i] then error("EMA:load: missing shadow tensor " .. i, 2) end
      t:copy_(s[i])
    end
  end)
end

return D
