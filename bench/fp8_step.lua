-- bench/fp8_step.lua: cost of one FP8-simulated training step of nn.Llama
-- (numerics = "fp8": E4M3 forward / E5M2 backward with delayed scaling)
-- relative to the same model in fp32, AdamW, same shapes and data. The two
-- models' steps alternate, so load on a shared machine hits both alike;
-- the ratio is of the summed wall times. Target (issue 4): <= 1.3.
--   build/repro bench/fp8_step.lua [--steps N] [--only small|large]
local repro = require "repro"
local T, nn, U = repro.tensor, repro.nn, require "repro.util"

local steps, only = 5, nil
for i = 1, #arg do
  if arg[i] == "--steps" then steps = math.tointeger(tonumber(arg[i + 1])) end
  if arg[i] == "--only" then only = arg[i + 1] end
end

local configs = {
  { name = "small", dim = 128, layers = 4, heads = 4, seq_len = 128, batch = 16 },
  { name = "large", dim = 384, layers = 6, heads = 6, seq_len = 256, batch = 8 },
}
local VOCAB, WARMUP = 65, 2

local function trainer(c, numerics)
  repro.manual_seed(0)
  local m = nn.Llama{ vocab = VOCAB, dim = c.dim, layers = c.layers, heads = c.heads, seq_len = c.seq_len,
                      seed = 0, numerics = numerics }
  local opt = repro.optim.adamw(m:parameters(), { lr = 1e-3, weight_decay = 0.0 })
  local g = T.Generator(1)
  return function()
    local ids = T.randint(1, VOCAB + 1, { c.batch, c.seq_len + 1 }, { generator = g, dtype = "i32" })
    local t0 = U.wall_now()
    opt:zero_grad()
    local loss = m:loss(ids:narrow(2, 1, c.seq_len), ids:narrow(2, 2, c.seq_len))
    loss:backward()
    opt:step()
    return U.wall_now() - t0
  end
end

print(string.format("# fp8-simulated vs fp32 training step, %d threads, %d timed steps each",
  repro.get_threads and repro.get_threads() or 1, steps))
print("model\tfp32_ms\tfp8_ms\tratio")
for _, c in ipairs(configs) do
  if not only or only == c.name then
    local f32, f8 = trainer(c, "fp32"), trainer(c, "fp8")
    local t32, t8 = 0, 0
    for s = 1, WARMUP + steps do
      local a, b = f32(), f8()
      if s > WARMUP then t32, t8 = t32 + a, t8 + b end
    end
    print(string.format("%s(dim=%d,L=%d,H=%d,T=%d,B=%d)\t%.1f\t%.1f\t%.2f", c.name, c.dim, c.layers, c.heads,
      c.seq_len, c.batch, 1e3 * t32 / steps, 1e3 * t8 / steps, t8 / t32))
  end
end
