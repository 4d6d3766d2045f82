-- The fused kernels of the materials models (core/ops_graph.c, ops_pair.c):
-- each against the chain of tensor ops it replaces, gradients against finite
-- differences in every input, same bits at 1 and 2 threads, and bad input
-- as a clear error.
local A = dofile(arg[0]:match("(.*/)") .. "assert.lua")
local repro = require "repro"
local T = repro.tensor

local function maxdiff(a, b) return (a - b):abs():max():item() end
local function same_bits(a, b, what)
  A.eq(0, maxdiff(a, b), what .. ": same values")
end
local i32 = {dtype = "i32"}
local G = T.Generator(7)
local function randn(...) return T.randn({...}, {generator = G}) end
local function rand(...) return T.rand({...}, {generator = G}) end
local function leaf(t) return t:detach():requires_grad_() end

-- composed references (what the models computed before the fused kernels)
local function softplus_ref(x) return x:relu() + ((-x:abs()):exp() + 1):log() end
local function layer_norm_ref(x)
  local c = x - x:mean(-1, true)
  return c * ((c * c):mean(-1, true) + 1e-5):rsqrt()
end
local function gated_conv_ref(h, e, w, b, src, dst)
  local F = h:size(2)
  local m = T.cat({h:index_select(1, dst), h:index_select(1, src), e}, 2):matmul(w:t()) + b
  return T.scatter_sum(m:narrow(2, 1, F):sigmoid() * softplus_ref(m:narrow(2, F + 1, F)), dst, h:size(1))
end

local function graph(N, E, seed)
  local src, dst = {}, {}
  for j = 1, E do src[j] = (j * 7 + seed) % N + 1; dst[j] = (j * 3 + 2 * seed) % N + 1 end
  return T.tensor(src, i32), T.tensor(dst, i32)
end

A.test("softplus: values over the whole range, extremes and NaN", function()
  local x = T.linspace(-90, 90, 2001)
  A.truthy(maxdiff(T.softplus(x), softplus_ref(x)) <= 1e-5 * 90, "against the composed form")
  -- relative accuracy where softplus is tiny (e^x) and near 0
  local v = T.softplus(T.tensor{-80, -20, -1, 0, 1e-3, 20, 80}):totable()
  local want = {math.exp(-80), math.log(1 + math.exp(-20)), math.log(1 + math.exp(-1)), math.log(2),
                math.log(1 + math.exp(1e-3)), 20 + math.log(1 + math.exp(-20)), 80}
  for k = 1, #want do A.near(want[k], v[k], 4e-7 * math.abs(want[k]) + 1e-44, "softplus point " .. k) end
  local s = T.softplus(T.tensor{math.huge, -math.huge, 0 / 0}):totable()
  A.eq(math.huge, s[1]); A.eq(0, s[2]); A.truthy(s[3] ~= s[3], "NaN stays NaN")
  A.eq(T.softplus(x):totable()[1], x:softplus():totable()[1], "method form")
  T.gradcheck(function(a) return T.softplus(a) end, {leaf(randn(5, 4) * 3)}, {eps = 1e-2, atol = 1e-2, rtol = 1e-2})
end)

A.test("gaussian_expand", function()
  local d = rand(30) * 8
  local K, cutoff = 41, 8
  local step = cutoff / (K - 1)
  local mu = T.linspace(0, cutoff, K):view(1, K)
  local dd = d:view(-1, 1) - mu
  A.truthy(maxdiff(T.gaussian_expand(d, K, cutoff), (dd * dd * (-1 / (step * step))):exp()) <= 1e-6, "values")
  T.gradcheck(function(x) return T.gaussian_expand(x, 6, 5) end, {leaf(rand(7) * 5)}, {eps = 1e-3, atol = 1e-2, rtol = 1e-2})
  A.raises(function() T.gaussian_expand(d, 1, 8) end, "number of Gaussians")
  A.raises(function() T.gaussian_expand(d, 4, 0) end, "cutoff")
  A.raises(function() T.gaussian_expand(d:view(5, 6), 4, 8) end, "1-d")
  A.raises(function() T.gaussian_expand(d:to("i32"), 4, 8) end, "f32")
end)

A.test("gated_conv against the concatenated form, gradients in h, e, w, b", function()
  local N, F, E, K = 9, 5, 31, 4
  local src, dst = graph(N, E, 1)
  local h, e, w, b = randn(N, F), randn(E, K), randn(2 * F, 2 * F + K) * 0.5, randn(2 * F)
  A.truthy(maxdiff(T.gated_conv(h, e, w, b, src, dst), gated_conv_ref(h, e, w, b, src, dst)) <= 1e-5, "values")
  -- 1-based tables work as indices too
  A.eq(0, maxdiff(T.gated_conv(h, e, w, b, src:totable(), dst:totable()), T.gated_conv(h, e, w, b, src, dst)), "tables")
  local n, f, ne, k = 4, 2, 7, 3
  local s2, d2 = graph(n, ne, 2)
  local args = {leaf(randn(n, f)), leaf(randn(ne, k)), leaf(randn(2 * f, 2 * f + k) * 0.7), leaf(randn(2 * f))}
  T.gradcheck(function(a, c, ww, bb) return T.gated_conv(a, c, ww, bb, s2, d2) end, args,
              {eps = 1e-2, atol = 1e-2, rtol = 1e-2})
  -- the analytic gradients equal the composed form's
  local ref = {}
  for i, t in ipairs(args) do ref[i] = leaf(t) end
  local wgt = randn(n, f)
  ;(T.gated_conv(args[1], args[2], args[3], args[4], s2, d2) * wgt):sum():backward()
  ;(gated_conv_ref(ref[1], ref[2], ref[3], ref[4], s2, d2) * wgt):sum():backward()
  for i = 1, 4 do A.truthy(maxdiff(args[i].grad, ref[i].grad) <= 1e-5, "gradient " .. i .. " as the composed form") end
end)

A.test("gated_conv: no edges, and bad input is an error naming it", function()
  local h, w, b = randn(3, 2), randn(4, 5), randn(4)
  local none = T.zeros(0):to("i32")
  A.eq(0, T.gated_conv(h, T.zeros(0, 1), w, b, none, none):abs():sum():item(), "no edges: zero messages")
  local e = randn(4, 1)
  local ok_i = T.tensor({1, 2, 3, 1}, i32)
  A.raises(function() T.gated_conv(h, e, w, b, ok_i, T.tensor({1, 2, 4, 1}, i32)) end, "destination index 4 at position 3 out of range 1..3")
  A.raises(function() T.gated_conv(h, e, w, b, T.tensor({0, 2, 3, 1}, i32), ok_i) end, "source index 0")
  A.raises(function() T.gated_conv(h, e, w, b, ok_i, T.tensor({1, 2}, i32)) end, "length 4")
  A.raises(function() T.gated_conv(h, e, randn(4, 4), b, ok_i, ok_i) end, "weight must be (4, 5)")
  A.raises(function() T.gated_conv(h, e, w, randn(3), ok_i, ok_i) end, "bias")
  A.raises(function() T.gated_conv(h:view(6), e, w, b, ok_i, ok_i) end, "2-d")
  A.raises(function() T.gated_conv(h, e, w, b, ok_i, ok_i:to("f32")) end, "i32")
  A.raises(function() T.gated_conv(h, e, w, b, ok_i, {1, 2, "x", 1}) end, "not an i32 integer")
  A.raises(function() T.gated_conv(h:to("i32"), e, w, b, ok_i, ok_i) end, "f32")
end)

A.test("linear", function()
  local x, w, b = randn(2, 3, 5), randn(4, 5), randn(4)
  A.truthy(maxdiff(T.linear(x, w, b), x:matmul(w:t()) + b) <= 1e-5, "with bias")
  A.truthy(maxdiff(T.linear(x, w), x:matmul(w:t())) <= 1e-5, "without bias")
  A.truthy(maxdiff(T.linear(x:transpose(1, 2), w), x:transpose(1, 2):matmul(w:t())) <= 1e-5, "strided input")
  A.eq(0, T.linear(T.zeros(0, 5), w, b):numel(), "no rows")
  T.gradcheck(function(a, ww, bb) return T.linear(a, ww, bb) end, {leaf(randn(3, 4)), leaf(randn(2, 4)), leaf(randn(2))},
              {eps = 1e-2, atol = 1e-2, rtol = 1e-2})
  A.raises(function() T.linear(x, randn(4, 6)) end, "does not fit weight")
  A.raises(function() T.linear(x, w, randn(3)) end, "bias")
end)

A.test("layer_norm", function()
  local x = randn(4, 3, 16) * 3 + 1
  A.truthy(maxdiff(T.layer_norm(x), layer_norm_ref(x)) <= 1e-5, "values")
  A.truthy(maxdiff(x:layer_norm(), layer_norm_ref(x)) <= 1e-5, "method form")
  T.gradcheck(function(a) return T.layer_norm(a) end, {leaf(randn(3, 6))}, {eps = 1e-2, atol = 1e-2, rtol = 1e-2})
  -- rows go through the kernel four at a time (interleaved sums) and the
  -- rest one by one: every row must get the bits it gets alone
  for _, R in ipairs{1, 3, 4, 5, 7, 8, 13} do
    local xs = randn(R, 64) * 2 + 0.5
    local y = T.layer_norm(xs)
    for r = 1, R do same_bits(y:narrow(1, r, 1), T.layer_norm(xs:narrow(1, r, 1)), R .. " rows: row " .. r) end
  end
  A.raises(function() T.layer_norm(x, -1) end, "eps")
  A.raises(function() T.layer_norm(T.zeros(3, 0)) end, "non-empty")
end)

A.test("pair_silu and silu_mean: values and gradients in every input", function()
  local B, N, F = 2, 3, 4
  local a, c, d, p = randn(B, N, F), randn(B, N, F), randn(B, F), randn(B, N, N, F)
  local ref = (a:view(B, N, 1, F) + c:view(B, 1, N, F) + d:view(B, 1, 1, F) + p):silu()
  A.truthy(maxdiff(T.pair_silu(a, c, d, p), ref) <= 1e-5, "pair_silu values")
  A.eq(0, maxdiff(T.no_grad(function() return T.pair_silu(a, c, d, p) end), T.pair_silu(a, c, d, p)), "no_grad path")
  T.gradcheck(function(...) return T.pair_silu(...) end, {leaf(a), leaf(c), leaf(d), leaf(p)},
              {eps = 1e-2, atol = 1e-2, rtol = 1e-2})
  local bias = randn(F)
  A.truthy(maxdiff(T.silu_mean(p, bias), (p + bias):silu():mean(3)) <= 1e-5, "silu_mean values")
  T.gradcheck(function(y, bb) return T.silu_mean(y, bb) end, {leaf(p), leaf(bias)}, {eps = 1e-2, atol = 1e-2, rtol = 1e-2})
  A.raises(function() T.pair_silu(a, c, d, randn(B, N, N + 1, F)) end, "p (B, N, N, F)")
  A.raises(function() T.pair_silu(a, c, randn(B, F + 1), p) end, "d (B, F)")
  A.raises(function() T.silu_mean(p, randn(F + 1)) end, "bias")
  A.raises(function() T.silu_mean(randn(F), randn(F)) end, "M >= 1")
end)

A.test("pair_mlp_mean: the bits of pair_silu, linear and silu_mean, with and without a gradient", function()
  local function ref(a, c, d, p, w, b) return T.silu_mean(T.linear(T.pair_silu(a, c, d, p), w), b) end
  for _, sz in ipairs{{2, 3, 4, 5}, {3, 5, 64, 64}, {1, 1, 7, 3}, {20, 5, 64, 64}} do
    local B, N, F, O = sz[1], sz[2], sz[3], sz[4]
    local a, c, d, p = randn(B, N, F), randn(B, N, F), randn(B, F), randn(B, N, N, F)
    local w, b = randn(O, F) * 0.2, randn(O)
    local what = string.format("B %d N %d F %d O %d", B, N, F, O)
    local fused = T.no_grad(function() return T.pair_mlp_mean(a, c, d, p, w, b) end)
    A.eq(3, #fused:shape())
    same_bits(fused, T.no_grad(function() return ref(a, c, d, p, w, b) end), what .. ", no_grad")
    same_bits(fused, ref(a, c, d, p, w, b), what .. ", against the recorded ops")
    -- a strided input is read as its values
    same_bits(T.no_grad(function() return T.pair_mlp_mean(a, c, d, p:transpose(2, 3):contiguous():transpose(2, 3), w, b) end),
              fused, what .. ", strided p")
    -- with a gradient: the three ops, so the same bits and their gradients
    local xs = {leaf(a), leaf(c), leaf(d), leaf(p), leaf(w), leaf(b)}
    local ys = {leaf(a), leaf(c), leaf(d), leaf(p), leaf(w), leaf(b)}
    local g = randn(B, N, O)
    local y1 = T.pair_mlp_mean(table.unpack(xs))
    same_bits(y1, fused, what .. ", grad path")
    local y2 = ref(table.unpack(ys))
    ;(y1 * g):sum():backward(); (y2 * g):sum():backward()
    for i = 1, 6 do same_bits(xs[i].grad, ys[i].grad, what .. ", gradient " .. i) end
  end
  local B, N, F = 2, 3, 4
  T.gradcheck(function(...) return T.pair_mlp_mean(...) end,
              {leaf(randn(B, N, F)), leaf(randn(B, N, F)), leaf(randn(B, F)), leaf(randn(B, N, N, F)), leaf(randn(5, F)),
               leaf(randn(5))}, {eps = 1e-2, atol = 1e-2, rtol = 1e-2})
  local a, c, d, p, w, b = randn(B, N, F), randn(B, N, F), randn(B, F), randn(B, N, N, F), randn(5, F), randn(5)
  T.no_grad(function()
    A.raises(function() T.pair_mlp_mean(a, c, d, p, randn(5, F + 1), b) end, "weight (O, F)")
    A.raises(function() T.pair_mlp_mean(a, c, d, p, w, randn(4)) end, "bias (O)")
    A.raises(function() T.pair_mlp_mean(a, c, d, randn(B, N, N + 1, F), w, b) end, "p (B, N, N, F)")
    A.raises(function() T.pair_mlp_mean(a, c, randn(B, F + 1), p, w, b) end, "d (B, F)")
    A.raises(function() T.pair_mlp_mean(a, randn(B, N + 1, F), d, p, w, b) end, "c (B, N, F)")
    A.raises(function() T.pair_mlp_mean(a:to("i32"), c, d, p, w, b) end, "f32")
    A.raises(function() T.pair_mlp_mean(a, c, d, p, w) end, "tensor")
  end)
end)

A.test("frac_fourier: the periodic features of f_j - f_i", function()
  local B, N, K = 2, 4, 5
  local fr = rand(B, N, 3) * 3 - 1            -- outside [0, 1) too: features are periodic
  local d = fr:view(B, 1, N, 3) - fr:view(B, N, 1, 3)
  local k = T.arange(0, K):to("f32") * (2 * math.pi)
  local e = d:view(B, N, N, 3, 1) * k:view(1, 1, 1, 1, K)
  local ref = T.cat({e:sin(), e:cos()}, 5):view(B, N, N, 6 * K)
  A.truthy(maxdiff(T.frac_fourier(fr, K), ref) <= 2e-5, "values")
  -- f_i - f_i = 0 on the diagonal: sin 0 = 0 and cos 0 = 1 exactly, for every k
  local ff = T.frac_fourier(fr, K)
  for i = 1, N do
    local row = ff:select(2, i):select(2, i)
    A.eq(0, row:narrow(2, 1, K):abs():max():item(), "diagonal sines")
    A.eq(1, row:narrow(2, K + 1, K):min():item(), "diagonal cosines")
    A.eq(1, row:narrow(2, K + 1, K):max():item(), "diagonal cosines")
  end
  A.raises(function() T.frac_fourier(leaf(fr), K) end, "not differentiable")
  A.eq(6 * K, T.no_grad(function() return T.frac_fourier(leaf(fr), K) end):size(4), "fine under no_grad")
  A.raises(function() T.frac_fourier(fr, 0) end, "frequencies")
  A.raises(function() T.frac_fourier(randn(2, 3, 2), 3) end, "(B, N, 3)")
end)

A.test("same bits at 1 and 2 threads, forward and backward", function()
  local N, F, E, K = 200, 48, 2400, 41
  local src, dst = graph(N, E, 3)
  local h, e, w, b = randn(N, F), randn(E, K), randn(2 * F, 2 * F + K) * 0.1, randn(2 * F)
  local a, c, d, p = randn(8, 6, 64), randn(8, 6, 64), randn(8, 64), randn(8, 6, 6, 64)
  local function run(threads)
    repro.set_threads(threads)
    local xs = {leaf(h), leaf(e), leaf(w), leaf(b), leaf(a), leaf(c), leaf(d), leaf(p)}
    local y = T.gated_conv(xs[1], xs[2], xs[3], xs[4], src, dst)
    local z = T.silu_mean(T.pair_silu(xs[5], xs[6], xs[7], xs[8]), b:narrow(1, 1, 64))
    local loss = T.softplus(T.layer_norm(y)):sum() + z:sum()
    loss:backward()
    local out = {y}
    for i, x in ipairs(xs) do out[i + 1] = x.grad end
    return out
  end
  local one, two = run(1), run(2)
  for i = 1, #one do same_bits(one[i], two[i], "tensor " .. i) end
  -- the edge block without a gradient, large enough for its parallel loops
  local a2, c2, d2, p2 = randn(16, 6, 64), randn(16, 6, 64), randn(16, 64), randn(16, 6, 6, 64)
  local w2 = randn(64, 64) * 0.1
  local function block(threads)
    repro.set_threads(threads)
    return T.no_grad(function() return T.pair_mlp_mean(a2, c2, d2, p2, w2, b:narrow(1, 1, 64)) end)
  end
  same_bits(block(1), block(2), "pair_mlp_mean")
end)
A.done("graph ops")
