-- tests/lua/test_nnops.lua: the Lua bindings of the neural-network ops
-- (repro.core.nnops merged into repro.tensor): shapes, 1-based ids, errors.
local A = dofile(arg[0]:match("(.*/)") .. "assert.lua")
local repro = require "repro"
local T = repro.tensor

local function shape_of(t) return table.concat(t:shape(), ",") end

local function ids(tbl) return T.tensor(tbl, {dtype = "i32"}) end

A.test("matmul shapes and methods", function()
  A.eq("4,3", shape_of(T.matmul(T.randn(4, 8), T.randn(8, 3))))
  A.eq("4,3", shape_of(T.randn(4, 8):matmul(T.randn(8, 3))))
  A.eq("2,5,4,3", shape_of(T.randn(2, 5, 4, 8):matmul(T.randn(8, 3))))
  A.eq("2,5,4,3", shape_of(T.randn(2, 1, 4, 8):matmul(T.randn(5, 8, 3))))
  A.eq("3", shape_of(T.randn(3, 8):matmul(T.randn(8))))
  A.eq("", shape_of(T.randn(8):matmul(T.randn(8))))
  A.eq("4,3", shape_of(T.outer(T.randn(4), T.randn(3))))
end)

A.test("matmul errors", function()
  A.raises(function() T.matmul(T.randn(4, 8), T.randn(7, 3)) end,
    "matmul: shapes {4,8} and {7,3} do not match")
  A.raises(function() T.matmul(T.randn(2, 4, 8), T.randn(3, 8, 2)) end, "cannot be broadcast")
  A.raises(function() T.matmul(T.randn(4, 8), 3) end, "tensor expected")
  A.raises(function() T.outer(T.randn(4, 2), T.randn(3)) end, "outer: expected two 1-d tensors")
  A.raises(function() T.matmul(T.randn(2, 2), T.zeros({2, 2}, {dtype = "i32"})) end,
    "matmul: expected f32 tensors, got f32 and i32")
  A.raises(function() T.attention(T.zeros({1, 1, 2, 2}, {dtype = "i32"}), T.randn(1, 1, 2, 2), T.randn(1, 1, 2, 2)) end,
    "attention: q, k, v must be f32")
end)

A.test("softmax family", function()
  local x = T.randn(3, 5)
  A.eq("3,5", shape_of(x:softmax(2)))
  A.eq("3,5", shape_of(T.log_softmax(x, -1)))
  A.eq("3,5", shape_of(x:softmax()))
  A.raises(function() x:softmax(3) end, "softmax: dimension 3 out of range for a 2-d tensor")
  A.raises(function() x:log_softmax(0) end, "log_softmax: dimension 0 out of range")
end)

A.test("rms_norm, attention, rope, dropout shapes and errors", function()
  local x = T.randn(2, 3, 8)
  A.eq("2,3,8", shape_of(T.rms_norm(x, T.randn(8), 1e-6)))
  A.eq("2,3,8", shape_of(x:rms_norm()))
  A.raises(function() T.rms_norm(x, T.randn(5)) end, "rms_norm: weight {5} does not match input {2,3,8}")
  local q, k, v = T.randn(2, 3, 17, 5), T.randn(2, 3, 17, 5), T.randn(2, 3, 17, 5)
  A.eq("2,3,17,5", shape_of(T.attention(q, k, v)))
  A.eq("2,3,17,5", shape_of(T.scaled_dot_product_attention(q, k, v)))
  A.raises(function() T.attention(q, k, T.randn(2, 3, 16, 5)) end, "must share one (B, H, T, D) shape")
  A.eq("2,3,17,6", shape_of(T.rope(T.randn(2, 3, 17, 6), {offset = 4})))
  A.raises(function() T.rope(q) end, "rope: input {2,3,17,5} must be (..., T, D) with D even")
  A.raises(function() T.rope(T.randn(2, 4), {offst = 1}) end, "rope: unknown option 'offst'")
  A.eq("4,4", shape_of(T.randn(4, 4):dropout(0.5, {seed = 3})))
  A.raises(function() T.dropout(T.randn(4), 1.5) end, "dropout: probability 1.5 not in [0, 1]")
end)

A.test("dtype errors", function()
  local f = T.randn(3)
  A.raises(function() T.embedding(T.randn(5, 2), f) end, "embedding: id must be an i32 tensor, got f32")
  A.raises(function() T.cross_entropy(T.randn(3, 4), f) end, "cross_entropy: target must be an i32 tensor, got f32")
  A.raises(function() T.one_hot(f, 3) end, "one_hot: id must be an i32 tensor, got f32")
  A.raises(function() T.embedding(T.randn(5), f) end, "embedding: weight must be (V, C), got {5}")
  A.raises(function() T.cross_entropy(T.randn(3), f) end, "cross_entropy: logits must be (N, C) or (B, T, C)")
end)

A.test("1-based ids: embedding, one_hot", function()
  local w = T.tensor{{1, 2}, {3, 4}, {5, 6}}
  A.allclose({{5, 6}, {1, 2}, {5, 6}}, T.embedding(w, ids{3, 1, 3}):totable())
  A.eq("2,2,2", shape_of(T.embedding(w, ids{{1, 2}, {3, 3}})))
  A.raises(function() T.embedding(w, ids{1, 0}) end, "embedding: id 0 at position 2 out of range [1, 3]")
  A.raises(function() T.embedding(w, ids{4}) end, "embedding: id 4 at position 1 out of range [1, 3]")
  A.allclose({{0, 1, 0}, {1, 0, 0}}, T.one_hot(ids{2, 1}, 3):totable())
  A.raises(function() T.one_hot(ids{4}, 3) end, "one_hot: id 4 at position 1 out of range [1, 3]")
end)

A.test("cross_entropy values, ignore_index, softmax values", function()
  local logits = {{1, 2, 3}, {0, 0, 0}, {3, -1, 2}}
  local tg = {3, 1, 2}
  local function nll(row, t)
    local s = 0
    for _, v in ipairs(row) do s = s + math.exp(v) end
    return math.log(s) - row[t]
  end
  local x = T.tensor(logits)
  local l = T.cross_entropy(x, ids(tg))
  A.eq("", shape_of(l))
  A.near((nll(logits[1], 3) + nll(logits[2], 1) + nll(logits[3], 2)) / 3, l:item(), 1e-5)
  local li = x:cross_entropy(ids{3, -100, 2}, {ignore_index = -100})
  A.near((nll(logits[1], 3) + nll(logits[3], 2)) / 2, li:item(), 1e-5)
  A.raises(function() T.cross_entropy(x, ids{3, 4, 1}) end,
    "cross_entropy: target 4 at position 2 out of range [1, 3]")
  A.raises(function() T.cross_entropy(x, ids{1, 2}) end, "do not match")
  A.raises(function() T.cross_entropy(x, ids{1, 2, 3}, {ignore = 0}) end, "unknown option 'ignore'")
  local p = T.softmax(T.tensor{{0, math.log(3)}}, 2):totable()
  A.allclose({{0.25, 0.75}}, p, 1e-6)
  -- same seed, same mask
  local r = T.randn(6, 6)
  A.allclose(r:dropout(0.5, {seed = 9}):totable(), r:dropout(0.5, {seed = 9}):totable(), 0)
  A.allclose(r:totable(), r:dropout(0.5, {training = false}):totable(), 0)
end)

A.test("gradients through the bindings", function()
  -- d/dlogits of mean cross entropy = (softmax - onehot) / N
  local x = T.tensor({{1, 2, 3}, {0, 0, 0}}, {requires_grad = true})
  x:cross_entropy(ids{3, 1}):backward()
  local g = x.grad:totable()
  local p1 = T.softmax(T.tensor{{1, 2, 3}}, 2):totable()[1]
  A.allclose({{p1[1] / 2, p1[2] / 2, (p1[3] - 1) / 2}, {1 / 6 - 1 / 2, 1 / 6, 1 / 6}}, g, 1e-6)
  -- embedding gradient: repeated ids add up
  local w = T.tensor({{1, 2}, {3, 4}, {5, 6}}, {requires_grad = true})
  local y = T.embedding(w, ids{3, 1, 3})
  y:backward(T.tensor{{1, 1}, {2, 2}, {3, 3}})
  A.allclose({{2, 2}, {0, 0}, {4, 4}}, w.grad:totable())
end)

A.test("gradcheck of every op through Lua", function()
  local function R(...) return T.randn({...}, {requires_grad = true}) end
  -- w:t() (no-copy transposed view) and broadcast batch dims
  A.truthy(T.gradcheck(function(p, q) return p:matmul(q:transpose(1, 2)) end, {R(3, 4), R(5, 4)}), "matmul w^T")
  A.truthy(T.gradcheck(T.matmul, {R(2, 1, 3, 4), R(3, 4, 2)}), "matmul broadcast")
  A.truthy(T.gradcheck(T.matmul, {R(4), R(4)}), "dot")
  A.truthy(T.gradcheck(T.outer, {R(3), R(2)}), "outer")
  A.truthy(T.gradcheck(function(x) return x:softmax(1) end, {R(3, 4)}), "softmax")
  A.truthy(T.gradcheck(function(x) return x:transpose(1, 2):log_softmax(2) end, {R(3, 4)}), "log_softmax")
  A.truthy(T.gradcheck(function(x, w) return T.rms_norm(x, w) end, {R(2, 3, 5), R(5)}), "rms_norm")
  A.truthy(T.gradcheck(function(x) return T.cross_entropy(x, ids{{1, 3}, {2, 2}}) end, {R(2, 2, 3)}), "cross_entropy")
  A.truthy(T.gradcheck(function(w) return T.embedding(w, ids{2, 2, 1}) end, {R(3, 2)}), "embedding")
  A.truthy(T.gradcheck(T.attention, {R(1, 2, 5, 3), R(1, 2, 5, 3), R(1, 2, 5, 3)}), "attention")
  A.truthy(T.gradcheck(function(x) return T.rope(x, {offset = 2}) end, {R(1, 2, 3, 4)}), "rope")
  A.truthy(T.gradcheck(function(x) return x:dropout(0.3, {seed = 4}) end, {R(4, 5)}), "dropout")
end)

A.test("dropout with a Generator", function()
  local x = T.randn(8, 8)
  local a = x:dropout(0.5, {generator = T.Generator(11)})
  local b = x:dropout(0.5, {generator = T.Generator(11)})
  A.allclose(a:totable(), b:totable(), 0)
  A.raises(function() x:dropout(0.5, {generator = 3}) end, "option 'generator' must be a Generator")
end)

A.test("attention impl = 'fused': the default kernel's values to rounding, errors, nn option", function()
  local q, k, v = T.randn(2, 3, 70, 16), T.randn(2, 3, 70, 16), T.randn(2, 3, 70, 16)
  A.allclose(T.attention(q, k, v, {impl = "fused"}):totable(), T.attention(q, k, v):totable(), 1e-5)
  A.allclose(T.attention(q, k, v, {impl = "blocked"}):totable(), T.attention(q, k, v):totable(), 0)
  A.truthy(T.gradcheck(function(a, b, c) return T.attention(a, b, c, {impl = "fused"}) end,
    {T.randn({1, 2, 5, 4}, {requires_grad = true}), T.randn({1, 2, 5, 4}, {requires_grad = true}),
     T.randn({1, 2, 5, 4}, {requires_grad = true})}), "fused")
  A.raises(function() T.attention(q, k, v, {impl = "flash"}) end, "impl must be 'blocked' or 'fused', got flash")
  A.raises(function() T.attention(q, k, v, {impl = 3}) end, "impl must be 'blocked' or 'fused', got number")
  A.raises(function() T.attention(q, k, v, {impl = "fused", causal = false}) end, "causal attention without key_mask")
  A.raises(function() T.attention(q, k, v, {impl = "fused", key_mask = T.ones(2, 70)}) end, "without key_mask")
  A.raises(function() T.attention(q, k:narrow(3, 1, 9), v:narrow(3, 1, 9), {impl = "fused"}) end,
    "must share one (B, H, T, D) shape")
  local nn = repro.nn
  local function run(impl)
    local m = nn.Llama{vocab = 11, dim = 16, layers = 1, heads = 2, seq_len = 8, seed = 3, attention = impl}
    local x = T.randint(1, 12, {2, 8}, {dtype = "i32", generator = T.Generator(5)})
    local loss = m:loss(x, x)
    loss:backward()
    return loss:item(), m.blocks[1].attn.wq.weight.grad:totable()
  end
  local l0, g0 = run(nil)
  local l1, g1 = run("fused")
  A.near(l1, l0, 1e-5)
  A.allclose(g1, g0, 1e-5)
  A.raises(function() nn.Llama{vocab = 11, dim = 16, layers = 1, heads = 2, attention = "flash"} end,
    "attention must be 'blocked' or 'fused', got flash")
end)

A.done("test_nnops")
