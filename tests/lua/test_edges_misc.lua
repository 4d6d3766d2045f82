-- tests/lua/test_edges_misc.lua: values where a slip hides from tests with
-- ordinary inputs: rms_norm where eps dominates (inputs ~1e-3), a product
-- with an empty inner dimension (zeros, whatever the memory held), and the
-- trainer's gradient clipping applied exactly, dropout's rescaling,
-- is_contiguous on size-1 dimensions, the transformer block's residuals.
local A = dofile(arg[0]:match("(.*/)") .. "assert.lua")
local repro = require "repro"
local T = repro.tensor
local train = require "repro.train"

A.test("rms_norm: eps inside the root matters for small inputs", function()
  local xs = { 1e-3, -2e-3, 3e-3, 0 }
  local ms = 0
  for _, v in ipairs(xs) do ms = ms + v * v / #xs end
  local y = T.rms_norm(T.tensor{ xs }, nil, 1e-5):totable()[1]
  for i, v in ipairs(xs) do A.near(v / math.sqrt(ms + 1e-5), y[i], 1e-6, "element " .. i) end
  local w = T.tensor{ 2, 1, 0.5, 1 }
  local yw = T.rms_norm(T.tensor{ xs }, w, 1e-4):totable()[1]
  for i, v in ipairs(xs) do A.near(v * w:totable()[i] / math.sqrt(ms + 1e-4), yw[i], 1e-6, "weighted " .. i) end
end)

A.test("matmul with an empty inner dimension gives zeros", function()
  for _ = 1, 4 do
    -- leave non-zero bytes in freed memory of the output's size
    local junk = T.full({ 5, 6 }, 7)
    junk:close()
    local r = T.zeros{ 5, 0 }:matmul(T.zeros{ 0, 6 })
    A.eq(5, r:shape()[1]); A.eq(6, r:shape()[2])
    for _, row in ipairs(r:totable()) do for _, v in ipairs(row) do A.eq(0, v) end end
  end
end)

A.test("train: gradient clipping scales the gradient to the threshold", function()
  local w = T.tensor{ 3, 4 }:requires_grad_()
  local model = { parameters = function() return { w } end,
                  loss = function() return (w * w):sum() * 0.5 end,   -- gradient w, norm 5
                  train = function() end, eval = function() end }
  local data = { batch = function() return 0, 0 end }
  local logged
  local r = train{ model = model, optimizer = repro.optim.sgd({ w }, { lr = 1.0 }), data = data, batch = 1,
                   steps = 1, grad_clip = 1.0, quiet = true, on_step = function(_, row) logged = row.grad_norm end }
  A.eq(false, r.diverged)
  A.near(5, logged, 1e-6, "the logged norm is before clipping")
  A.allclose({ 3 - 0.6, 4 - 0.8 }, w:totable(), 1e-6, "w - g/|g|")
end)

A.test("dropout keeps the expectation: kept values are scaled by 1/(1-p)", function()
  repro.manual_seed(3)
  local y = T.dropout(T.ones{ 2000 }, 0.25):totable()
  local kept = 0
  for _, v in ipairs(y) do
    A.truthy(v == 0 or math.abs(v - 4 / 3) < 1e-6, "value " .. v)
    if v ~= 0 then kept = kept + 1 end
  end
  A.truthy(kept > 1400 and kept < 1600, "about 3/4 kept: " .. kept)
end)

A.test("is_contiguous ignores the stride of a size-1 dimension (PyTorch's rule)", function()
  local x = T.zeros{ 1, 4 }:transpose(1, 2)        -- shape {4, 1}, strides {1, 4}
  A.eq(true, x:is_contiguous())
  local y = T.zeros{ 3, 4 }:narrow(2, 2, 1)         -- shape {3, 1}, strides {4, 1}: not contiguous
  A.eq(false, y:is_contiguous())
  A.eq(true, T.zeros{ 5 }:view(5, 1):transpose(1, 2):transpose(1, 2):is_contiguous())
end)

A.test("transformer block: both residual connections (pre-norm)", function()
  local b = repro.nn.TransformerBlock{ dim = 16, ffn_dim = 24, heads = 2, seq_len = 8, seed = 3 }
  repro.manual_seed(9)
  local x = T.randn{ 2, 8, 16 }
  local y = b(x):totable()
  local h = x + b.attn(b.attn_norm(x))
  local want = (h + b.mlp(b.mlp_norm(h))):totable()
  A.allclose(want, y, 1e-6, "x + attn(norm(x)), then + mlp(norm(.))")
end)

A.done("test_edges_misc")
