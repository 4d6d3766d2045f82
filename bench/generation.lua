-- bench/generation.lua: generation and RL-step speed of repro.nn.Llama.
--  1. greedy generation tokens/s (dim 128, 4 layers, 4 heads, vocab 65,
--     batch 64, prompt 32, 96 new tokens) against the same model in PyTorch
--     (bench/gen_torch.py: torch.no_grad, cat-based KV cache), interleaved
--     repro / torch pairs, ratio per pair: median and min-max;
--  2. cached against uncached (cache = false, the whole prefix recomputed
--     every step) at 96 new tokens, interleaved pairs;
--  3. one RL step of the SCoRe-size model (dim 96, 3 layers, vocab 15):
--     64 prompts x 4 samples of 20 tokens (18-token prompts), reference
--     forward, policy forward + backward + AdamW, through repro.rl.run.
--   build/repro bench/generation.lua [--pairs N] [--only gen|cache|rl]
-- Prints "name<TAB>value<TAB>detail" rows after a header.
local repro = require "repro"
local T, nn, rl, U = repro.tensor, repro.nn, repro.rl, require "repro.util"

local pairs_n, only = 5, nil
for i = 1, #arg do
  if arg[i] == "--pairs" then pairs_n = math.tointeger(tonumber(arg[i + 1])) end
  if arg[i] == "--only" then only = arg[i + 1] end
end
local threads = repro.get_threads()

local function median(xs)
  local s = {}
  for i, x in ipairs(xs) do s[i] = x end
  table.sort(s)
  local n = #s
  return n % 2 == 1 and s[(n + 1) // 2] or (s[n // 2] + s[n // 2 + 1]) / 2
end
local function minmax(xs)
  local lo, hi = math.huge, -math.huge
  for _, x in ipairs(xs) do lo = math.min(lo, x); hi = math.max(hi, x) end
  return lo, hi
end

local G = { vocab = 65, dim = 128, layers = 4, heads = 4, batch = 64, prompt = 32, new = 96 }
local model = nn.Llama{ vocab = G.vocab, dim = G.dim, layers = G.layers, heads = G.heads,
                        seq_len = G.prompt + G.new, seed = 0 }
local prompts = T.randint(1, G.vocab + 1, { G.batch, G.prompt }, { dtype = "i32", generator = T.Generator(1) })

local function gen_seconds(cache)
  local t0 = U.now()
  model:generate(prompts, { steps = G.new, temperature = 0, cache = cache })
  return U.now() - t0
end

local function find_python()
  for _, py in ipairs { "/usr/bin/python3", "python3" } do
    if U.run(U.shell_quote(py) .. " -c 'import torch' >/dev/null 2>&1") then return py end
  end
end

local function torch_tokens_per_s(py)
  local cmd = string.format("%s %s --dim %d --layers %d --heads %d --vocab %d --batch %d --prompt %d --new %d --reps 1 --threads %d",
    U.shell_quote(py), U.shell_quote(U.join(U.source_dir(), "bench/gen_torch.py")), G.dim, G.layers, G.heads, G.vocab,
    G.batch, G.prompt, G.new, threads)
  local p = io.popen(cmd)
  local out = p:read("a")
  p:close()
  return tonumber(out:match("tokens_per_s=([%d%.]+)"))
end

print(string.format("# generation benchmarks, %d threads, %d pairs, %s", threads, pairs_n, os.date("!%Y-%m-%dT%H:%MZ")))
print("name\tvalue\tdetail")
local toks = G.batch * G.new

if not only or only == "gen" then
  model:generate(prompts, { steps = 4, temperature = 0 })   -- warm-up
  local py = find_python()
  local rs, ts, ratios = {}, {}, {}
  for i = 1, pairs_n do
    rs[i] = toks / gen_seconds(true)
    ts[i] = py and torch_tokens_per_s(py) or nil
    if ts[i] then ratios[#ratios + 1] = rs[i] / ts[i] end
  end
  if #ratios > 0 then
    local lo, hi = minmax(ratios)
    print(string.format("generate_vs_torch\t%.2f\tx median (min %.2f, max %.2f); repro %.0f tok/s, torch %.0f tok/s (medians); dim %d, %d layers, batch %d, prompt %d, %d new, greedy",
      median(ratios), lo, hi, median(rs), median(ts), G.dim, G.layers, G.batch, G.prompt, G.new))
  else
    print(string.format("generate_vs_torch\tn/a\trepro %.0f tok/s; PyTorch not importable", median(rs)))
  end
end

if not only or only == "cache" then
  local ratios, cs, us = {}, {}, {}
  for i = 1, pairs_n do
    cs[i] = gen_seconds(true)
    us[i] = gen_seconds(false)
    ratios[i] = us[i] / cs[i]
  end
  local lo, hi = minmax(ratios)
  print(string.format("cached_vs_uncached\t%.2f\tx median (min %.2f, max %.2f); cached %.3f s, uncached %.3f s (medians) for %d x %d new tokens",
    median(ratios), lo, hi, median(cs), median(us), G.batch, G.new))
end

if not only or only == "rl" then
  local R = { vocab = 15, dim = 96, layers = 3, heads = 4, ffn_dim = 256, prompts = 64, k = 4, prompt = 18, new = 20 }
  repro.manual_seed(0)
  local pol = nn.Llama{ vocab = R.vocab, dim = R.dim, layers = R.layers, heads = R.heads, ffn_dim = R.ffn_dim,
                        seq_len = R.prompt + R.new + 2, seed = 0 }
  local ref = pol:clone():freeze()
  local opt = repro.optim.adamw(pol:parameters(), { lr = 1e-4, weight_decay = 0 })
  local B, L = R.prompts * R.k, R.prompt + R.new
  local base = T.randint(1, R.vocab + 1, { R.prompts, R.prompt }, { dtype = "i32", generator = T.Generator(2) })
  local x = base:view(R.prompts, 1, R.prompt):expand(R.prompts, R.k, R.prompt):contiguous():view(B, R.prompt)
  local m1 = rl.turn_mask(B, L, R.prompt + 1, R.prompt + 9)
  local m2 = rl.turn_mask(B, L, R.prompt + 12, L)
  local gen_t = {}
  local res = rl.run{
    policy = pol, reference = ref, optimizer = opt, steps = pairs_n + 1, k = R.k, kl_coef = { 0.1, 0.01 }, grad_clip = 1,
    rollout = function(step)
      local t0 = U.now()
      local ids = pol:generate(x, { steps = R.new, temperature = 1, forced = { [R.prompt + 10] = 14, [R.prompt + 11] = 15 } })
      gen_t[step] = U.now() - t0
      local t = ids:totable()
      local r1, r2 = {}, {}
      for b = 1, B do r1[b] = t[b][R.prompt + 1] % 2; r2[b] = t[b][L] % 2 end
      return { ids = ids, turns = { m1, m2 }, rewards = { r1, r2 } }
    end,
  }
  local st, gt = {}, {}
  for i = 2, #res.rows do st[#st + 1] = res.rows[i].step_time; gt[#gt + 1] = gen_t[i] end
  local ids = pol:generate(x, { steps = R.new, temperature = 1 })
  local rt = {}
  for i = 1, pairs_n do
    local t0 = U.now()
    T.no_grad(function() return rl.score(ref, ids) end)
    rt[i] = U.now() - t0
  end
  local lo, hi = minmax(st)
  print(string.format("rl_step_seconds\t%.3f\ts median (min %.3f, max %.3f) of %d steps; generation %.3f s, reference forward %.3f s (medians); %d prompts x %d samples x %d tokens, dim %d, %d layers",
    median(st), lo, hi, #st, median(gt), median(rt), R.prompts, R.k, R.new, R.dim, R.layers))
end
