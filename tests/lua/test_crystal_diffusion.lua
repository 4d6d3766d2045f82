-- repro.diffusion and repro.crystal_diffusion: schedules, the wrapped normal
-- score, gradients of both denoisers, their symmetries (atom order,
-- translation), seeded sampling, bad input, and training through
-- repro.materials_train resumed from a checkpoint bit for bit.
local A = dofile(arg[0]:match("(.*/)") .. "assert.lua")
local repro = require "repro"
local T, nn, D, CD = repro.tensor, repro.nn, repro.diffusion, repro.crystal_diffusion
local MT = require "repro.materials_train"

local cubic = CD.lattice_from_params(4, 4, 4, 90, 90, 90)
local perov = {lattice = cubic, numbers = {38, 22, 8, 8, 8},
               frac = {{0, 0, 0}, {0.5, 0.5, 0.5}, {0.5, 0.5, 0}, {0.5, 0, 0.5}, {0, 0.5, 0.5}}}
local perov2 = {lattice = CD.lattice_from_params(3.9, 3.9, 3.9, 90, 90, 90), numbers = {56, 40, 8, 8, 8},
                frac = {{0.01, 0, 0.02}, {0.5, 0.49, 0.5}, {0.5, 0.5, 0}, {0.5, 0, 0.5}, {0, 0.5, 0.5}}}

A.test("schedules and the wrapped normal", function()
  local s = D.cosine_betas(50)
  for t = 1, 50 do A.truthy(s.abar[t] < s.abar[t - 1], "abar decreasing") end
  A.truthy(s.abar[50] < 1e-3, "abar ends near 0")
  local w = D.wrapped_sigmas(10, 0.005, 0.5)
  A.near(0.005, w.sigmas[1], 1e-12); A.near(0.5, w.sigmas[10], 1e-12)
  A.near(1 / 0.005 ^ 2, w.norms[1], 1e-6 / 0.005 ^ 2 * 1e3, "sigma_norm = 1/sigma^2 for small sigma")
  -- the score is minus d/dd log p (DiffCSP's sign), checked by finite differences
  local function logp(d, sg) local p = 0 for k = -5, 5 do p = p + math.exp(-(d + k) ^ 2 / (2 * sg * sg)) end return math.log(p) end
  for _, c in ipairs{{0.1, 0.3}, {0.45, 0.5}, {-0.2, 0.1}} do
    local h = 1e-5
    local num = -(logp(c[1] + h, c[2]) - logp(c[1] - h, c[2])) / (2 * h)
    A.near(num, D.wrapped_score1(c[1], c[2], 5), 1e-4 * math.max(1, math.abs(num)), "score")
  end
  A.allclose({0.75, 0.5, 0.75, 0}, D.frac(T.tensor{-1.25, 0.5, 3.75, -2}):totable(), 1e-6, "frac")
  local l0, a0 = D.logsnr_cosine(0)
  local l1, _, s1 = D.logsnr_cosine(1)
  A.near(20, l0, 1e-9); A.near(-20, l1, 1e-9); A.near(1, a0, 1e-6); A.near(1, s1, 1e-6)
end)

A.test("gradients of both denoisers", function()
  local b = CD.batch{perov, perov2}
  local m = nn.DiffCSP{dim = 4, layers = 1, freqs = 2, time_dim = 4, T = 10, max_z = 60, seed = 1}
  local t = T.tensor{3, 7}
  local ps = m:parameters()
  for _, i in ipairs{1, 2, 5, #ps} do
    T.gradcheck(function() local el, sx = m(t, b.z, b.frac, b.lattice) return T.cat({el:reshape(-1), sx:reshape(-1)}, 1) end,
      {ps[i]}, {eps = 1e-2, atol = 2e-2, rtol = 2e-2})
  end
  T.gradcheck(function(L) local el, sx = m(t, b.z, b.frac, L) return T.cat({el:reshape(-1), sx:reshape(-1)}, 1) end,
    {b.lattice:clone():requires_grad_()}, {eps = 1e-2, atol = 2e-2, rtol = 2e-2})
  local c = nn.CompactDiffusion{dim = 4, blocks = 1, heads = 2, time_dim = 4, max_z = 60, seed = 2}
  local atoms, lat = c:encode(b)
  local cps = c:parameters()
  for _, i in ipairs{1, 3, 9, #cps} do
    T.gradcheck(function() local pa, pl = c(atoms, lat, t, b.z) return T.cat({pa:reshape(-1), pl:reshape(-1)}, 1) end,
      {cps[i]}, {eps = 1e-2, atol = 2e-2, rtol = 2e-2})
  end
  T.gradcheck(function(x) local pa, pl = c(x, lat, t, b.z) return T.cat({pa:reshape(-1), pl:reshape(-1)}, 1) end,
    {atoms:clone():requires_grad_()}, {eps = 2e-3, atol = 2e-2, rtol = 2e-2})
end)

A.test("equivariant to atom order, invariant to translation", function()
  local perm = {3, 1, 5, 2, 4}
  local p = {lattice = perov2.lattice, numbers = {}, frac = {}}
  for i, j in ipairs(perm) do p.numbers[i], p.frac[i] = perov2.numbers[j], perov2.frac[j] end
  local shifted = {lattice = perov2.lattice, numbers = perov2.numbers, frac = {}}
  for i, f in ipairs(perov2.frac) do shifted.frac[i] = {f[1] + 0.3, f[2] - 0.15, f[3] + 0.71} end
  local m = nn.DiffCSP{dim = 8, layers = 2, freqs = 3, T = 10, max_z = 60, seed = 3}
  local t = T.tensor{4}
  local function run(s) local b = CD.batch{s} local el, sx = m(t, b.z, b.frac, b.lattice) return el:totable(), sx:totable()[1] end
  local el0, sx0 = run(perov2)
  local el1, sx1 = run(p)
  local el2, sx2 = run(shifted)
  A.allclose(el0, el1, 1e-4, "lattice output, permuted"); A.allclose(el0, el2, 1e-4, "lattice output, translated")
  for i, j in ipairs(perm) do A.allclose(sx0[j], sx1[i], 1e-4, "coordinate output, permuted") end
  A.allclose(sx0, sx2, 1e-4, "coordinate output, translated")
  local c = nn.CompactDiffusion{dim = 8, blocks = 2, heads = 2, max_z = 60, seed = 4}
  local function runc(s) local b = CD.batch{s} local a, l = c:encode(b) local pa, pl = c(a, l, t, b.z) return pa:totable()[1], pl:totable() end
  local a0, l0 = runc(perov2)
  local a1, l1 = runc(p)
  A.allclose(l0, l1, 1e-4, "compact lattice output, permuted")
  for i, j in ipairs(perm) do A.allclose(a0[j], a1[i], 1e-4, "compact atom output, permuted") end
end)

A.test("seeded sampling of structures of the composition", function()
  local m = nn.DiffCSP{dim = 8, layers = 1, freqs = 2, T = 5, seed = 5}
  local c = nn.CompactDiffusion{dim = 8, blocks = 1, heads = 2, seed = 6, steps = 6}
  for _, model in ipairs{m, c} do
    local s1 = model:sample({38, 22, 8, 8, 8}, {n = 3, generator = T.Generator(9)})
    local s2 = model:sample({38, 22, 8, 8, 8}, {n = 3, generator = T.Generator(9)})
    A.eq(3, #s1, "n structures")
    for i = 1, 3 do
      local a, b = CD.plain(s1[i]), CD.plain(s2[i])
      A.allclose(a.frac, b.frac, 0, "same seed, same coordinates")
      A.allclose(a.lattice, b.lattice, 0, "same seed, same lattice")
      local counts = {}
      for _, z in ipairs(a.numbers) do counts[z] = (counts[z] or 0) + 1 end
      A.eq(1, counts[38]); A.eq(1, counts[22]); A.eq(3, counts[8])
      for _, f in ipairs(a.frac) do for k = 1, 3 do A.truthy(f[k] >= 0 and f[k] < 1, "wrapped into the cell") end end
    end
  end
end)

A.test("bad input", function()
  local m = nn.DiffCSP{dim = 8, layers = 1, freqs = 2, T = 5, seed = 5}
  A.raises(function() m:sample({}, {n = 1}) end, "composition must be a non-empty list")
  A.raises(function() m:sample({38, 200}, {n = 1}) end, "atomic number 200 out of range")
  A.raises(function() m:sample({38}, {n = 0}) end, "n must be a positive integer")
  A.raises(function() m:sample({38}, {k = 2}) end, "unknown option 'k'")
  A.raises(function() nn.DiffCSP{layer = 2} end, "unknown option 'layer'")
  A.raises(function() nn.CompactDiffusion{dim = 10, heads = 4} end, "not a multiple of heads")
  A.raises(function() nn.CompactDiffusion{blocks = 1.5} end, "blocks must be a positive integer")
  A.raises(function() CD.batch{perov, {lattice = cubic, numbers = {6}, frac = {{0, 0, 0}}}} end, "same number of atoms")
  A.raises(function() D.EMA(m, 1) end, "decay must be in [0, 1)")
end)

A.test("training resumes bit for bit, with the EMA", function()
  local dir = os.tmpname()
  os.remove(dir)
  local items = {perov, perov2, perov, perov2}
  local function fit(steps, resume)
    repro.manual_seed(1)
    local m = nn.DiffCSP{dim = 8, layers = 1, freqs = 2, T = 10, seed = 7}
    local r = MT.fit{model = m, loss = function(model, its) return (model:loss(CD.batch(its))) end,
      data = MT.Sampler{items = items, seed = 3}, steps = steps, batch = 2, lr = 1e-2, ema = 0.9, min_lr_frac = 1,
      checkpoint = resume ~= nil and dir or nil, checkpoint_every = 3, resume = resume, quiet = true}
    local out = {}
    for _, p in ipairs(m:parameters()) do out[#out + 1] = p:reshape(-1):totable() end
    for _, p in ipairs(r.ema:state()) do out[#out + 1] = p:reshape(-1):totable() end
    return out
  end
  local straight = fit(6)
  fit(3, false)
  local resumed = fit(6, true)
  A.allclose(straight, resumed, 0, "6 steps straight against 3 + 3 resumed")
  os.execute("rm -rf '" .. dir .. "'")
end)

A.done("crystal_diffusion")
