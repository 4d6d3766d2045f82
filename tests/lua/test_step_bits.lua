-- Training-step bits are a contract: the committed results (figures/ of
-- fp8_instability, soap_lm, score, genms, ...) were made by nn.Llama steps,
-- and a faster kernel must compute exactly what the chain of ops before it
-- computed. The digests below were computed at revision b043b63, before the
-- fused kernels of the training step (tracker issue 23); a fused kernel that
-- changes one bit of a loss, a gradient or a parameter fails here, at 1 and
-- at 2 threads.
local A = dofile(arg[0]:match("(.*/)") .. "assert.lua")
local repro = require "repro"
local T, nn, optim = repro.tensor, repro.nn, repro.optim
local fnv = repro.core.io.fnv1a64

-- Three steps of a small model: every loss, every gradient of the last step
-- and every parameter after it, hashed together.
local function run(threads, model_opts, opt_name, opt_cfg)
  repro.set_threads(threads)
  repro.manual_seed(11)
  local o = { vocab = 29, dim = 32, layers = 2, heads = 2, seq_len = 24, seed = 5 }
  for k, v in pairs(model_opts) do o[k] = v end
  local model = nn.Llama(o)
  local opt = optim[opt_name](model:parameters(), opt_cfg)
  local g = T.Generator(3)
  local parts = {}
  for _ = 1, 3 do
    local ids = T.randint(1, o.vocab + 1, { 3, o.seq_len + 1 }, { generator = g, dtype = "i32" })
    opt:zero_grad()
    local loss = model:loss(ids:narrow(2, 1, o.seq_len), ids:narrow(2, 2, o.seq_len))
    loss:backward()
    parts[#parts + 1] = loss:bytes()
    for _, p in ipairs(model:parameters()) do parts[#parts + 1] = p.grad:bytes() end
    opt:step()
  end
  for _, p in ipairs(model:parameters()) do parts[#parts + 1] = p:bytes() end
  repro.set_threads(2)
  return fnv(table.concat(parts))
end

local cases = {
  { "fp32 blocked attention, AdamW", {}, "adamw", { lr = 3e-3, weight_decay = 0.1 },
    "fcd2ddae1bb47f99" },
  { "fp32 fused attention, AdamW", { attention = "fused" }, "adamw", { lr = 3e-3, weight_decay = 0.1 },
    "0f3b84e48748b201" },
  { "fp32 tied embeddings, SOAP", { tie_embeddings = true }, "soap", { lr = 3e-3, precondition_frequency = 2 },
    "5e1894095c9ad5b7" },
  { "fp8 smooth SwiGLU, AdamW", { numerics = "fp8", mlp = "smooth_swiglu" }, "adamw", { lr = 3e-3 },
    "ca89541f533c91eb" },
  { "bf16, AdamW with fp8 moments", { numerics = "bf16" }, "adamw",
    { lr = 3e-3, m_format = "e4m3fn", v_format = "e5m2" }, "4d3834da9594a350" },
}

local only_print = os.getenv("REPRO_STEP_BITS_PRINT")
for _, c in ipairs(cases) do
  A.test(c[1], function()
    local one = run(1, c[2], c[3], c[4])
    if only_print then print(c[1], one) return end
    A.eq(c[5], one, c[1] .. ": digest at 1 thread (revision b043b63 computed it)")
    A.eq(c[5], run(2, c[2], c[3], c[4]), c[1] .. ": digest at 2 threads")
  end)
end

-- The kernels on their own, at shapes whose rows do not fill the kernels'
-- row groups: rms_norm forward and both gradients, with and without a weight.
local function kernels(threads)
  repro.set_threads(threads)
  local g = T.Generator(9)
  local parts = {}
  for _, shape in ipairs { { 7, 5, 33 }, { 3, 130 }, { 1, 1, 8 }, { 2051, 70 } } do
    for _, with_w in ipairs { true, false } do
      local x = T.randn(shape, { generator = g, requires_grad = true })
      local w = with_w and T.randn({ shape[#shape] }, { generator = g, requires_grad = true }) or nil
      local dy = T.randn(shape, { generator = g })
      local y = T.rms_norm(x, w, 1e-5)
      ;(y * dy):sum():backward()
      parts[#parts + 1] = y:bytes() .. x.grad:bytes() .. (w and w.grad:bytes() or "")
    end
  end
  repro.set_threads(2)
  return fnv(table.concat(parts))
end

A.test("rms_norm kernel bits", function()
  local one = kernels(1)
  if only_print then print("rms_norm kernels", one) return end
  A.eq("9127d7e6b9947774", one, "rms_norm digest at 1 thread (revision b043b63 computed it)")
  A.eq("9127d7e6b9947774", kernels(2), "rms_norm digest at 2 threads")
end)

A.done("step_bits")
