-- Same seed, same numbers, whatever the thread count (house rule 9): the
-- LAPACK-backed pieces (eigh, QR, SOAP, Shampoo), matmul on products large
-- enough to be split over threads, and language-model training steps.
local A = dofile(arg[0]:match("(.*/)") .. "assert.lua")
local repro = require "repro"
local T, linalg, optim, nn = repro.tensor, repro.linalg, repro.optim, repro.nn

local function run(threads, fn)
  repro.set_threads(threads)
  repro.manual_seed(7)
  local out = fn()
  repro.set_threads(2)
  return out
end

-- Byte strings compared whole; a mismatch names the first differing float
-- rather than printing the bytes.
local function same_bits(what, fn)
  local one, two = run(1, fn), run(2, fn)
  A.eq(#one, #two, what .. ": result count")
  for i = 1, #one do
    A.eq(#one[i], #two[i], what .. ": result " .. i .. " size")
    if one[i] ~= two[i] then
      local k = 1
      while one[i]:byte(k) == two[i]:byte(k) do k = k + 1 end
      A.truthy(false, string.format("%s: result %d differs at 1 and 2 threads from float %d on",
        what, i, (k - 1) // 4 + 1))
    end
  end
end

A.test("eigh and qr", function()
  same_bits("linalg", function()
    local a = T.randn(200, 200)
    local s = a:matmul(a:t())
    local w, V = linalg.eigh(s)
    local Q, R = linalg.qr(a)
    return {w:bytes(), V:bytes(), Q:bytes(), R:bytes()}
  end)
end)

for _, name in ipairs{"soap", "shampoo"} do
  A.test(name .. " steps", function()
    same_bits(name, function()
      local p = T.randn({96, 64}, {requires_grad = true})
      local target = T.randn(96, 64)
      local opt = optim[name]({p}, {lr = 1e-2, precondition_frequency = 2})
      for _ = 1, 6 do
        opt:zero_grad()
        local loss = ((p - target) * (p - target)):sum()
        loss:backward()
        opt:step()
      end
      return {p:bytes()}
    end)
  end)
end

A.test("llama training step", function()
  same_bits("llama", function()
    local model = nn.Llama{vocab = 17, dim = 32, layers = 1, heads = 2, seq_len = 16}
    local opt = optim.adamw(model:parameters(), {lr = 1e-3})
    local ids = T.randint(1, 18, {4, 16})
    local loss = model:loss(ids:narrow(2, 1, 15), ids:narrow(2, 2, 15))
    loss:backward()
    opt:step()
    local out = {loss:bytes()}
    for _, p in ipairs(model:parameters()) do out[#out + 1] = p:bytes() end
    return out
  end)
end)

-- Products big enough that matmul cuts them into blocks over the threads:
-- odd sizes, transposed views, a broadcast batch; forward and both gradients.
A.test("matmul on odd shapes", function()
  same_bits("matmul", function()
    local cases = {
      {T.randn(1000, 333), T.randn(517, 333):t()},
      {T.randn(3, 1, 300, 200), T.randn(4, 200, 250)},
      {T.randn(2, 700, 650):transpose(2, 3), T.randn(700, 90)},
      {T.randn(37, 1531), T.randn(1531, 1201)},
    }
    local out = {}
    for _, c in ipairs(cases) do
      local a, b = c[1]:detach(), c[2]:detach()
      a.requires_grad, b.requires_grad = true, true
      local y = a:matmul(b)
      local w = T.randn(table.unpack(y:shape()))
      ;(y * w):sum():backward()
      out[#out + 1] = y:bytes()
      out[#out + 1] = a.grad:bytes()
      out[#out + 1] = b.grad:bytes()
    end
    return out
  end)
end)

-- The model where OpenBLAS's own threading once changed the bits (dim 128,
-- T 128; from lm_head back): every parameter's gradient, after a few AdamW
-- steps, and the parameters.
A.test("llama dim 128, T 128, AdamW steps", function()
  same_bits("llama128", function()
    local model = nn.Llama{vocab = 65, dim = 128, layers = 2, heads = 4, seq_len = 128}
    local opt = optim.adamw(model:parameters(), {lr = 1e-3, weight_decay = 0.01})
    local out = {}
    for _ = 1, 3 do
      local ids = T.randint(1, 66, {4, 129})
      opt:zero_grad()
      local loss = model:loss(ids:narrow(2, 1, 128), ids:narrow(2, 2, 128))
      loss:backward()
      out[#out + 1] = loss:bytes()
      for _, p in ipairs(model:parameters()) do out[#out + 1] = p.grad:bytes() end
      opt:step()
    end
    for _, p in ipairs(model:parameters()) do out[#out + 1] = p:bytes() end
    return out
  end)
end)

A.done("threads_determinism")
