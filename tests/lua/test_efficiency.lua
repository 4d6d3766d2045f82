-- tests/lua/test_efficiency.lua: steps-to-target by interpolation and by the
-- power-law fit, on synthetic curves whose answers are known in closed form.
local A = dofile(arg[0]:match("(.*/)") .. "assert.lua")
local E = require "repro.efficiency"

-- L(N) = a + b·N^-β, sampled every 10 steps.
local function curve(a, b, beta, nmax, every)
  local xs, ys = {}, {}
  for n = every, nmax, every do xs[#xs + 1], ys[#ys + 1] = n, a + b * n ^ (-beta) end
  return xs, ys
end

A.test("crossing: linear pieces give the exact answer", function()
  A.near(15, E.crossing({ 10, 20, 30 }, { 3, 2, 1 }, 2.5), 1e-12)
  A.eq(20, E.crossing({ 10, 20, 30 }, { 3, 2, 1 }, 2))
  A.eq(10, E.crossing({ 10, 20, 30 }, { 3, 2, 1 }, 5), "already below at the first point")
  A.eq(nil, E.crossing({ 10, 20, 30 }, { 3, 2, 1 }, 0.5), "never reached")
  -- the first crossing counts, later bumps do not
  A.near(12.5, E.crossing({ 10, 20, 30, 40 }, { 3, 1, 4, 0 }, 2.5), 1e-12)
  -- a NaN (diverged evaluation) is skipped, the segment through it is not used
  A.eq(30, E.crossing({ 10, 20, 30 }, { 3, 0 / 0, 1 }, 2))
  A.raises(function() E.crossing({ 1, 2 }, { 1 }, 1) end, "same length")
  A.raises(function() E.crossing({ 1 }, { 1 }, 0 / 0) end, "finite")
end)

A.test("crossing on a power-law curve: known % fewer iterations", function()
  -- reference: L = 1 + 4·N^-0.5 over 1000 steps; final loss 1 + 4/sqrt(1000).
  -- other: L = 1 + 4·(2N)^-0.5 (twice as sample-efficient): it reaches the
  -- reference's final loss at N = 500, i.e. 50% fewer iterations.
  local xr, yr = curve(1, 4, 0.5, 1000, 1)
  local xo, yo = curve(1, 4 * 2 ^ -0.5, 0.5, 1000, 1)
  local target = yr[#yr]
  A.near(1000, E.crossing(xr, yr, target), 1e-9)
  local n = E.crossing(xo, yo, target)
  A.near(500, n, 1e-6)
  A.near(50, E.savings(1000, n), 1e-6)
  -- coarse evaluations (every 25 steps): interpolation error stays small
  local xc, yc = curve(1, 4 * 2 ^ -0.5, 0.5, 1000, 25)
  A.near(500, E.crossing(xc, yc, target), 0.5)
end)

A.test("reach: steps and interpolated seconds", function()
  -- the other optimizer costs 1.5 s per step, the reference 1 s
  local xr, yr = curve(1, 4, 0.5, 1000, 10)
  local xo, yo = curve(1, 4 * 2 ^ -0.5, 0.5, 1000, 10)
  local sr, so = {}, {}
  for i, x in ipairs(xr) do sr[i] = x * 1.0 end
  for i, x in ipairs(xo) do so[i] = x * 1.5 end
  local r = E.reach({ ref = { steps = xr, loss = yr, seconds = sr }, other = { steps = xo, loss = yo, seconds = so } }, yr[#yr])
  A.near(1000, r.ref.steps, 1e-9); A.near(1000, r.ref.seconds, 1e-9)
  A.near(500, r.other.steps, 0.1); A.near(750, r.other.seconds, 0.15)
  A.near(25, E.savings(r.ref.seconds, r.other.seconds), 0.02, "50% fewer steps at 1.5x the cost: 25% less time")
  local none = E.reach({ x = { steps = { 1, 2 }, loss = { 5, 4 }, seconds = { 1, 2 } } }, 1)
  A.eq(nil, none.x.steps); A.eq(nil, none.x.seconds)
  A.truthy(E.savings(10, nil) ~= E.savings(10, nil), "savings of a missing value is NaN")
end)

A.test("power-law fit recovers a, b, beta and inverts", function()
  local ns = { 500, 625, 750, 875, 1000 }
  local ys = {}
  for i, n in ipairs(ns) do ys[i] = 2.5 + 30 * n ^ (-0.7) end
  local fit = E.fit_power(ns, ys)
  A.truthy(fit, "fit found")
  A.near(2.5, fit.a, 1e-3); A.near(30, fit.b, 0.5); A.near(0.7, fit.beta, 5e-3)
  A.near(ys[3], E.eval_power(fit, 750), 1e-6)
  -- a 40%-more-efficient optimizer: L'(N) = L(N / 0.6); it reaches L(1000) at N = 600
  local ys2 = {}
  for i, n in ipairs(ns) do ys2[i] = 2.5 + 30 * (n / 0.6) ^ (-0.7) end
  local fit2 = E.fit_power(ns, ys2)
  local n = E.invert_power(fit2, ys[5])
  A.near(600, n, 1.0)
  A.near(40, E.savings(1000, n), 0.1)
  A.eq(nil, E.invert_power(fit2, 2.0), "a target below the asymptote is never reached")
end)

A.test("power-law fit: noise, too few points, rising losses", function()
  local ns = { 400, 500, 600, 700, 800, 900, 1000 }
  local ys = {}
  local noise = { 0.002, -0.001, 0.0015, -0.002, 0.001, -0.0005, 0.0 }
  for i, n in ipairs(ns) do ys[i] = 1.8 + 5 * n ^ (-0.5) + noise[i] end
  local fit = E.fit_power(ns, ys)
  A.truthy(fit and fit.b > 0 and fit.beta > 0, "fits noisy points")
  A.near(1.8 + 5 * 1000 ^ -0.5, E.eval_power(fit, 1000), 0.005, "fitted value near the truth")
  local f2, why = E.fit_power({ 1, 2 }, { 3, 2 })
  A.eq(nil, f2); A.truthy(why:find("at least 3", 1, true), why)
  local f3, why3 = E.fit_power({ 1, 2, 3, 4 }, { 1, 2, 3, 4 })
  A.eq(nil, f3); A.truthy(why3:find("b > 0", 1, true), why3)
  A.raises(function() E.fit_power({ 0, 1, 2 }, { 1, 2, 3 }) end, "positive")
end)

A.test("summary: mean, sd and the t interval; fit_savings: the paper's convention", function()
  local r = E.summary({ 1, 2, 3 })
  A.eq(3, r.n); A.near(2, r.mean, 1e-15); A.near(1, r.sd, 1e-15)
  -- half width t(0.975, 2) · sd / sqrt(3) = 4.303 / sqrt(3)
  A.near(2 - 4.303 / math.sqrt(3), r.lo, 1e-12); A.near(2 + 4.303 / math.sqrt(3), r.hi, 1e-12)
  local r2 = E.summary({ 10, 0 / 0, 14 })
  A.eq(2, r2.n); A.eq(1, r2.missing); A.near(12, r2.mean, 1e-15)
  A.near(12 + 12.706 * math.sqrt(8) / math.sqrt(2), r2.hi, 1e-9)
  local r1 = E.summary({ 5 })
  A.eq(5, r1.mean); A.truthy(r1.sd ~= r1.sd and r1.lo ~= r1.lo, "one value: no spread")
  -- B's loss after 1000 steps is 1 + 4/sqrt(1000); A = 1 + 4·(2N)^-0.5 gets there at 500: 50% fewer
  local fit = { a = 1, b = 4 / math.sqrt(2), beta = 0.5 }
  local pct, n = E.fit_savings(fit, 1 + 4 / math.sqrt(1000), 1000)
  A.near(500, n, 1e-9); A.near(50, pct, 1e-9)
  local none = E.fit_savings(fit, 0.5, 1000)
  A.truthy(none ~= none, "below the asymptote: NaN")
end)

A.done("test_efficiency")
