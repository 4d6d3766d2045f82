-- tests/lua/test_sample.lua: T.sample: frequencies against softmax(logits / T)
-- (chi-square), top-k / top-p never emit excluded ids, greedy = argmax, same
-- ids at 1 and 2 threads, bad input.
local A = dofile(arg[0]:match("(.*/)") .. "assert.lua")
local repro = require "repro"
local T = repro.tensor

local LOGITS = {0.3, -1.2, 2.0, 0.9, -0.4, 1.5}
local V = #LOGITS

local function rows(n) return T.tensor{LOGITS}:expand(n, V):contiguous() end

local function probs(temp, keep)
  local p, s = {}, 0
  for j = 1, V do
    p[j] = (keep == nil or keep[j]) and math.exp(LOGITS[j] / temp) or 0
    s = s + p[j]
  end
  for j = 1, V do p[j] = p[j] / s end
  return p
end

local function counts(ids)
  local c = {}
  for j = 1, V do c[j] = 0 end
  for _, v in ipairs(ids:totable()) do c[v] = c[v] + 1 end
  return c
end

-- Pearson chi-square over the ids with p > 0; the 0.999 quantile for df <= 5 is <= 20.52.
local function chi2(c, p, n)
  local x, df = 0, -1
  for j = 1, V do
    if p[j] > 0 then
      local e = n * p[j]
      x = x + (c[j] - e) ^ 2 / e
      df = df + 1
    else
      A.eq(0, c[j], "count of excluded id " .. j)
    end
  end
  return x, df
end

local CRIT = {[1] = 10.83, [2] = 13.82, [3] = 16.27, [4] = 18.47, [5] = 20.52}

A.test("frequencies match softmax(logits / T)", function()
  local n = 40000
  for _, temp in ipairs {1.0, 0.7, 2.5} do
    local ids = T.sample(rows(n), {temperature = temp, generator = T.Generator(11)})
    A.eq("i32", ids:dtype())
    A.eq(n, ids:numel())
    local x, df = chi2(counts(ids), probs(temp), n)
    A.truthy(x < CRIT[df], string.format("chi2 %.2f (df %d) at T = %g", x, df, temp))
  end
end)

A.test("top_k and top_p keep only the allowed ids, renormalised", function()
  local n = 30000
  -- order of LOGITS: 3 (2.0), 6 (1.5), 4 (0.9), 1 (0.3), 5 (-0.4), 2 (-1.2)
  local ids = T.sample(rows(n), {top_k = 3, generator = T.Generator(5)})
  local keep3 = {[3] = true, [6] = true, [4] = true}
  local x, df = chi2(counts(ids), probs(1, keep3), n)
  A.truthy(x < CRIT[df], "top_k chi2 " .. x)
  -- probabilities: 0.445, 0.270, 0.148, ...: top_p 0.6 keeps {3, 6}
  local p = probs(1)
  A.truthy(p[3] < 0.6 and p[3] + p[6] >= 0.6, "fixture: top_p 0.6 keeps two ids")
  ids = T.sample(rows(n), {top_p = 0.6, generator = T.Generator(6)})
  x, df = chi2(counts(ids), probs(1, {[3] = true, [6] = true}), n)
  A.truthy(x < CRIT[df], "top_p chi2 " .. x)
  -- both: top_k 4 then top_p 0.99 of the renormalised four
  ids = T.sample(rows(2000), {top_k = 2, top_p = 0.99, temperature = 3})
  for _, v in ipairs(ids:totable()) do A.truthy(v == 3 or v == 6, "top_k 2 gave id " .. v) end
  -- top_k 1 and tiny top_p are greedy
  A.eq(3, T.sample(rows(50), {top_k = 1}):max():item())
  A.eq(3, T.sample(rows(50), {top_p = 1e-6}):min():item())
end)

A.test("masked (-inf) ids are never drawn; greedy is the first maximum", function()
  local l = T.tensor{{0, -math.huge, 0, -math.huge}, {1, 5, 5, 2}}:expand(2, 4)
  local big = T.cat({l[1]:view(1, 4):expand(5000, 4), l[2]:view(1, 4):expand(5, 4)}, 1):contiguous()
  local ids = T.sample(big, {temperature = 1})
  local t = ids:totable()
  for i = 1, 5000 do A.truthy(t[i] == 1 or t[i] == 3, "row " .. i .. " drew " .. t[i]) end
  A.allclose({2, 2}, T.sample(T.tensor{{1, 5, 5, 2}, {1, 5, 5, 2}}, {temperature = 0}):totable())
  local x = T.randn(7, 9)
  A.allclose(x:argmax(2):totable(), T.sample(x, {temperature = 0}):totable())
  -- a 1-d row gives a 0-d id; a 3-d batch a 2-d one
  A.eq(0, T.sample(T.tensor{1, 2, 3}):dim())
  A.eq("2,3", table.concat(T.sample(T.randn(2, 3, 5)):shape(), ","))
end)

A.test("same seed, same ids at 1 and 2 threads; generator advances", function()
  local x = T.randn({20000, 7}, {generator = T.Generator(3)})
  local function draw(th, opts)
    repro.set_threads(th)
    opts.generator = T.Generator(99)
    local a = T.sample(x, opts)
    local b = T.sample(x, opts)
    repro.set_threads(2)
    return a:bytes() .. b:bytes()
  end
  for _, o in ipairs { {}, {top_k = 3}, {top_p = 0.8, temperature = 0.5} } do
    local function fresh() local c = {} for k, v in pairs(o) do c[k] = v end return c end
    A.truthy(draw(1, fresh()) == draw(2, fresh()), "1 vs 2 threads")
  end
  local g = T.Generator(4)
  local a, b = T.sample(x, {generator = g}), T.sample(x, {generator = g})
  A.truthy(a:bytes() ~= b:bytes(), "a second draw differs")
  A.truthy(T.sample(x, {seed = 4}):bytes() == a:bytes(), "seed = n is Generator(n)")
end)

A.test("bad input", function()
  A.raises(function() T.sample(T.zeros({2, 3}, {dtype = "i32"})) end,
    "sample: logits must be f32 of shape (..., V), got i32 {2,3}")
  A.raises(function() T.sample(T.tensor{{1, 0 / 0}}) end, "sample: logits row 1 has NaN at id 2")
  A.raises(function() T.sample(T.tensor{{1, 2}, {-math.huge, -math.huge}}) end,
    "sample: logits row 2 has no finite entry")
  A.raises(function() T.sample(T.tensor{{1, math.huge}}) end, "+inf")
  A.raises(function() T.sample(T.randn(2, 3), {temperature = -1}) end, "temperature must be finite and >= 0")
  A.raises(function() T.sample(T.randn(2, 3), {temperature = "x"}) end, "temperature must be a number")
  A.raises(function() T.sample(T.randn(2, 3), {top_k = -2}) end, "top_k must be >= 0")
  A.raises(function() T.sample(T.randn(2, 3), {top_k = 1.5}) end, "top_k must be an integer")
  A.raises(function() T.sample(T.randn(2, 3), {top_p = 0}) end, "top_p must be in (0, 1]")
  A.raises(function() T.sample(T.randn(2, 3), {top_p = 1.5}) end, "top_p must be in (0, 1]")
  A.raises(function() T.sample(T.randn(2, 3), {generator = 3}) end, "must be a Generator")
  A.raises(function() T.sample(T.randn(2, 3), {topk = 3}) end, "topk")
  A.raises(function() T.sample(T.zeros(2, 0)) end, "sample: logits must be (..., V)")
  A.raises(function() T.sample(3) end, "tensor expected")
end)

A.done()
