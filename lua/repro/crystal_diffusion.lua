-- repro.crystal_diffusion: two diffusion models that turn a composition into
-- crystal structures, behind one interface:
--
--   local m = nn.DiffCSP{dim = 64, layers = 3, freqs = 8, T = 250, seed = 1}
--   local m = nn.CompactDiffusion{dim = 64, blocks = 4, heads = 4, seed = 1}
--   local loss = m:loss(batch)           -- batch from CD.batch(list of structures)
--   local structs = m:sample(composition, {n = 20, steps =, generator =})
--
-- A composition is a list with one atomic number per atom ({38, 22, 8, 8, 8})
-- or, when repro.crystal is loaded, element symbols ({"Sr", "Ti", "O", "O", "O"}).
-- sample returns n structures: repro.crystal Structures when that module is
-- there, else plain tables {lattice = 3x3 rows, frac = N x 3, numbers = {Z}}.
--
-- DiffCSP (Jiao et al. 2023): the lattice matrix L (rows are vectors) by a
-- DDPM with a cosine schedule, fractional coordinates by score matching of a
-- wrapped normal on the torus (sigma geometric 0.005 -> 0.5), a denoiser over
-- all atom pairs seeing h_i, h_j, L L^T and sin/cos features of f_j - f_i,
-- mean aggregation (permutation equivariant, translation invariant, O(3)
-- invariant through L L^T with an equivariant lattice output eps_L = phi L);
-- predictor-corrector sampling (Langevin corrector, step_lr as DiffCSP's).
--
-- Compact (GenMS, Yang et al. 2024): each atom a token (x, y, z as 2f - 1 and
-- the atomic number scaled to [-1, 1]) plus one lattice token (log lengths,
-- (angle - 90) / 30, standardised); per-token MLPs alternating with
-- order-invariant multi-head self-attention over all tokens (matmul + softmax,
-- no mask), conditioned on time and the composition by a shift of every
-- token; epsilon prediction on a continuous cosine schedule with log-SNR in
-- [-20, 20]; ancestral sampling with log-variance interpolation gamma.
-- Species are read off the Z channel by a count-constrained assignment: atoms
-- sorted by their predicted value get the composition's species sorted by Z.
local T = require "repro.tensor"
local nn = require "repro.nn"
local D = require "repro.diffusion"

local CD = {}

local function linear(i, o, g, bias)
  return nn.Linear{i, o, bias = bias ~= false, std = 1 / math.sqrt(i), generator = g}
end

-- A Linear module's map as one fused kernel (bias folded into the product).
local function lin(m, x) return T.linear(x, m.weight, m.bias) end

local function check_opts(o, valid, who)
  for k in pairs(o) do
    if not valid[k] then error(who .. ": unknown option '" .. tostring(k) .. "'", 3) end
  end
  for _, k in ipairs{"dim", "layers", "freqs", "T", "blocks", "heads", "time_dim", "max_z"} do
    local v = o[k]
    if v ~= nil and (math.type(v) ~= "integer" or v < 1) then
      error(who .. ": " .. k .. " must be a positive integer, got " .. tostring(v), 3)
    end
  end
end

---------------------------------------------------------------- data

local function lattice_from_params(a, b, c, al, be, ga)
  local r = math.pi / 180
  al, be, ga = al * r, be * r, ga * r
  local cx = c * math.cos(be)
  local cy = c * (math.cos(al) - math.cos(be) * math.cos(ga)) / math.sin(ga)
  return {{a, 0, 0}, {b * math.cos(ga), b * math.sin(ga), 0}, {cx, cy, math.sqrt(math.max(c * c - cx * cx - cy * cy, 1e-12))}}
end
CD.lattice_from_params = lattice_from_params

local function params_of(L)
  local function dot(u, v) return u[1] * v[1] + u[2] * v[2] + u[3] * v[3] end
  local a, b, c = math.sqrt(dot(L[1], L[1])), math.sqrt(dot(L[2], L[2])), math.sqrt(dot(L[3], L[3]))
  local function ang(u, v, nu, nv) return math.deg(math.acos(math.max(-1, math.min(1, dot(u, v) / (nu * nv))))) end
  return a, b, c, ang(L[2], L[3], b, c), ang(L[1], L[3], a, c), ang(L[1], L[2], a, b)
end
CD.lattice_params = params_of

-- Plain view of a structure: {lattice = 3x3, frac = N x 3, numbers = {Z}}.
local function plain(s)
  if type(s) == "table" and type(s.lattice) == "table" then return s end
  return {lattice = s:lattice():totable(), frac = s:frac():totable(), numbers = s:numbers():totable()}
end
CD.plain = plain

-- A batch of structures with the same number of atoms N:
-- {B, N, z (B, N) i32, frac (B, N, 3), lattice (B, 3, 3), params (B, 6)}.
-- The lattice is rebuilt from its parameters (a along x, b in the xy plane),
-- the canonical orientation DiffCSP uses.
function CD.batch(structs)
  local z, fr, lat, par = {}, {}, {}, {}
  local N
  for i, s0 in ipairs(structs) do
    local s = plain(s0)
    N = N or #s.numbers
    if #s.numbers ~= N then error("crystal_diffusion.batch: structures must have the same number of atoms (" .. N .. " and " .. #s.numbers .. ")", 2) end
    z[i], fr[i] = s.numbers, {}
    for a = 1, N do
      fr[i][a] = {}
      for c = 1, 3 do local v = s.frac[a][c] % 1; fr[i][a][c] = v < 1 and v or 0 end
    end
    local p = {params_of(s.lattice)}
    par[i] = p
    lat[i] = lattice_from_params(table.unpack(p))
  end
  return {B = #structs, N = N, z = T.tensor(z, {dtype = "i32"}), frac = T.tensor(fr), lattice = T.tensor(lat),
          params = T.tensor(par)}
end

-- Atomic numbers of a composition (list of Z or of symbols).
local function composition_numbers(comp)
  if type(comp) ~= "table" or #comp == 0 then error("sample: composition must be a non-empty list of atomic numbers or symbols", 3) end
  local out = {}
  for i, v in ipairs(comp) do
    if math.type(v) == "integer" then
      if v < 1 or v > 100 then error("sample: atomic number " .. v .. " out of range 1..100", 3) end
      out[i] = v
    elseif type(v) == "string" then
      local ok, crystal = pcall(require, "repro.crystal")
      local z = ok and crystal.atomic_number and select(2, pcall(crystal.atomic_number, v))
      if math.type(z) ~= "integer" then error("sample: unknown element '" .. v .. "'", 3) end
      out[i] = z
    else
      error("sample: composition entry " .. i .. " must be an atomic number or a symbol, got " .. type(v), 3)
    end
  end
  return out
end
CD.composition_numbers = composition_numbers

local function make_structure(lattice, numbers, frac)
  local ok, crystal = pcall(require, "repro.crystal")
  if ok and type(crystal) == "table" and crystal.Structure then
    local ok2, s = pcall(crystal.Structure, {lattice = lattice, species = numbers, frac = frac})
    if ok2 then return s end
  end
  -- no repro.crystal, or a degenerate sample (NaN or singular lattice): a
  -- plain table, which the metrics count as invalid
  return {lattice = lattice, numbers = numbers, frac = frac}
end

local function sample_opts(o, who)
  o = o or {}
  for k in pairs(o) do
    if k ~= "n" and k ~= "steps" and k ~= "generator" and k ~= "step_lr" and k ~= "gamma" then
      error(who .. ":sample: unknown option '" .. tostring(k) .. "'", 3)
    end
  end
  local n = o.n or 1
  if math.type(n) ~= "integer" or n < 1 then error(who .. ":sample: n must be a positive integer, got " .. tostring(n), 3) end
  return o, n
end

-- Draw a standard normal tensor with an optional generator.
local function randn(shape, g) return T.randn(shape, g and {generator = g} or nil) end
local function rand(shape, g) return T.rand(shape, g and {generator = g} or nil) end

---------------------------------------------------------------- DiffCSP

local DiffCSP = nn.class("DiffCSP")

-- nn.DiffCSP{dim = 64, layers = 3, freqs = 8, time_dim = 32, T = 250,
--            sigma_begin = 0.005, sigma_end = 0.5, max_z = 100, step_lr = 5e-7, seed =, generator =}
function CD.DiffCSP(o)
  o = o or {}
  check_opts(o, {dim = 1, layers = 1, freqs = 1, time_dim = 1, T = 1, sigma_begin = 1, sigma_end = 1, max_z = 1,
                 step_lr = 1, seed = 1, generator = 1}, "nn.DiffCSP")
  local self = nn.Module.init(setmetatable({}, DiffCSP))
  local F = o.dim or 64
  self.dim, self.nlayers, self.freqs = F, o.layers or 3, o.freqs or 8
  self.time_dim, self.T, self.max_z = o.time_dim or 32, o.T or 250, o.max_z or 100
  self.step_lr = o.step_lr or 5e-7
  self.beta = D.cosine_betas(self.T)
  self.sigma = D.wrapped_sigmas(self.T, o.sigma_begin or 0.005, o.sigma_end or 0.5)
  local g = o.generator or (o.seed and T.Generator(o.seed)) or nil
  self:child("embed", nn.Embedding{self.max_z, F, std = 1, generator = g})
  self:child("inp", linear(F + self.time_dim, F, g))
  local ef = 6 * self.freqs
  self.layers = {}
  for l = 1, self.nlayers do
    local L = {}
    L.ei = self:child("l" .. l .. "_ei", linear(F, F, g))          -- h_i part of the first edge layer
    L.ej = self:child("l" .. l .. "_ej", linear(F, F, g, false))   -- h_j part
    L.el = self:child("l" .. l .. "_el", linear(9, F, g, false))   -- L L^T part
    L.ef = self:child("l" .. l .. "_ef", linear(ef, F, g, false))  -- Fourier features of f_j - f_i
    L.e2 = self:child("l" .. l .. "_e2", linear(F, F, g))
    L.n1 = self:child("l" .. l .. "_n1", linear(2 * F, F, g))
    L.n2 = self:child("l" .. l .. "_n2", linear(F, F, g))
    self.layers[l] = L
  end
  self:child("coord_out", linear(F, 3, g, false))
  self:child("lattice_out", linear(F, 9, g, false))
  return self
end

function DiffCSP:describe()
  return string.format("(dim %d, %d layers, %d frequencies, T = %d)", self.dim, self.nlayers, self.freqs, self.T)
end

-- Denoiser: t (B) f32 step numbers, z (B, N) i32, frac (B, N, 3), L (B, 3, 3)
-- -> eps_L (B, 3, 3), score_x (B, N, 3).
function DiffCSP:forward(t, z, frac, L)
  local B, N, F = frac:size(1), frac:size(2), self.dim
  -- Every intermediate is a <close> variable: its buffer goes back to the
  -- allocator at once (the autograd tape keeps what backward needs), so the
  -- next op reuses memory that is still in cache instead of a fresh buffer
  -- from the megabytes a young collection would otherwise wait for.
  local temb <close> = D.time_features(t, self.time_dim)
  local e <close> = self.embed(z)
  local tx <close> = temb:view(B, 1, -1):expand(B, N, self.time_dim)
  local ht <close> = T.cat({e, tx}, 3)
  local h = lin(self.inp, ht)
  -- pair features: sin/cos of 2 pi k (f_j - f_i) (inputs only, no gradient)
  local LLt <close> = L:matmul(L:transpose(2, 3))
  local ip <close> = LLt:view(B, 9) * (1 / 16)
  local fr <close> = frac:detach()
  local fd <close> = T.frac_fourier(fr, self.freqs)
  for _, Ly in ipairs(self.layers) do
    local hn <close> = D.layer_norm(h)
    -- silu(ei(h_i) + ej(h_j) + el(L L^T) + ef(fd_ij)), then e2, silu and
    -- the mean over j: T.pair_silu, e2's product and T.silu_mean in one call
    local a <close> = lin(Ly.ei, hn)
    local c <close> = lin(Ly.ej, hn)
    local d <close> = lin(Ly.el, ip)
    local p <close> = lin(Ly.ef, fd)
    local agg <close> = T.pair_mlp_mean(a, c, d, p, Ly.e2.weight, Ly.e2.bias)
    local cat <close> = T.cat({hn, agg}, 3)
    local u1 <close> = lin(Ly.n1, cat)
    local s1 <close> = u1:silu()
    local u2 <close> = lin(Ly.n2, s1)
    local s2 <close> = u2:silu()
    local h0 <close> = h
    h = h0 + s2
  end
  local hl <close> = h
  h = D.layer_norm(hl)
  local sx = lin(self.coord_out, h)
  local hm <close> = h:mean(2)
  local lo <close> = lin(self.lattice_out, hm)
  local lv <close> = lo:view(B, 3, 3)
  local el = lv:matmul(L)
  return el, sx
end
DiffCSP.__call = DiffCSP.forward

-- Training loss on a CD.batch: mse(eps_L) + mse(score_x), t uniform in 1..T.
function DiffCSP:loss(b, g)
  local B, N = b.B, b.N
  local ts = (rand({B}, g) * self.T):to("i32"):totable()
  local c0, c1, sig, nrm = {}, {}, {}, {}
  for i = 1, B do
    local t = ts[i] + 1
    ts[i] = t
    c0[i], c1[i] = math.sqrt(self.beta.abar[t]), math.sqrt(1 - self.beta.abar[t])
    sig[i], nrm[i] = self.sigma.sigmas[t], self.sigma.norms[t]
  end
  local epsL, epsX = randn({B, 3, 3}, g), randn({B, N, 3}, g)
  local Lt = b.lattice * T.tensor(c0):view(B, 1, 1) + epsL * T.tensor(c1):view(B, 1, 1)
  local disp = epsX * T.tensor(sig):view(B, 1, 1)
  local xt = D.frac(b.frac + disp)
  local target = D.wrapped_score(disp, sig)
  local inv = {}
  for i = 1, B do inv[i] = 1 / math.sqrt(nrm[i]) end
  target = target * T.tensor(inv):view(B, 1, 1)
  local pl, px = self:forward(T.tensor(ts):to("f32"), b.z, xt, Lt)
  local dl, dx = pl - epsL, px - target
  local ll, lx = (dl * dl):mean(), (dx * dx):mean()
  return ll + lx, ll:item(), lx:item()
end

-- n structures for one composition by predictor-corrector sampling.
function DiffCSP:sample(comp, opts)
  local o, n = sample_opts(opts, "DiffCSP")
  local zs = composition_numbers(comp)
  local N, g = #zs, o.generator
  local step_lr = o.step_lr or self.step_lr
  local zrow = {}
  for i = 1, n do zrow[i] = zs end
  local z = T.tensor(zrow, {dtype = "i32"})
  local res = T.no_grad(function()
    local L, x = randn({n, 3, 3}, g), rand({n, N, 3}, g)
    local sb = self.sigma.sigmas[1]
    for t = self.T, 1, -1 do
      local tt = T.full({n}, t)
      local sx, sn = self.sigma.sigmas[t], self.sigma.norms[t]
      local a, ab, bs = self.beta.alphas[t], self.beta.abar[t], self.beta.post_std[t]
      -- corrector (Langevin step on the coordinates)
      local step = step_lr * (sx / sb) ^ 2
      local _, px = self:forward(tt, z, x, L)
      local noise = t > 1 and randn({n, N, 3}, g) or T.zeros(n, N, 3)
      x = D.frac(x - px * (step * math.sqrt(sn)) + noise * math.sqrt(2 * step))
      -- predictor (reverse step of both)
      local pl
      pl, px = self:forward(tt, z, x, L)
      local sprev = self.sigma.sigmas[t - 1]
      local step2 = sx * sx - sprev * sprev
      local std = math.sqrt(sprev * sprev * step2 / (sx * sx))
      local nx = t > 1 and randn({n, N, 3}, g) or T.zeros(n, N, 3)
      local nl = t > 1 and randn({n, 3, 3}, g) or T.zeros(n, 3, 3)
      x = D.frac(x - px * (step2 * math.sqrt(sn)) + nx * std)
      L = (L - pl * ((1 - a) / math.sqrt(1 - ab))) * (1 / math.sqrt(a)) + nl * bs
    end
    return {L:totable(), x:totable()}
  end)
  local out = {}
  for i = 1, n do out[i] = make_structure(res[1][i], zs, res[2][i]) end
  return out
end

---------------------------------------------------------------- Compact (GenMS)

local Compact = nn.class("CompactDiffusion")

-- Lattice token normalisation: log lengths and (angle - 90) / 30, then
-- standardised by the statistics given (fit them on the training set with
-- CD.lattice_stats).
function CD.lattice_stats(structs)
  local sum, sq, n = {0, 0, 0}, {0, 0, 0}, 0
  for _, s0 in ipairs(structs) do
    local a, b, c = params_of(plain(s0).lattice)
    for k, v in ipairs{math.log(a), math.log(b), math.log(c)} do sum[k] = sum[k] + v; sq[k] = sq[k] + v * v end
    n = n + 1
  end
  local mean, std = {}, {}
  for k = 1, 3 do
    mean[k] = sum[k] / n
    std[k] = math.sqrt(math.max(sq[k] / n - mean[k] ^ 2, 0)) + 0.05
  end
  return {mean = mean, std = std}
end

-- nn.CompactDiffusion{dim = 64, blocks = 4, heads = 4, time_dim = 32, max_z = 100,
--                     lattice_stats = CD.lattice_stats(train), steps = 256, gamma = 0.1, seed =}
function CD.CompactDiffusion(o)
  o = o or {}
  check_opts(o, {dim = 1, blocks = 1, heads = 1, time_dim = 1, max_z = 1, lattice_stats = 1, steps = 1, gamma = 1,
                 seed = 1, generator = 1}, "nn.CompactDiffusion")
  local self = nn.Module.init(setmetatable({}, Compact))
  local F = o.dim or 64
  self.dim, self.nblocks, self.heads = F, o.blocks or 4, o.heads or 4
  if F % self.heads ~= 0 then error("nn.CompactDiffusion: dim " .. F .. " is not a multiple of heads " .. self.heads, 2) end
  self.time_dim, self.max_z = o.time_dim or 32, o.max_z or 100
  self.steps, self.gamma = o.steps or 256, o.gamma or 0.1
  self.lstats = o.lattice_stats or {mean = {1.4, 1.4, 1.4}, std = {0.3, 0.3, 0.3}}
  local g = o.generator or (o.seed and T.Generator(o.seed)) or nil
  self:child("atom_in", linear(4, F, g))
  self:child("lat_in", linear(6, F, g))
  self:child("comp", nn.Embedding{self.max_z, F, std = 0.5, generator = g})
  self:child("t1", linear(self.time_dim, F, g))
  self:child("t2", linear(F, F, g))
  self.blocks = {}
  for l = 1, self.nblocks do
    local Bk = {}
    Bk.m1 = self:child("b" .. l .. "_m1", linear(F, 2 * F, g))
    Bk.m2 = self:child("b" .. l .. "_m2", linear(2 * F, F, g))
    Bk.qkv = self:child("b" .. l .. "_qkv", linear(F, 3 * F, g))
    Bk.o = self:child("b" .. l .. "_o", linear(F, F, g))
    self.blocks[l] = Bk
  end
  self:child("atom_out", linear(F, 4, g))
  self:child("lat_out", linear(F, 6, g))
  return self
end

function Compact:describe()
  return string.format("(dim %d, %d blocks, %d heads)", self.dim, self.nblocks, self.heads)
end

local function znorm(zv, max_z) return 2 * (zv - 1) / (max_z - 1) - 1 end

-- Clean representation of a CD.batch: atoms (B, N, 4), lattice token (B, 6).
function Compact:encode(b)
  local B, N = b.B, b.N
  local zf = b.z:to("f32")
  local atoms = T.cat({b.frac * 2 - 1, znorm(zf, self.max_z):view(B, N, 1)}, 3)
  local p = b.params:totable()
  local tok = {}
  for i = 1, B do
    local q = p[i]
    tok[i] = {}
    for k = 1, 3 do tok[i][k] = (math.log(q[k]) - self.lstats.mean[k]) / self.lstats.std[k] end
    for k = 4, 6 do tok[i][k] = (q[k] - 90) / 30 end
  end
  return atoms, T.tensor(tok)
end

-- eps prediction: atoms (B, N, 4), lat (B, 6), time (B) = 1000 u for u in [0, 1],
-- z (B, N) i32 composition.
function Compact:forward(atoms, lat, time, z)
  local B, N, F, H = atoms:size(1), atoms:size(2), self.dim, self.heads
  local dh = F // H
  local temb = D.time_features(time, self.time_dim)
  local cond = lin(self.t2, lin(self.t1, temb):silu()) + self.comp(z):mean(2)    -- (B, F)
  local x = T.cat({lin(self.lat_in, lat):view(B, 1, F), lin(self.atom_in, atoms)}, 2)  -- (B, S, F)
  local S = N + 1
  cond = cond:view(B, 1, F)
  for _, Bk in ipairs(self.blocks) do
    x = x + lin(Bk.m2, lin(Bk.m1, D.layer_norm(x) + cond):silu())
    local qkv = lin(Bk.qkv, D.layer_norm(x) + cond):view(B, S, 3, H, dh)
    local q = qkv:select(3, 1):transpose(2, 3)                               -- (B, H, S, dh)
    local k = qkv:select(3, 2):transpose(2, 3)
    local v = qkv:select(3, 3):transpose(2, 3)
    local att = (q:matmul(k:transpose(3, 4)) * (1 / math.sqrt(dh))):softmax(4)
    local y = att:matmul(v):transpose(2, 3):reshape(B, S, F)
    x = x + lin(Bk.o, y)
  end
  x = D.layer_norm(x)
  return lin(self.atom_out, x:narrow(2, 2, N)), lin(self.lat_out, x:select(2, 1))
end
Compact.__call = Compact.forward

function Compact:loss(b, g)
  local B, N = b.B, b.N
  local atoms, lat = self:encode(b)
  local u = rand({B}, g):totable()
  local al, sg, ls = {}, {}, {}
  for i = 1, B do ls[i], al[i], sg[i] = D.logsnr_cosine(u[i]) end
  u = T.tensor(u)
  local ea, el = randn({B, N, 4}, g), randn({B, 6}, g)
  local A, S = T.tensor(al), T.tensor(sg)
  local za = atoms * A:view(B, 1, 1) + ea * S:view(B, 1, 1)
  local zl = lat * A:view(B, 1) + el * S:view(B, 1)
  local pa, pl = self:forward(za, zl, u * 1000, b.z)
  local da, dl = pa - ea, pl - el
  local la, ll = (da * da):mean(), (dl * dl):mean()
  return la + ll, ll:item(), la:item()
end

function Compact:sample(comp, opts)
  local o, n = sample_opts(opts, "CompactDiffusion")
  local zs = composition_numbers(comp)
  local N, g = #zs, o.generator
  local steps, gamma = o.steps or self.steps, o.gamma or self.gamma
  local zrow = {}
  for i = 1, n do zrow[i] = zs end
  local z = T.tensor(zrow, {dtype = "i32"})
  local res = T.no_grad(function()
    local xa, xl = randn({n, N, 4}, g), randn({n, 6}, g)
    for i = steps, 1, -1 do
      local lt, at, st = D.logsnr_cosine(i / steps)
      local ls, as, ss = D.logsnr_cosine((i - 1) / steps)
      local pa, pl = self:forward(xa, xl, T.full({n}, 1000 * i / steps), z)
      -- x0 estimate, clipped to the data range of each channel
      local x0a = ((xa - pa * st) * (1 / at)):clamp(-1, 1)
      local x0l = ((xl - pl * st) * (1 / at)):clamp(-6, 6)
      if i == 1 then xa, xl = x0a, x0l; break end
      -- q(x_s | x_t, x0): mean and the two candidate variances
      local ats = at / as
      local var_ts = st * st - ats * ats * ss * ss             -- forward variance from s to t
      local post = var_ts * ss * ss / (st * st)
      local c_x0, c_xt = as * var_ts / (st * st), ats * ss * ss / (st * st)
      local var = math.exp(gamma * math.log(var_ts) + (1 - gamma) * math.log(math.max(post, 1e-20)))
      xa = x0a * c_x0 + xa * c_xt + randn({n, N, 4}, g) * math.sqrt(var)
      xl = x0l * c_x0 + xl * c_xt + randn({n, 6}, g) * math.sqrt(var)
    end
    return {xa:totable(), xl:totable()}
  end)
  -- decode: coordinates, lattice, species by rank of the Z channel
  local sorted = {}
  for i, v in ipairs(zs) do sorted[i] = v end
  table.sort(sorted)
  local out = {}
  for s = 1, n do
    local a, l = res[1][s], res[2][s]
    local frac, order = {}, {}
    for i = 1, N do
      frac[i] = {}
      for c = 1, 3 do local f = ((a[i][c] + 1) / 2) % 1; frac[i][c] = f < 1 and f or 0 end
      order[i] = i
    end
    table.sort(order, function(p, q) if a[p][4] ~= a[q][4] then return a[p][4] < a[q][4] end return p < q end)
    local numbers = {}
    for r, i in ipairs(order) do numbers[i] = sorted[r] end
    local len = {}
    for k = 1, 3 do len[k] = math.exp(l[k] * self.lstats.std[k] + self.lstats.mean[k]) end
    local ang = {}
    for k = 4, 6 do ang[k - 3] = math.max(30, math.min(150, 90 + 30 * l[k])) end
    out[s] = make_structure(lattice_from_params(len[1], len[2], len[3], ang[1], ang[2], ang[3]), numbers, frac)
  end
  return out
end

nn.DiffCSP = CD.DiffCSP
nn.CompactDiffusion = CD.CompactDiffusion
return CD
