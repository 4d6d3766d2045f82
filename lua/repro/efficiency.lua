-- repro.efficiency: how many steps (or seconds) an optimizer needs to reach a
-- target loss, and the "% fewer iterations" / "% less wall-clock" figures the
-- SOAP paper (Vyas et al. 2024, arXiv 2409.11321) reports.
--
-- Two methods:
--  * interpolation (E.crossing): the validation curve is read as a piecewise
--    linear function of steps; the answer is the first point where it reaches
--    the target (linear interpolation between the two bracketing evaluations).
--    Seconds come from the same curve's cumulative training time, interpolated
--    at that step. Needs no extra runs; fair when the learning rate schedule
--    does not decay (a point inside a cosine run is not yet annealed, which
--    would bias the answer against the faster optimizer).
--  * power-law fit (E.fit_power / E.invert_power), as the paper does: final
--    losses of runs of N steps (each with its own full schedule, N a fraction
--    of the full length) are fitted with L(N) = a + b·N^-β, b > 0, β > 0, and
--    the fit is inverted at the target: N = (b / (target - a))^(1/β).
--
-- Savings: E.savings(n_ref, n) = 100·(1 - n / n_ref), the percentage of the
-- reference's steps (or seconds) the other optimizer does not need.
local E = {}

local function finite(x) return type(x) == "number" and x == x and x ~= math.huge and x ~= -math.huge end

-- First x at which the piecewise linear curve (xs, ys) is <= target, or nil
-- when it never is. xs increasing; non-finite ys break the curve (a point
-- after a NaN is still used, the segment through the NaN is not).
function E.crossing(xs, ys, target)
  if type(xs) ~= "table" or type(ys) ~= "table" or #xs ~= #ys then
    error(string.format("efficiency.crossing: xs and ys must be lists of the same length (%s, %s)",
      type(xs) == "table" and #xs or type(xs), type(ys) == "table" and #ys or type(ys)), 2)
  end
  if not finite(target) then error("efficiency.crossing: target must be a finite number, got " .. tostring(target), 2) end
  for i = 1, #xs do
    local y = ys[i]
    if finite(y) and y <= target then
      local xp, yp = xs[i - 1], ys[i - 1]
      if i == 1 or not finite(yp) or yp == y then return xs[i] end
      -- yp > target >= y: interpolate inside (xp, x]
      return xp + (xs[i] - xp) * (yp - target) / (yp - y)
    end
  end
  return nil
end

-- Linear interpolation of (xs, ys) at x (clamped to the ends); xs increasing.
function E.interp(xs, ys, x)
  local n = #xs
  if n == 0 then error("efficiency.interp: empty curve", 2) end
  if x <= xs[1] then return ys[1] end
  if x >= xs[n] then return ys[n] end
  for i = 2, n do
    if x <= xs[i] then
      local f = (x - xs[i - 1]) / (xs[i] - xs[i - 1])
      return ys[i - 1] + f * (ys[i] - ys[i - 1])
    end
  end
  return ys[n]
end

-- Least squares a, b of y = a + b·z (z = N^-β) for fixed β; returns a, b, rss.
local function linfit(ns, ys, beta)
  local n = #ns
  local sz, sy, szz, szy = 0, 0, 0, 0
  for i = 1, n do
    local z = ns[i] ^ (-beta)
    sz, sy, szz, szy = sz + z, sy + ys[i], szz + z * z, szy + z * ys[i]
  end
  local den = n * szz - sz * sz
  if den <= 0 then return nil end
  local b = (n * szy - sz * sy) / den
  local a = (sy - b * sz) / n
  local rss = 0
  for i = 1, n do
    local r = ys[i] - a - b * ns[i] ^ (-beta)
    rss = rss + r * r
  end
  return a, b, rss
end

-- Fit L(N) = a + b·N^-β to points (ns[i], losses[i]) (at least 3, N > 0
-- distinct). For each β the best a, b are linear least squares; β is found by
-- a log-spaced scan over [beta_min, beta_max] (default 0.02 .. 4) refined by
-- golden-section search. Only b > 0 is accepted (loss falls with N).
-- Returns {a =, b =, beta =, rss =} or nil and a reason.
function E.fit_power(ns, losses, opts)
  opts = opts or {}
  if type(ns) ~= "table" or type(losses) ~= "table" or #ns ~= #losses then
    error("efficiency.fit_power: ns and losses must be lists of the same length", 2)
  end
  local xs, ys = {}, {}
  for i = 1, #ns do
    if not (finite(ns[i]) and ns[i] > 0) then error("efficiency.fit_power: N values must be positive, got " .. tostring(ns[i]), 2) end
    if finite(losses[i]) then xs[#xs + 1], ys[#ys + 1] = ns[i], losses[i] end
  end
  if #xs < 3 then return nil, string.format("fit_power needs at least 3 finite points, got %d", #xs) end
  local lo, hi = math.log(opts.beta_min or 0.02), math.log(opts.beta_max or 4)
  local function cost(lb)
    local a, b, rss = linfit(xs, ys, math.exp(lb))
    if not a or b <= 0 then return math.huge end
    return rss
  end
  local K = 200
  local best, bi = math.huge, nil
  for k = 0, K do
    local c = cost(lo + (hi - lo) * k / K)
    if c < best then best, bi = c, k end
  end
  if not bi then return nil, "no fit with b > 0 (the loss does not fall with N)" end
  local a_, b_ = lo + (hi - lo) * math.max(bi - 1, 0) / K, lo + (hi - lo) * math.min(bi + 1, K) / K
  local g = (math.sqrt(5) - 1) / 2
  local c, d = b_ - g * (b_ - a_), a_ + g * (b_ - a_)
  local fc, fd = cost(c), cost(d)
  for _ = 1, 80 do
    if fc < fd then b_, d, fd = d, c, fc; c = b_ - g * (b_ - a_); fc = cost(c)
    else a_, c, fc = c, d, fd; d = a_ + g * (b_ - a_); fd = cost(d) end
  end
  local lb = (a_ + b_) / 2
  if cost(lb) > best then lb = lo + (hi - lo) * bi / K end
  local beta = math.exp(lb)
  local a, b, rss = linfit(xs, ys, beta)
  return { a = a, b = b, beta = beta, rss = rss }
end

-- L(N) of a fit.
function E.eval_power(fit, n) return fit.a + fit.b * n ^ (-fit.beta) end

-- N at which the fit reaches target, or nil when it never does (target <= a).
function E.invert_power(fit, target)
  if target <= fit.a then return nil end
  return (fit.b / (target - fit.a)) ^ (1 / fit.beta)
end

-- 100·(1 - n / n_ref); NaN when either is missing.
function E.savings(n_ref, n)
  if not (finite(n_ref) and finite(n)) or n_ref <= 0 then return 0 / 0 end
  return 100 * (1 - n / n_ref)
end

-- The paper's convention for "A needs X% fewer iterations than B": B's final
-- loss after its n_ref steps is the target, A's steps to it come from A's fit
-- (E.invert_power), and X = E.savings(n_ref, steps). Returns X and A's steps
-- (NaN and nil when A's fit never reaches the target).
function E.fit_savings(fit, target, n_ref)
  local n = fit and finite(target) and E.invert_power(fit, target) or nil
  return E.savings(n_ref, n), n
end

-- Two-sided 95% Student t quantiles by degrees of freedom (1..30; beyond: 1.96).
local T975 = { 12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
               2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
               2.052, 2.048, 2.045, 2.042 }

-- Mean, sample standard deviation and the 95% confidence interval of the mean
-- (Student t, n - 1 degrees of freedom) of the finite values in xs. Returns
-- {n =, mean =, sd =, lo =, hi =, missing =} (missing: non-finite values left
-- out); with n < 2 the sd and the interval are NaN.
function E.summary(xs)
  local v, missing = {}, 0
  for _, x in ipairs(xs) do
    if finite(x) then v[#v + 1] = x else missing = missing + 1 end
  end
  local n, nan = #v, 0 / 0
  local r = { n = n, mean = nan, sd = nan, lo = nan, hi = nan, missing = missing }
  if n == 0 then return r end
  local s = 0
  for _, x in ipairs(v) do s = s + x end
  r.mean = s / n
  if n < 2 then return r end
  local ss = 0
  for _, x in ipairs(v) do ss = ss + (x - r.mean) ^ 2 end
  r.sd = math.sqrt(ss / (n - 1))
  local half = (T975[n - 1] or 1.96) * r.sd / math.sqrt(n)
  r.lo, r.hi = r.mean - half, r.mean + half
  return r
end

-- Interpolation method over several curves. curves: {name = {steps = {...},
-- loss = {...}, seconds = {...}}} (seconds: cumulative training time at those
-- steps). target: the loss to reach. Returns {name = {steps =, seconds =}}
-- (nil fields when the curve never reaches the target).
function E.reach(curves, target)
  local out = {}
  for name, c in pairs(curves) do
    local s = E.crossing(c.steps, c.loss, target)
    local r = { steps = s }
    if s and c.seconds then r.seconds = E.interp(c.steps, c.seconds, s) end
    out[name] = r
  end
  return out
end

return E
