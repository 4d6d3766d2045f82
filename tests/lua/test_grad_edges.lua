-- tests/lua/test_grad_edges.lua: derivatives at the kinks, where finite
-- differences cannot check them (test_autograd keeps its inputs away from
-- 0): PyTorch's conventions relu'(0) = 0, abs'(0) = 0, and the exact
-- one-sided values just beside the kink.
local A = dofile(arg[0]:match("(.*/)") .. "assert.lua")
local repro = require "repro"
local T = repro.tensor

local tiny = 2.0 ^ -20
local xs = { -1, -1e-3, -tiny, 0, tiny, 1e-3, 1 }

local function grad_of(name)
  local x = T.tensor(xs):requires_grad_()
  x[name](x):sum():backward()
  return x.grad:totable()
end

A.test("relu: zero gradient at and below 0, one above", function()
  A.allclose({ 0, 0, 0, 0, 1, 1, 1 }, grad_of("relu"), 0)
end)

A.test("abs: sign, and 0 at 0", function()
  A.allclose({ -1, -1, -1, 0, 1, 1, 1 }, grad_of("abs"), 0)
end)

A.done("test_grad_edges")
