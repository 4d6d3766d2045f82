-- bench/lm_throughput.lua: training tokens/s of repro.nn.Llama (fp32, AdamW)
-- beside the same model and optimizer in PyTorch (bench/lm_torch.py, same
-- thread count) when `import torch` works; prints the ratio.
--   build/repro bench/lm_throughput.lua [--steps N] [--only small|large] [--attention blocked|fused]
-- With --serve (bench/run uses it), one model stays loaded and warm, answers
-- on stdout: a line "ready params=N flops_per_token=F", then, for every line
-- "run N" read from stdin, N timed steps as "tokens_per_s=X". bench/run runs
-- it and lm_torch.py --serve side by side and alternates their runs.
--   build/repro bench/lm_throughput.lua --serve --only small|large [--attention blocked|fused]
local repro = require "repro"
local U = require "repro.util"
local B = dofile(arg[0]:match("(.*/)") .. "lm_common.lua")
local configs, VOCAB, WARMUP = B.configs, B.VOCAB, B.WARMUP
local steps, only, attention = B.args(10)
local threads = repro.get_threads and repro.get_threads() or 1
local serve = false
for i = 1, #arg do if arg[i] == "--serve" then serve = true end end

local function repro_tokens_per_s(c)
  local step = B.trainer(c, "fp32", attention)
  for _ = 1, WARMUP do step() end
  local secs = 0
  for _ = 1, steps do secs = secs + step() end
  return steps * c.batch * c.seq_len / secs
end

if serve then
  local c
  for _, x in ipairs(configs) do if x.name == only then c = x end end
  if not c then error("lm_throughput --serve: --only small|large is required, got " .. tostring(only)) end
  local step, model = B.trainer(c, "fp32", attention)
  for _ = 1, WARMUP do step() end
  io.stdout:setvbuf("line")
  print(string.format("ready params=%d flops_per_token=%.0f", model:num_parameters(), B.flops_per_token(c, model)))
  for line in io.lines() do
    local n = math.tointeger(tonumber(line:match("^run (%d+)$")))
    if not n then error("lm_throughput --serve: expected 'run N', got " .. line) end
    local secs = 0
    for _ = 1, n do secs = secs + step() end
    print(string.format("tokens_per_s=%.1f", n * c.batch * c.seq_len / secs))
  end
  return
end

local function find_python()
  for _, py in ipairs { "python3", "/usr/bin/python3" } do
    if U.run(U.shell_quote(py) .. " -c 'import torch' >/dev/null 2>&1") then return py end
  end
end

local function torch_tokens_per_s(py, c)
  local script = U.join(U.source_dir(), "bench/lm_torch.py")
  local cmd = string.format("%s %s --dim %d --layers %d --heads %d --seq-len %d --batch %d --vocab %d --steps %d --warmup %d --threads %d",
    U.shell_quote(py), U.shell_quote(script), c.dim, c.layers, c.heads, c.seq_len, c.batch, VOCAB, steps, WARMUP, threads)
  local p = io.popen(cmd)
  local out = p:read("a")
  p:close()
  return tonumber(out:match("tokens_per_s=([%d%.]+)"))
end

local py = find_python()
if not py then
  io.stderr:write("lm_throughput: PyTorch is not installed (Debian: apt-get install python3-torch); "
    .. "measuring repro only\n")
end
print(string.format("# training throughput, fp32, AdamW, %d threads, %d timed steps (tokens/s)", threads, steps))
print("model\trepro\tpytorch\tratio")
for _, c in ipairs(configs) do
  if not only or only == c.name then
    local r = repro_tokens_per_s(c)
    local t = py and torch_tokens_per_s(py, c)
    print(string.format("%s(dim=%d,L=%d,H=%d,T=%d,B=%d)\t%.0f\t%s\t%s", c.name, c.dim, c.layers, c.heads, c.seq_len,
      c.batch, r, t and string.format("%.0f", t) or "n/a", t and string.format("%.2f", r / t) or "n/a"))
  end
end
