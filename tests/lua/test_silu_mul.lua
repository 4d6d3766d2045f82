-- test_silu_mul.lua: the fused SwiGLU gate T.silu_mul(a, b) = silu(a) * b
-- against its unfused reference a:silu() * b (forward and both gradients,
-- bit for bit), a finite-difference gradient check, strided inputs, the
-- shape error, and nn.SwiGLU's output against the unfused formula.
local A = dofile(arg[0]:match("(.*/)") .. "assert.lua")
local repro = require "repro"
local T, nn = repro.tensor, repro.nn

local function flat(t) return t:contiguous():view(-1):totable() end

A.test("forward and gradients equal the unfused ops bit for bit", function()
  repro.manual_seed(3)
  local a0, b0 = T.randn{37, 1000} * 4, T.randn{37, 1000}   -- > one chunk, several threads
  local g = T.randn{37, 1000}
  local function run(fused)
    local a, b = a0:detach():requires_grad_(true), b0:detach():requires_grad_(true)
    local y = fused and T.silu_mul(a, b) or a:silu() * b
    y:backward(g)
    return flat(y), flat(a.grad), flat(b.grad)
  end
  local y1, ga1, gb1 = run(true)
  local y2, ga2, gb2 = run(false)
  A.allclose(y2, y1, 0, "forward")
  A.allclose(ga2, ga1, 0, "grad a")
  A.allclose(gb2, gb1, 0, "grad b")
end)

A.test("gradcheck and strided inputs", function()
  local function R(...) return T.randn({...}, {requires_grad = true}) end
  A.truthy(T.gradcheck(T.silu_mul, {R(3, 5), R(3, 5)}), "gradcheck")
  A.truthy(T.gradcheck(function(p, q) return T.silu_mul(p:transpose(1, 2), q) end, {R(4, 3), R(3, 4)}), "strided")
  local x = T.randn{6, 7}
  A.allclose(flat(x:t():silu() * x:t()), flat(T.silu_mul(x:t(), x:t())), 0, "transposed views")
  -- special values follow silu's: silu(-inf) * 1 is NaN, silu(+inf) = inf, silu(-100) = -0
  local s = T.silu_mul(T.tensor{-math.huge, math.huge, -100, 0}, T.tensor{1, 1, 1, 1}):totable()
  A.truthy(s[1] ~= s[1], "NaN at -inf"); A.eq(math.huge, s[2]); A.eq(0, s[3]); A.eq(0, s[4])
end)

A.test("errors name the shapes", function()
  A.raises(function() T.silu_mul(T.zeros(2, 3), T.zeros(3, 2)) end, "silu_mul: shapes {2,3} and {3,2} differ")
  A.raises(function() T.silu_mul(T.zeros(2), T.zeros(2):int()) end, "silu_mul")
end)

A.test("nn.SwiGLU uses it with unchanged results", function()
  local m = nn.SwiGLU{ dim = 8, ffn_dim = 16, seed = 1 }
  local x = T.randn({2, 3, 8}, { generator = T.Generator(2) })
  local ref = (m.w1(x):silu() * m.w2(x)):matmul(m.w3.weight:t())
  A.allclose(flat(ref), flat(m(x)), 0, "SwiGLU forward")
end)

A.done("test_silu_mul")
