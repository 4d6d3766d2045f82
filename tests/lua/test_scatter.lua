-- Scatter/gather ops for graph networks: index_add, scatter_sum,
-- scatter_mean, and the row gather index_select(1, idx): values against a
-- plain Lua reference, finite-difference gradients, bad indices, and the same
-- bits at 1 and 2 threads.
local A = dofile(arg[0]:match("(.*/)") .. "assert.lua")
local repro = require "repro"
local T = repro.tensor

repro.manual_seed(3)
local gc = T.gradcheck

local function ref_scatter(src, idx, n, mean)
  local s = src:totable()
  local out, cnt = {}, {}
  for i = 1, n do out[i] = {}; cnt[i] = 0; for c = 1, #s[1] do out[i][c] = 0 end end
  for j, i in ipairs(idx) do
    cnt[i] = cnt[i] + 1
    for c = 1, #s[j] do out[i][c] = out[i][c] + s[j][c] end
  end
  if mean then
    for i = 1, n do if cnt[i] > 0 then for c = 1, #out[i] do out[i][c] = out[i][c] / cnt[i] end end end
  end
  return out
end

A.test("values match a plain reference", function()
  local src = T.randn(7, 3)
  local idx = {2, 1, 2, 4, 4, 4, 1}          -- segment 3 is empty
  A.allclose(ref_scatter(src, idx, 5, false), T.scatter_sum(src, idx, 5):totable(), 1e-5, "sum")
  A.allclose(ref_scatter(src, idx, 5, true), T.scatter_mean(src, idx, 5):totable(), 1e-5, "mean")
  A.allclose(ref_scatter(src, idx, 5, true),
    src:scatter_mean(T.tensor(idx, {dtype = "i32"}), 5):totable(), 1e-5, "method, i32 tensor index")
  local x = T.randn(5, 3)
  local expect = ref_scatter(src, idx, 5, false)
  local xt = x:totable()
  for i = 1, 5 do for c = 1, 3 do expect[i][c] = expect[i][c] + xt[i][c] end end
  A.allclose(expect, x:index_add(1, idx, src):totable(), 1e-5, "index_add dim 1")
  -- along dim 2: columns
  local y = T.zeros(3, 4)
  local r = y:index_add(2, {4, 4, 1}, T.ones(3, 3)):totable()
  A.allclose({{1, 0, 0, 2}, {1, 0, 0, 2}, {1, 0, 0, 2}}, r, 0, "index_add dim 2")
  -- 3-d source, empty source
  A.eq(2, T.scatter_sum(T.ones(4, 2, 3), {1, 1, 2, 1}, 2):totable()[2][1][1] * 2, "3-d")
  A.allclose({{0, 0}, {0, 0}}, T.scatter_mean(T.zeros(0, 2), {}, 2):totable(), 0, "empty")
end)

A.test("gradients against finite differences", function()
  local idx = {3, 1, 3, 2, 3, 1}
  gc(function(s) return T.scatter_sum(s, idx, 4) end, {T.randn(6, 5):requires_grad_()})
  gc(function(s) return T.scatter_mean(s, idx, 4) end, {T.randn(6, 5):requires_grad_()})
  gc(function(s) return T.scatter_mean(s, idx, 3) end, {T.randn(5, 6):t():requires_grad_()})
  gc(function(x, s) return x:index_add(1, idx, s) end,
     {T.randn(3, 2):requires_grad_(), T.randn(6, 2):requires_grad_()})
  gc(function(x, s) return x:index_add(2, {2, 2, 1}, s) end,
     {T.randn(2, 3, 2):requires_grad_(), T.randn(2, 3, 2):requires_grad_()})
  -- the row gather (index_select) whose backward is the same segment sum
  gc(function(x) return x:index_select(1, {2, 2, 1, 3, 2}) end, {T.randn(3, 4):requires_grad_()})
  gc(function(x) return x:index_select(2, {2, 2, 1}) end, {T.randn(2, 3, 2):requires_grad_()})
  -- gather then scatter (a message-passing step)
  gc(function(h) return T.scatter_mean(h:index_select(1, {1, 2, 3, 1}):tanh(), {2, 2, 1, 3}, 3) end,
     {T.randn(3, 4):requires_grad_()})
end)

A.test("bad input is an error naming the values", function()
  local s = T.randn(3, 2)
  A.raises(function() T.scatter_sum(s, {1, 2, 5}, 4) end, "index 5 at position 3 out of range 1..4")
  A.raises(function() T.scatter_sum(s, {1, 0, 1}, 4) end, "index 0 at position 2 out of range 1..4")
  A.raises(function() T.scatter_mean(s, {1, 2}, 4) end, "index must be 1-d of length 3")
  A.raises(function() T.scatter_mean(s, {1, 2, 1.5}, 4) end, "index entry 3 is not an i32 integer")
  A.raises(function() T.scatter_mean(s, T.tensor{1, 2, 3}, 4) end, "index must be an i32 tensor")
  A.raises(function() T.scatter_mean(s, {1, 2, 3}, -1) end, "number of segments must be >= 0")
  A.raises(function() T.scatter_mean(s:to("i32"), {1, 2, 3}, 3) end, "source must be f32")
  A.raises(function() T.scatter_sum(s, "x", 3) end, "index tensor or table expected")
  A.raises(function() T.zeros(3, 2):index_add(1, {1, 4}, T.ones(2, 2)) end, "out of range 1..3")
  A.raises(function() T.zeros(3, 2):index_add(1, {1, 2}, T.ones(2, 3)) end, "does not fit input")
  A.raises(function() T.zeros(3, 2):index_add(3, {1, 2}, T.ones(2, 2)) end, "index_add")
  A.raises(function() T.zeros(3, 2):index_add(1, {1, 2, 3}, T.ones(2, 2)) end, "length 2")
  A.raises(function() T.zeros(3, 2, {dtype = "i32"}):index_add(1, {1, 2}, T.ones(2, 2)) end, "needs f32")
end)

A.test("same bits at 1 and 2 threads", function()
  local function run(threads)
    repro.set_threads(threads)
    repro.manual_seed(11)
    local E, N, F = 6000, 300, 96
    local idx = (T.rand(E) * N):to("i32") + 1
    local src = T.randn(E, F):requires_grad_()
    local h = T.randn(N, F):requires_grad_()
    local out = T.scatter_mean(src * h:index_select(1, idx), idx, N)
    out:sum():backward()
    repro.set_threads(2)
    return {out:reshape(-1):totable(), src.grad:reshape(-1):totable(), h.grad:reshape(-1):totable()}
  end
  local one, two = run(1), run(2)
  for k = 1, 3 do
    for i = 1, #one[k] do
      if one[k][i] ~= two[k][i] then A.truthy(false, "result " .. k .. " differs at element " .. i) end
    end
  end
end)

A.done("scatter")
