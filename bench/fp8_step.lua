-- bench/fp8_step.lua: cost of one FP8-simulated training step of nn.Llama
-- (numerics = "fp8": E4M3 forward / E5M2 backward with delayed scaling)
-- relative to the same model in fp32, AdamW, same shapes and data. The two
-- models' steps alternate, so load on a shared machine hits both alike;
-- the ratio is of the summed wall times. Target (issue 4): <= 1.3.
-- Two more columns for a shared, noisy machine: the ratio of the median
-- step times, and of the main thread's CPU time per step (Linux; the main
-- thread works or waits for the others at each parallel region's end, so
-- on an idle machine it tracks the wall time, and other tenants barely move
-- it; "n/a" where /proc/thread-self is missing).
--   build/repro bench/fp8_step.lua [--steps N] [--only small|large]
local repro = require "repro"
local B = dofile(arg[0]:match("(.*/)") .. "lm_common.lua")
local configs, WARMUP, trainer = B.configs, B.WARMUP, B.trainer
local steps, only = B.args(5)
if not steps or steps < 1 then error("fp8_step: --steps wants a positive integer", 0) end

-- Seconds the calling (main) thread has run on a CPU, or nil.
local function main_cpu()
  local f = io.open("/proc/thread-self/schedstat")
  if not f then return nil end
  local ns = f:read("n")
  f:close()
  return ns and ns * 1e-9
end

local function median(t)
  local s = {}
  for i, v in ipairs(t) do s[i] = v end
  table.sort(s)
  local n = #s
  return n % 2 == 1 and s[(n + 1) // 2] or (s[n // 2] + s[n // 2 + 1]) / 2
end

-- One step of f: wall seconds (from the trainer) and main-thread CPU seconds.
local function timed(f)
  local c0 = main_cpu()
  local w = f()
  local c1 = main_cpu()
  return w, c0 and c1 and c1 - c0
end

print(string.format("# fp8-simulated vs fp32 training step, %d threads, %d timed steps each",
  repro.get_threads and repro.get_threads() or 1, steps))
print("model\tfp32_ms\tfp8_ms\tratio\tmedian_ratio\tmain_cpu_ratio")
for _, c in ipairs(configs) do
  if not only or only == c.name then
    local f32, f8 = trainer(c, "fp32"), trainer(c, "fp8")
    local w32, w8, m32, m8 = {}, {}, 0, 0
    for s = 1, WARMUP + steps do
      local a, ac = timed(f32)
      local b, bc = timed(f8)
      if s > WARMUP then
        w32[#w32 + 1], w8[#w8 + 1] = a, b
        if m32 and ac and bc then m32, m8 = m32 + ac, m8 + bc else m32 = nil end
      end
    end
    local t32, t8 = 0, 0
    for i = 1, #w32 do t32, t8 = t32 + w32[i], t8 + w8[i] end
    print(string.format("%s(dim=%d,L=%d,H=%d,T=%d,B=%d)\t%.1f\t%.1f\t%.2f\t%.2f\t%s", c.name, c.dim, c.layers,
      c.heads, c.seq_len, c.batch, 1e3 * t32 / steps, 1e3 * t8 / steps, t8 / t32, median(w8) / median(w32),
      (m32 and m32 > 0) and string.format("%.2f", m8 / m32) or "n/a"))
  end
end
