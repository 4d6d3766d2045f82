-- experiments/fp8_adam_moments.lua: Adam's moments stored in FP8 (Fishman et
-- al., arXiv 2409.12517, Section 5: first moment m in E4M3, second moment v
-- in E5M2, trained on par with BF16 on Llama2-7B).
--
-- The same small Llama on character-level Tiny Shakespeare (same seed,
-- initialisation and batches), AdamW with m_format, v_format in
-- {fp32, e4m3fn, e5m2}: nine runs. optim.adamw keeps each moment as real
-- 1-byte codes with one fp32 scale per tensor (repro.optim; the casts inside
-- the optimizer are its own: see core/optim_moments.c). The model's numerics
-- are fp32 here, so the only difference between runs is the moment storage.
-- A run DIVERGES when its loss or a gradient is not finite; otherwise the
-- table reports its final validation loss.
local repro = require "repro"
local nn, optim, plot = repro.nn, repro.optim, repro.plot
local U = repro.util
local X = require "repro.fp8exp"

local FORMATS = { "fp32", "e4m3fn", "e5m2" }
local function preset(t)
  local p = { lr = 3e-3, weight_decay = 0.1, beta1 = 0.9, beta2 = 0.95, grad_clip = 1.0,
              formats = "fp32,e4m3fn,e5m2", figdir = "" }
  for k, v in pairs(t) do p[k] = v end
  return p
end

local exp = repro.experiment.new{
  name = "fp8_adam_moments", default = "fast", script = "experiments/fp8_adam_moments.lua", parts = true,
  cosmetic = { "figdir" },
  about = "Reproduces Section 5 of Fishman et al. 2024 (arXiv 2409.12517), Adam's moments in FP8: a small\n"
    .. "Llama on character-level Tiny Shakespeare trained with AdamW whose first and second moments are\n"
    .. "stored in fp32, e4m3fn or e5m2 (every pair; per-tensor scales), same seed and batches. Reports each\n"
    .. "pair's final validation loss or the step it diverged at, beside the paper's claim (m E4M3, v E5M2\n"
    .. "trains on par with BF16).",
  times = { smoke = "about 5 s (the test's preset)", fast = "about 3 min (155 s measured)", paper = "hours (not run by CI)" },
  presets = {
    smoke = preset { steps = 6, dim = 16, layers = 1, heads = 2, ffn = 32, seq_len = 16, batch = 2,
                     warmup = 2, eval_every = 3, eval_batches = 1 },
    fast = preset { steps = 600, dim = 64, layers = 2, heads = 4, ffn = 176, seq_len = 64, batch = 16,
                    warmup = 50, eval_every = 100, eval_batches = 8 },
    paper = preset { steps = 10000, dim = 256, layers = 6, heads = 8, ffn = 688, seq_len = 256, batch = 32,
                     lr = 1e-3, warmup = 500, eval_every = 500, eval_batches = 16 },
  },
  options = {
    steps = { help = "training steps per run", min = 1 },
    dim = { help = "model width", min = 1 },
    layers = { help = "transformer blocks", min = 1 },
    heads = { help = "attention heads (divide dim)", min = 1 },
    ffn = { help = "SwiGLU hidden width", min = 1 },
    seq_len = { help = "tokens per sequence", min = 1 },
    batch = { help = "sequences per batch", min = 1 },
    lr = { help = "peak learning rate", gt = 0 },
    warmup = { help = "linear warm-up steps", min = 0 },
    weight_decay = { help = "AdamW weight decay", min = 0 },
    beta1 = { help = "AdamW beta1", min = 0, lt = 1 },
    beta2 = { help = "AdamW beta2", min = 0, lt = 1 },
    grad_clip = { help = "global gradient-norm clip (0: off)", min = 0 },
    eval_every = { help = "steps between validation evaluations", min = 1 },
    eval_batches = { help = "validation batches per evaluation", min = 1 },
    formats = { help = "moment formats tried for m and for v (every pair)", list = true, choices = FORMATS },
    figdir = { help = "folder for the figure (default: figures/ for the preset unchanged, else --out)" },
  },
  check = function(c)
    if c.dim % c.heads ~= 0 then
      return string.format("invalid --heads %d: expected a divisor of --dim %d", c.heads, c.dim)
    end
  end,
}

-- What the paper says about each pair (only what it states; "-" = not reported).
local function paper_claim(m, v)
  if m == "fp32" and v == "fp32" then return "- (our baseline)" end
  if m == "e4m3fn" and v == "e5m2" then return "on par with BF16 (its choice, Llama2-7B; Fig. 6)" end
  return "-"
end

exp:run(function()
  local cfg = exp.config
  local formats = {}
  for f in tostring(cfg.formats):gmatch("[^,]+") do formats[#formats + 1] = f end
  local pairs_ = {}
  for _, m in ipairs(formats) do for _, v in ipairs(formats) do pairs_[#pairs_ + 1] = { m, v } end end
  exp:plan(#pairs_, #pairs_ * cfg.steps)

  local function one(m, v)
    local run = "m_" .. m .. "_v_" .. v
    local result_file = exp:path(run, "result.txt")
    if exp.resume and U.exists(result_file) then
      exp:skip_run(run, cfg.steps)
      local r = U.read_config(result_file)
      return { run = run, m = m, v = v, seconds = r.seconds, diverged = r.diverged,
               step = r.step, val = r.final_val_loss == r.final_val_loss and r.final_val_loss or nil }
    end
    local ctx = exp:begin_run(run, cfg.steps)
    io.stderr:write(string.format("%s: AdamW m=%s v=%s\n", ctx.label, m, v))
    local data = repro.data.shakespeare{ seq_len = cfg.seq_len, batch = cfg.batch, seed = cfg.seed }
    local model = nn.Llama{ vocab = data.vocab_size, dim = cfg.dim, layers = cfg.layers, heads = cfg.heads,
      ffn_dim = cfg.ffn, seq_len = cfg.seq_len, seed = cfg.seed }
    local opt = optim.adamw(model:parameters(), { lr = cfg.lr, betas = { cfg.beta1, cfg.beta2 },
      weight_decay = cfg.weight_decay, m_format = m, v_format = v })
    local t0 = U.now()
    local res = repro.train{ model = model, optimizer = opt, data = data, steps = cfg.steps,
      schedule = function(s) return cfg.lr * math.min(1, s / math.max(1, cfg.warmup)) end,
      eval_every = cfg.eval_every, eval_batches = cfg.eval_batches, grad_clip = cfg.grad_clip,
      log = exp:path(run, "log.tsv"), progress_every = math.max(1, cfg.steps // 3),
      checkpoint = exp:checkpoint_dir(run), resume = exp.resume, progress = ctx }
    local out = { run = run, m = m, v = v, seconds = U.now() - t0,
                  diverged = res.diverged, step = res.step, val = res.final_val_loss }
    U.write_config(result_file, { run = run, m = m, v = v, diverged = out.diverged, step = out.step,
      final_val_loss = out.val or 0 / 0, seconds = out.seconds })
    return out
  end

  local t_all = U.now()
  local results = {}
  exp:runs(pairs_, function(p) results[#results + 1] = one(p[1], p[2]) end)
  exp:check_interrupt("the table and figure")

  -- table: saved (TSV + text) and printed
  local rows, tsv_rows = {}, {}
  for _, r in ipairs(results) do
    local outcome = r.diverged and string.format("diverged at step %d", r.step) or string.format("val %.4f", r.val)
    rows[#rows + 1] = { r.m, r.v, outcome, paper_claim(r.m, r.v), r.seconds }
    tsv_rows[#tsv_rows + 1] = { r.m, r.v, r.diverged and 1 or 0, r.diverged and r.step or 0 / 0, r.val or 0 / 0 }
  end
  exp:write_tsv("moments.tsv", { "m_format", "v_format", "diverged", "diverged_step", "final_val_loss" }, tsv_rows)
  local head = string.format("fp8_adam_moments [%s]: AdamW moment storage, %d steps, dim %d, %d layer%s, fp32 model numerics; "
    .. "moment casts as in repro.optim (per-tensor scale); %.0f s", exp.pristine and exp.preset or exp:settings(), cfg.steps, cfg.dim, cfg.layers,
    cfg.layers == 1 and "" or "s", U.now() - t_all) .. "\nrevision: " .. tostring(exp.machine.git_revision)
  local text = X.format_table({ "m", "v", "ours", "paper (Fishman et al. 2024)", "seconds" }, rows)
  print(head)
  print(text)
  local figdir = X.figdir(exp, cfg)
  U.mkdir_p(figdir)
  U.write_file(exp:path("summary.txt"), head .. "\n" .. text .. "\n")
  U.write_file(U.join(figdir, "table.txt"), head .. "\n" .. text .. "\n")

  -- figure: validation loss against step for every pair, from the logs
  local series, any_div = {}, false
  for _, r in ipairs(results) do
    any_div = any_div or r.diverged
    local L = X.read_columns(exp:path(r.run, "log.tsv"))
    local xs, ys = {}, {}
    for i = 1, L._n do
      if L.val_loss[i] == L.val_loss[i] then xs[#xs + 1] = L.step[i]; ys[#ys + 1] = L.val_loss[i] end
    end
    if #xs == 0 then xs, ys = { 0 }, { 0 / 0 } end
    series[#series + 1] = { name = string.format("m %s, v %s%s", r.m, r.v,
      r.diverged and string.format(" (diverged at %d)", r.step) or ""), x = xs, y = ys, style = "linespoints" }
  end
  local res = plot.lines{ file = U.join(figdir, "moments.png"), key = "outside", width = 1100, height = 500,
    title = string.format("AdamW moments in FP8: validation loss [%s; fp32 model; moment casts scaled per tensor, never saturate]%s",
      exp:settings(), any_div and "" or " - NO RUN DIVERGED"),
    xlabel = "step", ylabel = "validation loss", series = series }
  print(X.figure_line(res) .. "; table: " .. U.join(figdir, "table.txt"))
  exp:write_results{ seconds = U.now() - t_all }
end)
