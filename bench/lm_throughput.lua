-- bench/lm_throughput.lua: training tokens/s of repro.nn.Llama (fp32, AdamW)
-- beside the same model and optimizer in PyTorch (bench/lm_torch.py, same
-- thread count) when `import torch` works; prints the ratio.
--   build/repro bench/lm_throughput.lua [--steps N] [--only small|large]
local repro = require "repro"
local T, nn, U = repro.tensor, repro.nn, require "repro.util"

local args = {}
for i = 1, #arg do args[i] = arg[i] end
local steps, only = 10, nil
for i = 1, #args do
  if args[i] == "--steps" then steps = math.tointeger(tonumber(args[i + 1])) end
  if args[i] == "--only" then only = args[i + 1] end
end

local configs = {
  { name = "small", dim = 128, layers = 4, heads = 4, seq_len = 128, batch = 16 },
  { name = "large", dim = 384, layers = 6, heads = 6, seq_len = 256, batch = 8 },
}
local VOCAB, WARMUP = 65, 2
local threads = repro.get_threads and repro.get_threads() or 1

local function repro_tokens_per_s(c)
  repro.manual_seed(0)
  local m = nn.Llama{ vocab = VOCAB, dim = c.dim, layers = c.layers, heads = c.heads, seq_len = c.seq_len, seed = 0 }
  local opt = repro.optim.adamw(m:parameters(), { lr = 1e-3, weight_decay = 0.0 })
  local g = T.Generator(1)
  local t0
  for step = 1, WARMUP + steps do
    -- wall clock over the timed steps (os.clock would sum the CPU time of all threads)
    if step == WARMUP + 1 then t0 = U.wall_now() end
    local ids = T.randint(1, VOCAB + 1, { c.batch, c.seq_len + 1 }, { generator = g, dtype = "i32" })
    local x, y = ids:narrow(2, 1, c.seq_len), ids:narrow(2, 2, c.seq_len)
    opt:zero_grad()
    local loss = m:loss(x, y)
    loss:backward()
    opt:step()
  end
  return steps * c.batch * c.seq_len / (U.wall_now() - t0)
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
