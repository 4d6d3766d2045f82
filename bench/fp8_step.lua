-- bench/fp8_step.lua: cost of one FP8-simulated training step of nn.Llama
-- (numerics = "fp8": E4M3 forward / E5M2 backward with delayed scaling)
-- relative to the same model in fp32, AdamW, same shapes and data. The two
-- models' steps alternate, so load on a shared machine hits both alike;
-- the ratio is of the summed wall times. Target (issue 4): <= 1.3.
--   build/repro bench/fp8_step.lua [--steps N] [--only small|large]
local repro = require "repro"
local B = dofile(arg[0]:match("(.*/)") .. "lm_common.lua")
local configs, WARMUP, trainer = B.configs, B.WARMUP, B.trainer
local steps, only = B.args(5)

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
