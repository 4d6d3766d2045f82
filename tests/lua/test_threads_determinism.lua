-- Same seed, same numbers, whatever the thread count (house rule 9): the
-- LAPACK-backed pieces (eigh, QR, SOAP, Shampoo) and a language-model step.
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

local function same_bits(what, fn)
  local one, two = run(1, fn), run(2, fn)
  A.eq(#one, #two, what .. ": result count")
  for i = 1, #one do A.eq(one[i], two[i], what .. ": result " .. i .. " bytes") end
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

A.done("threads_determinism")
