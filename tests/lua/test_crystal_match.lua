-- tests/lua/test_crystal_match.lua: crystal.match / crystal.fit against
-- pymatgen's StructureMatcher (fixtures made once by
-- tools/make_match_fixtures.py with pymatgen 2022.11.7), cases whose rms is
-- known by hand, and the metrics built on matching.
local A = dofile(arg[0]:match("(.*/)") .. "assert.lua")
local repro = require "repro"
local crystal = repro.crystal

local here = arg[0]:match("(.*/)")
local F = dofile(here .. "fixtures/match_pymatgen.lua")

local function mk(x)
  local l = x.lattice
  return crystal.Structure{lattice = {{l[1], l[2], l[3]}, {l[4], l[5], l[6]}, {l[7], l[8], l[9]}},
                           species = x.species, frac = x.frac}
end

local function perovskite(a, sp)
  return crystal.Structure{lattice = {{a, 0, 0}, {0, a, 0}, {0, 0, a}}, species = sp or {"Ba", "Ti", "O", "O", "O"},
                           frac = {{0, 0, 0}, {0.5, 0.5, 0.5}, {0.5, 0.5, 0}, {0.5, 0, 0.5}, {0, 0.5, 0.5}}}
end

A.test("agreement with pymatgen on perturbed, permuted, swapped, random and supercell pairs", function()
  local kinds = {}
  for i, c in ipairs(F) do
    local a, b = mk(c.a), mk(c.b)
    local what = string.format("fixture %d (%s, stol %g)", i, c.kind, c.opts.stol)
    local m, rms, mx = crystal.match(a, b, c.opts)
    A.eq(c.rms ~= nil, m, what .. ": matched")
    if m then
      A.near(c.rms, rms, 1e-6, what .. ": rms")
      A.near(c.max, mx, 1e-6, what .. ": max distance")
    end
    A.eq(c.fit, crystal.fit(a, b, c.opts), what .. ": fit")
    local o = {ltol = c.opts.ltol, stol = c.opts.stol, angle_tol = c.opts.angle_tol, anonymous = true}
    local ma, rmsa = crystal.match(a, b, o)
    A.eq(c.rms_anonymous ~= nil, ma, what .. ": anonymous matched")
    if ma then A.near(c.rms_anonymous, rmsa, 1e-6, what .. ": anonymous rms") end
    A.eq(c.fit_anonymous, crystal.fit(a, b, o), what .. ": fit_anonymous")
    local k = c.kind:match("^(%S+ %S+)")
    kinds[k] = kinds[k] or {0, 0}
    kinds[k][1] = kinds[k][1] + 1
    if m then kinds[k][2] = kinds[k][2] + 1 end
  end
  A.truthy(#F >= 140, "fixture count")
  -- the fixtures hold both matches and non-matches
  local yes, no = 0, 0
  for _, v in pairs(kinds) do yes = yes + v[2]; no = no + v[1] - v[2] end
  A.truthy(yes > 40 and no > 20, "matches and non-matches")
end)

A.test("hand-computed rms: one atom displaced, translation and permutation removed", function()
  local a = 4.0
  local s = perovskite(a)
  local n, V = 5, a ^ 3
  local norm = (V / n) ^ (1 / 3)
  for _, d in ipairs{0.02, 0.1, 0.3} do
    local dx = d / a
    local t = {0.137, 0.421, 0.733} -- a translation of everything
    local frac = {{0 + dx, 0, 0}, {0.5, 0.5, 0.5}, {0.5, 0.5, 0}, {0.5, 0, 0.5}, {0, 0.5, 0.5}}
    for _, f in ipairs(frac) do for k = 1, 3 do f[k] = f[k] + t[k] end end
    -- sites permuted: O, Ti, O, Ba, O
    local perm = {3, 2, 5, 1, 4}
    local sp0 = {"Ba", "Ti", "O", "O", "O"}
    local sp, fr = {}, {}
    for i, p in ipairs(perm) do sp[i] = sp0[p]; fr[i] = frac[p] end
    local b = crystal.Structure{lattice = {{a, 0, 0}, {0, a, 0}, {0, 0, a}}, species = sp, frac = fr}
    local m, rms, mx = crystal.match(s, b, {stol = 0.5})
    A.truthy(m, "matched at d = " .. d)
    -- displacements after removing the mean: d (1 - 1/n) once and d / n four times
    A.near(d * math.sqrt(n - 1) / n / norm, rms, 1e-9, "rms at d = " .. d)
    A.near(d * (1 - 1 / n) / norm, mx, 1e-9, "max at d = " .. d)
  end
  -- rotated and sheared description of the same crystal: rms 0
  local c = crystal.Structure{lattice = {{0, a, 0}, {a, a, 0}, {0, 0, -a}}, species = {"Ba", "Ti", "O", "O", "O"},
                              frac = {{0, 0, 0}, {0, 0.5, -0.5}, {0, 0.5, 0}, {-0.5, 0.5, -0.5}, {0.5, 0, -0.5}}}
  local m, rms = crystal.match(s, c)
  A.truthy(m)
  A.near(0, rms, 1e-9)
  -- a uniformly scaled copy matches exactly (volumes are scaled first) ...
  local m2, rms2 = crystal.match(s, perovskite(4.4))
  A.truthy(m2); A.near(0, rms2, 1e-9)
  -- ... unless scaling is off and the lengths differ by more than ltol
  A.truthy(not crystal.match(s, perovskite(5.2), {scale = false}))
  -- a supercell matches its primitive cell
  local sc = crystal.Structure{lattice = {{2 * a, 0, 0}, {0, a, 0}, {0, 0, a}},
                               species = {"Ba", "Ba", "Ti", "Ti", "O", "O", "O", "O", "O", "O"},
                               frac = {{0, 0, 0}, {0.5, 0, 0}, {0.25, 0.5, 0.5}, {0.75, 0.5, 0.5}, {0.25, 0.5, 0},
                                       {0.75, 0.5, 0}, {0.25, 0, 0.5}, {0.75, 0, 0.5}, {0, 0.5, 0.5}, {0.5, 0.5, 0.5}}}
  local m3, rms3 = crystal.match(s, sc)
  A.truthy(m3); A.near(0, rms3, 1e-9)
  A.truthy(not crystal.match(s, sc, {primitive_cell = false}), "different sizes without the primitive reduction")
end)

A.test("species and anonymous matching: A/B swap, different formulae", function()
  local s = perovskite(4.0)
  local swapped = perovskite(4.0, {"Ti", "Ba", "O", "O", "O"})
  -- swapping the A and B sites is the same structure type with the species exchanged
  A.truthy(not crystal.match(s, swapped), "species-aware: no match")
  local m, rms = crystal.match(s, swapped, {anonymous = true})
  A.truthy(m, "anonymous: match"); A.near(0, rms, 1e-9)
  local other = perovskite(4.0, {"Sr", "Zr", "O", "O", "O"})
  A.truthy(not crystal.match(s, other))
  A.truthy(crystal.fit(s, other, {anonymous = true}))
  local nacl = crystal.Structure{lattice = {{0, 2.8, 2.8}, {2.8, 0, 2.8}, {2.8, 2.8, 0}}, species = {"Na", "Cl"},
                                 frac = {{0, 0, 0}, {0.5, 0.5, 0.5}}}
  A.truthy(not crystal.match(s, nacl, {anonymous = true}), "different atom counts")
end)

A.test("match rate, uniqueness, novelty", function()
  local s = perovskite(4.0)
  local near = crystal.Structure{lattice = {{4.1, 0, 0}, {0, 4.0, 0}, {0, 0, 3.9}}, species = {"Ba", "Ti", "O", "O", "O"},
                                 frac = {{0.01, 0, 0}, {0.5, 0.5, 0.5}, {0.5, 0.5, 0}, {0.5, 0, 0.5}, {0, 0.5, 0.5}}}
  local swapped = perovskite(4.0, {"Ti", "Ba", "O", "O", "O"})
  local _, want = crystal.match(near, s, {ltol = 0.3, stol = 0.5, angle_tol = 10})
  -- k = 1: one of two predictions matches its reference
  local rate, mean, list = crystal.match_rate({near, swapped}, {s, s})
  A.near(0.5, rate, 1e-12); A.near(want, mean, 1e-12)
  A.eq(false, list[2])
  -- k = 2: the best of the samples counts
  rate = crystal.match_rate({{swapped, near}, {swapped}}, {s, s})
  A.near(0.5, rate, 1e-12)
  -- invalid predictions do not count (Ba and Ti 0.04 A apart)
  local bad = crystal.Structure{lattice = {{4, 0, 0}, {0, 4, 0}, {0, 0, 4}}, species = {"Ba", "Ti", "O", "O", "O"},
                                frac = {{0, 0, 0}, {0.01, 0, 0}, {0.5, 0.5, 0}, {0.5, 0, 0.5}, {0, 0.5, 0.5}}}
  A.eq(0, (crystal.match_rate({bad}, {s}, {stol = 5})))
  A.eq(0, (crystal.match_rate({false}, {s})), "a failed generation")
  A.raises(function() crystal.match_rate({s}, {s, s}) end, "1 generated entries for 2 references")
  local u, idx = crystal.uniqueness({s, near, swapped, perovskite(4.2)})
  A.near(0.5, u, 1e-12) -- near and the scaled copy duplicate s
  A.eq(1, idx[1]); A.eq(3, idx[2])
  local nov, nidx = crystal.novelty({near, swapped}, {s})
  A.near(0.5, nov, 1e-12); A.eq(2, nidx[1])
  A.near(0, (crystal.novelty({near, swapped}, {s}, {anonymous = true})), 1e-12)
end)

A.done("test_crystal_match")
