-- tests/lua/test_seq_ops.lua: token_logprobs, kl_categorical, cross_entropy
-- with weights, and attention with a key mask / without causality: values
-- against compositions of existing ops, finite-difference gradients, masks,
-- thread-count determinism, bad input.
local A = dofile(arg[0]:match("(.*/)") .. "assert.lua")
local repro = require "repro"
local T = repro.tensor

local function ids(t) return T.tensor(t, {dtype = "i32"}) end
local function maxdiff(a, b) return (a - b):abs():max():item() end
local function param(t) return t:detach():requires_grad_(true) end

A.test("token_logprobs equals log_softmax gathered; mask zeroes positions", function()
  local g = T.Generator(1)
  local x = T.randn({3, 4, 7}, {generator = g})
  local y = T.randint(1, 8, {3, 4}, {generator = g, dtype = "i32"})
  local lp = T.token_logprobs(x, y)
  A.eq("3,4", table.concat(lp:shape(), ","))
  local ref = x:log_softmax(3):gather(3, y:view(3, 4, 1)):view(3, 4)
  A.truthy(maxdiff(lp, ref) < 1e-6, "vs log_softmax")
  local m = T.tensor{{1, 1, 0, 1}, {0, 0, 0, 0}, {1, 0, 1, 1}}
  local y0 = y:clone(); y0[2][1] = 0; y0[3][2] = 99     -- masked ids are never read
  A.truthy(maxdiff(T.token_logprobs(x, y0, m), ref * m) < 1e-6, "masked")
  -- 2-d logits and a method call
  A.truthy(maxdiff(x[1]:token_logprobs(y[1]), ref[1]) < 1e-6, "2-d")
end)

A.test("token_logprobs gradient", function()
  local g = T.Generator(2)
  local x = param(T.randn({2, 3, 5}, {generator = g}))
  local y = ids{{1, 5, 2}, {3, 3, 4}}
  local m = T.tensor{{1, 0, 1}, {1, 1, 0}}
  A.truthy(T.gradcheck(function(a) return T.token_logprobs(a, y) end, {x}))
  A.truthy(T.gradcheck(function(a) return T.token_logprobs(a, y, m) end, {x}))
  -- a non-contiguous view of logits
  local xt = param(T.randn({5, 3}, {generator = g}))
  A.truthy(T.gradcheck(function(a) return T.token_logprobs(a:t(), ids{1, 2, 5}) end, {xt}))
end)

A.test("kl_categorical is exact KL(p || q)", function()
  local g = T.Generator(3)
  local a, b = T.randn({4, 6}, {generator = g}), T.randn({4, 6}, {generator = g})
  local kl = T.kl_categorical(a, b)
  local p = a:softmax(2)
  local ref = (p * (a:log_softmax(2) - b:log_softmax(2))):sum(2)
  A.truthy(maxdiff(kl, ref) < 1e-6, "vs composition")
  A.truthy(maxdiff(T.kl_categorical(a, a), T.zeros(4)) < 1e-7, "KL(p || p) = 0")
  A.truthy(kl:min():item() >= 0, "KL >= 0")
  local m = T.tensor{1, 0, 0, 1}
  A.truthy(maxdiff(T.kl_categorical(a, b, m), ref * m) < 1e-6, "masked")
  -- q with an impossible id that p can choose: +inf; p with -inf: ignored
  local inf = T.kl_categorical(T.tensor{{0, 0}}, T.tensor{{0, -math.huge}}):item()
  A.eq(math.huge, inf, "p > 0 where q = 0")
  A.near(0, T.kl_categorical(T.tensor{{0, -math.huge}}, T.tensor{{0, -1e30}}):item(), 1e-7, "0 log 0")
end)

A.test("kl_categorical gradient in both arguments", function()
  local g = T.Generator(4)
  local a, b = param(T.randn({2, 3, 4}, {generator = g})), param(T.randn({2, 3, 4}, {generator = g}))
  A.truthy(T.gradcheck(T.kl_categorical, {a, b}))
  local m = T.tensor{{1, 0, 1}, {0, 1, 1}}
  A.truthy(T.gradcheck(function(x, y) return T.kl_categorical(x, y, m) end, {a, b}))
  local frozen = T.randn({2, 3, 4}, {generator = g})
  A.truthy(T.gradcheck(function(x) return T.kl_categorical(x, frozen) end, {a}))
  A.truthy(T.gradcheck(function(y) return T.kl_categorical(frozen, y) end, {b}))
end)

A.test("cross_entropy with per-position weights and ignore_index", function()
  local g = T.Generator(5)
  local x = T.randn({2, 5, 6}, {generator = g})
  local y = T.randint(1, 7, {2, 5}, {generator = g, dtype = "i32"})
  local plain = T.cross_entropy(x, y)
  local ones = T.cross_entropy(x, y, {weight = T.ones(2, 5)})
  A.near(plain:item(), ones:item(), 1e-6, "unit weights = the mean")
  local w = T.rand({2, 5}, {generator = g})
  local nll = -T.token_logprobs(x, y)
  A.near(((nll * w):sum() / w:sum()):item(), T.cross_entropy(x, y, {weight = w}):item(), 1e-6, "weighted mean")
  -- ignore_index drops positions from both sums
  local yi = y:clone(); yi[1][2] = -100; yi[2][5] = -100
  local keep = T.ones(2, 5); keep[1][2] = 0; keep[2][5] = 0
  local yk = y:clone()
  A.near(((nll * w * keep):sum() / (w * keep):sum()):item(),
    T.cross_entropy(x, yi, {weight = w, ignore_index = -100}):item(), 1e-6, "ignore_index")
  A.near(T.cross_entropy(x, yi, {ignore_index = -100}):item(),
    T.cross_entropy(x, yk, {weight = keep}):item(), 1e-6, "ignore = zero weight")
  local xp = param(x)
  A.truthy(T.gradcheck(function(a) return T.cross_entropy(a, yi, {weight = w, ignore_index = -100}) end, {xp}))
  A.raises(function() T.cross_entropy(x, y, {weight = T.ones(5)}) end,
    "cross_entropy: weight must be f32 of the targets' shape {2,5}, got f32 {5}")
  A.raises(function() T.cross_entropy(x, y, {weight = 1}) end, "weight must be a tensor")
end)

-- Reference attention by composition: scores + a -1e9 bias where a key is not allowed.
local function att_ref(q, k, v, mask, causal)
  local s = q:shape()
  local B, Tq, Tk, D = s[1], s[3], k:shape()[3], s[4]
  local mt, bias = mask and mask:totable(), {}
  for b = 1, B do
    bias[b] = {{}}
    for i = 1, Tq do
      bias[b][1][i] = {}
      for j = 1, Tk do
        local ok = (not mt or mt[b][j] ~= 0) and (not causal or j <= i + Tk - Tq)
        bias[b][1][i][j] = ok and 0 or -1e9
      end
    end
  end
  bias = T.tensor(bias)
  local sc = q:matmul(k:transpose(3, 4)) * (1 / math.sqrt(D)) + bias
  return sc:softmax(4):matmul(v)
end

A.test("attention with a key mask, non-causal, Tq < Tk", function()
  local g = T.Generator(6)
  local q, k, v = T.randn({2, 3, 4, 8}, {generator = g}), T.randn({2, 3, 6, 8}, {generator = g}),
    T.randn({2, 3, 6, 8}, {generator = g})
  local mask = T.tensor{{1, 1, 0, 1, 1, 1}, {0, 0, 1, 1, 1, 1}}
  A.truthy(maxdiff(T.attention(q, k, v, {causal = false}), att_ref(q, k, v, nil, false)) < 1e-5, "non-causal")
  A.truthy(maxdiff(T.attention(q, k, v, {causal = false, key_mask = mask}), att_ref(q, k, v, mask, false)) < 1e-5,
    "masked non-causal")
  A.truthy(maxdiff(T.attention(q, k, v, {key_mask = mask}), att_ref(q, k, v, mask, true)) < 1e-5, "masked causal")
  -- one query over a cache attends every allowed key
  local q1 = q:narrow(3, 4, 1)
  A.truthy(maxdiff(T.attention(q1, k, v, {key_mask = mask}), att_ref(q1, k, v, mask, true)) < 1e-5, "decode")
  -- no mask, causal, Tq == Tk: the training kernel, bit for bit
  local kk, vv = k:narrow(3, 1, 4), v:narrow(3, 1, 4)
  A.truthy(T.attention(q, kk, vv, {causal = true}):bytes() == T.attention(q, kk, vv):bytes(), "same kernel")
  -- an all-ones mask through the general kernel agrees with the training kernel
  A.truthy(maxdiff(T.attention(q, kk, vv, {key_mask = T.ones(2, 4)}), T.attention(q, kk, vv)) < 1e-6, "all-ones mask")
  -- a query with no allowed key gives zeros
  local none = T.attention(q, k, v, {causal = false, key_mask = T.tensor{{0, 0, 0, 0, 0, 0}, {1, 1, 1, 1, 1, 1}}})
  A.eq(0, none[1]:abs():max():item(), "fully masked rows")
  -- left padding: the mask lets queries of padded rows see nothing but their own keys
  local pm = T.tensor{{0, 0, 1, 1}, {1, 1, 1, 1}}
  local o = T.attention(q, kk, vv, {key_mask = pm})
  A.eq(0, o[1]:narrow(2, 1, 2):abs():max():item(), "pad queries")
end)

A.test("masked attention gradients", function()
  local g = T.Generator(7)
  local q, k, v = param(T.randn({2, 2, 3, 4}, {generator = g})), param(T.randn({2, 2, 5, 4}, {generator = g})),
    param(T.randn({2, 2, 5, 4}, {generator = g}))
  local mask = T.tensor{{1, 0, 1, 1, 0}, {0, 0, 0, 1, 1}}
  A.truthy(T.gradcheck(function(a, b, c) return T.attention(a, b, c, {causal = false, key_mask = mask}) end, {q, k, v}))
  A.truthy(T.gradcheck(function(a, b, c) return T.attention(a, b, c, {causal = true, key_mask = mask}) end, {q, k, v}))
  A.truthy(T.gradcheck(function(a, b, c) return T.attention(a, b, c, {causal = false}) end, {q, k, v}))
  local none = T.tensor{{0, 0, 0, 0, 0}, {1, 1, 1, 1, 1}}
  A.truthy(T.gradcheck(function(a, b, c) return T.attention(a, b, c, {causal = false, key_mask = none}) end, {q, k, v}))
end)

A.test("masked attention: same bits at 1 and 2 threads", function()
  local function run(th)
    repro.set_threads(th)
    local g = T.Generator(8)
    local q = param(T.randn({4, 4, 40, 16}, {generator = g}))
    local k, v = param(T.randn({4, 4, 48, 16}, {generator = g})), param(T.randn({4, 4, 48, 16}, {generator = g}))
    local m = T.gt(T.rand({4, 48}, {generator = g}), 0.2)
    local o = T.attention(q, k, v, {key_mask = m})
    o:sum():backward()
    repro.set_threads(2)
    return o:bytes() .. q.grad:bytes() .. k.grad:bytes() .. v.grad:bytes()
  end
  A.truthy(run(1) == run(2), "1 vs 2 threads")
end)

A.test("bad input", function()
  local q, k = T.randn(1, 2, 3, 4), T.randn(1, 2, 5, 4)
  A.raises(function() T.attention(k, q, q, {causal = true}) end, "causal attention needs Tq <= Tk")
  A.raises(function() T.attention(q, k, k, {key_mask = T.ones(1, 3)}) end, "key_mask {1,3} must be (B, Tk) = {1,5}")
  A.raises(function() T.attention(q, k, k, {mask = 1}) end, "mask")
  A.raises(function() T.attention(q, k, k, {causal = 1}) end, "causal must be a boolean")
  A.raises(function() T.attention(q, k, q, {causal = false}) end, "must be (B, H, Tq, D)")
  A.raises(function() T.token_logprobs(T.randn(2, 3), ids{1, 4}) end, "token_logprobs: id 4 at position 2 out of range [1, 3]")
  A.raises(function() T.token_logprobs(T.randn(2, 3), T.tensor{1, 2}) end, "ids must be an i32 tensor, got f32")
  A.raises(function() T.token_logprobs(T.randn(2, 3), ids{1, 2, 3}) end, "must have the shape of logits {2,3}")
  A.raises(function() T.token_logprobs(T.randn(2, 3), ids{1, 2}, T.ones(3)) end, "mask {3} must have the shape")
  A.raises(function() T.token_logprobs(T.zeros({2, 3}, {dtype = "i32"}), ids{1, 2}) end, "logits must be f32")
  A.raises(function() T.kl_categorical(T.randn(2, 3), T.randn(2, 4)) end, "must have one shape")
  A.raises(function() T.kl_categorical(T.randn(2, 3), T.randn(2, 3), T.ones(3)) end, "mask {3} must have the shape")
  A.raises(function() T.kl_categorical(T.randn(2, 3), T.zeros({2, 3}, {dtype = "i32"})) end, "logits_q must be f32")
end)

A.done()
