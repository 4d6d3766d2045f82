-- experiments/soap_lm.lua: SOAP against AdamW and Shampoo on language
-- modelling (Vyas, Morwani et al., "SOAP: Improving and Stabilizing Shampoo
-- using Adam", arXiv 2409.11321), at CPU scale.
--
--   repro experiments/soap_lm.lua                  # fast preset (default)
--   repro experiments/soap_lm.lua --preset paper   # hours; not run by CI
--   repro experiments/soap_lm.lua --preset smoke   # seconds; the test's preset
--
-- Harness: the Llama model of repro.nn on character-level Tiny Shakespeare,
-- as the FP8 experiment uses. Every run uses the same seed, so the same
-- initial weights, the same training batches in the same order, and the same
-- fixed validation set (eval_batches batches drawn once from the validation
-- split and reused at every evaluation, so curves are comparable point by point).
--
-- What runs:
--  1. Learning-rate sweep: AdamW, Shampoo (grafted to AdamW's per-layer update
--     norm) and SOAP, each over its grid `lrs.<optimizer>` (factor 2 apart,
--     the same grid for all three: Shampoo is grafted, so its step size is on
--     AdamW's scale; the fast grid {1.25e-3, 2.5e-3, 5e-3} was placed by a
--     pilot at batch 64 x 300 steps over {2.5e-3, 5e-3, 1e-2}, where AdamW's
--     best was the smallest rate and 1e-2 was best for none), with
--     precondition frequency `precondition_frequency` (10, the paper's).
--     The best rate of each optimizer is the one with the lowest final
--     validation loss; its run is the optimizer's curve.
--  2. Precondition-frequency ablation: SOAP and Shampoo at their best rates
--     with frequency in `freqs` (1, 10, 32, 100 as in the paper).
--  3. Efficiency: the steps and seconds each optimizer needs to reach AdamW's
--     final validation loss (repro.efficiency). Method `interp` (fast preset):
--     first crossing of the validation curve, linear interpolation between
--     evaluations; the learning rate is constant after warm-up so that a point
--     inside a run is a fair stand-in for a shorter run. Method `fit` (paper
--     preset, as the paper does): extra runs of fractions of the full length,
--     each with its own cosine schedule; final losses fitted by a + b·N^-β and
--     inverted at the target. Seconds = steps × that optimizer's training time
--     per step. Training time excludes evaluation.
--  4. Step cost: the three optimizers timed in interleaved rounds of
--     `precondition_frequency` steps each (one eigendecomposition per round),
--     so a change in machine load affects all three alike.
--
-- Time: all seconds are wall-clock, from repro.util's step timer (U.now, the
-- core's monotonic clock). The fast preset runs on one thread (threads = 1):
-- at this model size a second thread buys little, and one thread keeps the
-- timing comparable across optimizers on a shared machine.
--
-- Output (folder out/soap_lm/PRESET): runs/*.tsv (the trainer's log of every
-- run), runs.tsv, timing.tsv, efficiency.tsv, results.md, results_table.tsv,
-- results.txt, figures/*.{tsv,gp,png,svg}. The figures are drawn from the run
-- logs after all runs, and `repro figures out/soap_lm/fast/figures` redraws
-- them. The fast preset, run unchanged, also copies its figures and tables to
-- figures/soap_lm/. --resume reuses the run logs that are complete.
local repro = require "repro"
local nn, optim, data, U = repro.nn, repro.optim, repro.data, repro.util
local train = require "repro.train"
local plot = require "repro.plot"
local Eff = require "repro.efficiency"
local Experiment = require "repro.experiment"
local I = require "repro.train.interrupt"
local dist = require "repro.dist"

local M = {}

-- The paper's numbers (abstract of arXiv 2409.11321: 360M and 660M models,
-- large-batch regime; the models are trained on C4 with the T5 tokenizer).
-- Shown beside ours, never mixed into them.
M.PAPER = {
  cite = "Vyas, Morwani et al. 2024, SOAP: Improving and Stabilizing Shampoo using Adam, arXiv 2409.11321 (abstract)",
  setting = "360M and 660M parameter language models, C4 (T5 tokenizer), large-batch regime",
  soap_adamw_iters = "> 40%", soap_adamw_time = "> 35%",
  soap_shampoo_iters = "≈ 20%", soap_shampoo_time = "≈ 20%",
}

M.OPTIMIZERS = { "adamw", "shampoo", "soap" }
local LABEL = { adamw = "AdamW", shampoo = "Shampoo", soap = "SOAP" }
local COLOR = { adamw = "#1f77b4", shampoo = "#2ca02c", soap = "#d62728" }

local COMMON = {
  betas = { 0.95, 0.95 }, weight_decay = 0.0, eps = 1e-8, grad_clip = 1.0, min_lr_frac = 0.1,
  precondition_frequency = 10, freqs = { 1, 10, 32, 100 }, seed = 1, micro_batches = 0, shampoo_variant = "paper",
}

local function preset(t)
  local p = U.deepcopy(COMMON)
  for k, v in pairs(t) do p[k] = v end
  return p
end

M.PRESETS = {
  -- seconds: the smoke test's preset
  smoke = preset {
    model = { dim = 16, layers = 1, heads = 2, seq_len = 16 }, batch = 4, steps = 5, warmup = 1,
    schedule = "constant", eval_every = 2, eval_batches = 1, max_chars = 20000,
    lrs = { adamw = { 3e-3 }, shampoo = { 3e-3 }, soap = { 3e-3 } }, freqs = { 1, 10 },
    efficiency = "interp", fractions = { 0.6, 0.8 }, timing_rounds = 1, threads = 0, publish = "",
  },
  -- the default: at most 20 minutes on 2 cores
  fast = preset {
    model = { dim = 64, layers = 2, heads = 4, seq_len = 64 }, batch = 32, steps = 400, warmup = 20,
    schedule = "constant", eval_every = 20, eval_batches = 8, max_chars = 0,
    lrs = { adamw = { 1.25e-3, 2.5e-3, 5e-3 }, shampoo = { 1.25e-3, 2.5e-3, 5e-3 }, soap = { 1.25e-3, 2.5e-3, 5e-3 } },
    efficiency = "interp", fractions = { 0.5, 0.625, 0.75, 0.875 }, timing_rounds = 4, threads = 1,
    publish = "figures/soap_lm",
  },
  -- hours: a larger model, longer runs, the paper's fit method (not run by CI)
  paper = preset {
    model = { dim = 256, layers = 6, heads = 8, seq_len = 256 }, batch = 64, steps = 5000, warmup = 250,
    schedule = "cosine", eval_every = 100, eval_batches = 32, max_chars = 0,
    lrs = { adamw = { 1e-3, 2e-3, 4e-3, 8e-3 }, shampoo = { 1e-3, 2e-3, 4e-3, 8e-3 }, soap = { 1e-3, 2e-3, 4e-3, 8e-3 } },
    efficiency = "fit", fractions = { 0.5, 0.625, 0.75, 0.875 }, timing_rounds = 8, threads = 1, publish = "",
  },
}

-- Every preset field, its help line and its valid range (repro.experiment).
M.OPTIONS = {
  steps = { help = "training steps per run", min = 2 },
  seed = { help = "random seed: initial weights and batches", min = 0 },
  ["model.dim"] = { help = "model width", min = 1 },
  ["model.layers"] = { help = "transformer blocks", min = 1 },
  ["model.heads"] = { help = "attention heads (divide model.dim)", min = 1 },
  ["model.seq_len"] = { help = "tokens per sequence", min = 1 },
  batch = { help = "sequences per batch", min = 1 },
  warmup = { help = "linear warm-up steps", min = 0 },
  schedule = { help = "learning rate after the warm-up", choices = { "constant", "cosine" } },
  min_lr_frac = { help = "cosine schedule: final learning rate as a fraction of the peak", min = 0, max = 1 },
  eval_every = { help = "steps between validation evaluations", min = 1 },
  eval_batches = { help = "fixed validation batches", min = 1 },
  max_chars = { help = "characters of Tiny Shakespeare used (0: all)", min = 0 },
  betas = { help = "beta1,beta2 of all three optimizers", min = 0, lt = 1 },
  eps = { help = "epsilon of all three optimizers", gt = 0 },
  weight_decay = { help = "decoupled weight decay", min = 0 },
  grad_clip = { help = "global gradient-norm clip (0: off)", min = 0 },
  ["lrs.adamw"] = { help = "AdamW learning-rate grid", gt = 0 },
  ["lrs.shampoo"] = { help = "Shampoo learning-rate grid", gt = 0 },
  ["lrs.soap"] = { help = "SOAP learning-rate grid", gt = 0 },
  precondition_frequency = { help = "steps between eigendecompositions (the sweep's)", min = 1 },
  shampoo_variant = { help = "Shampoo as the paper ran it (DistributedShampoo settings) or the kit's variant",
                      choices = { "paper", "kit" } },
  freqs = { help = "precondition frequencies of the ablation", min = 1 },
  efficiency = { help = "how steps to AdamW's loss are found: interp (curve crossing) or fit (extra runs, power law)",
                 choices = { "interp", "fit" } },
  fractions = { help = "fit method: run lengths as fractions of steps", gt = 0, lt = 1 },
  timing_rounds = { help = "interleaved timing rounds of the step cost", min = 1 },
  threads = { help = "threads (0: leave as set by REPRO_THREADS)", min = 0 },
  micro_batches = { help = "micro-batches per batch, gradients folded in order (0: one per process; docs/dist.md)", min = 0 },
  publish = { help = "folder under the source tree the preset's figures are copied to (\"\": none)" },
}

M.TIMES = { smoke = "about 5 s (the test's preset)", fast = "about 4 min (3 min 31 s measured)", paper = "hours (not run by CI)" }

local function finite(x) return type(x) == "number" and x == x and x ~= math.huge and x ~= -math.huge end
local function fmt_pct(x) return finite(x) and string.format("%.1f%%", x) or "n/a" end
local function fmt_num(x, f) return finite(x) and string.format(f or "%.4f", x) or "n/a" end

-- ---- data and model ---------------------------------------------------------

-- Token ids of Tiny Shakespeare, split once.
local function load_corpus(cfg)
  local L = data.shakespeare{ seq_len = cfg.model.seq_len, batch = cfg.batch, seed = cfg.seed,
                              max_chars = cfg.max_chars > 0 and cfg.max_chars or nil }
  local val = {}
  for i = 1, cfg.eval_batches do
    local x, y = L:batch("val", cfg.batch)
    val[i] = { x, y }
  end
  return { train = L.splits.train, val_ids = L.splits.val, vocab = L.vocab_size, val = val }
end

-- A loader whose train batches depend only on the seed, and whose "val"
-- batches cycle through the fixed validation set.
local function make_loader(corpus, cfg)
  local L = data.loader{ train = corpus.train, val = corpus.val_ids, seq_len = cfg.model.seq_len,
                         batch = cfg.batch, seed = cfg.seed, vocab_size = corpus.vocab }
  local k = 0
  local w = setmetatable({}, { __index = L })
  function w.batch(_, split, B)
    if split == "val" then
      k = k % #corpus.val + 1
      return corpus.val[k][1], corpus.val[k][2]
    end
    return L:batch(split, B)
  end
  return w
end

local function make_model(corpus, cfg)
  local m = cfg.model
  return nn.Llama{ vocab = corpus.vocab, dim = m.dim, layers = m.layers, heads = m.heads,
                   seq_len = m.seq_len, seed = cfg.seed }
end

-- Shampoo variants (--shampoo_variant). "paper": the SOAP paper's baseline,
-- DistributedShampoo (facebookresearch/optimizers) with layer-wise Adam
-- grafting, exponent -1/2.5 per side, grafted AdamW alone until the first
-- preconditioning at step f (start_preconditioning_step -1), and
-- DistributedShampoo's default epsilon 1e-12 on the bias-corrected factors.
-- "kit": the kit's own variant (exponent -1/4, epsilon 1e-6 relative to the
-- largest eigenvalue, roots from step 1). Sources: lua/repro/optim.lua's header.
M.SHAMPOO_VARIANTS = {
  paper = { exponent = -1 / 2.5, start_preconditioning_step = -1, matrix_eps = 1e-12, matrix_eps_relative = false },
  kit = { exponent = -0.25, start_preconditioning_step = 1, matrix_eps = 1e-6, matrix_eps_relative = true },
}

local function make_optimizer(kind, params, lr, freq, cfg)
  local o = { lr = lr, betas = { cfg.betas[1], cfg.betas[2] }, eps = cfg.eps, weight_decay = cfg.weight_decay }
  if kind ~= "adamw" then o.precondition_frequency = freq end
  if kind == "shampoo" then
    o.graft = true
    for k, v in pairs(M.SHAMPOO_VARIANTS[cfg.shampoo_variant]) do o[k] = v end
  end
  return optim[kind](params, o)
end

-- lr at the trainer's step number s = 1, 2, ... (as repro.optim.schedule counts).
local function make_schedule(cfg, lr, steps)
  local warm = math.min(cfg.warmup, steps - 1)
  local f
  if cfg.schedule == "cosine" and steps > warm then
    f = optim.schedule.warmup_cosine{ lr = lr, warmup = warm, total = steps, min_lr = lr * cfg.min_lr_frac }
  elseif cfg.schedule == "constant" or cfg.schedule == "cosine" then
    f = optim.schedule.linear_warmup{ lr = lr, warmup = warm }
  else
    error("soap_lm: schedule must be 'constant' or 'cosine', got " .. tostring(cfg.schedule), 0)
  end
  return f
end

-- ---- runs -------------------------------------------------------------------

local function run_name(kind, lr, freq, steps)
  local s = string.format("%s_lr%g", kind, lr)
  if kind ~= "adamw" then s = s .. "_f" .. freq end
  if steps then s = s .. "_n" .. steps end
  return s
end

-- Read a run back from its trainer log: the curve (evaluation points), the
-- cumulative training seconds at those points, the final validation loss
-- (+inf when the run diverged or stopped early) and the step times.
local function load_run(path, steps)
  local tsv = U.read_tsv(path)
  if not tsv or #tsv.rows == 0 then return nil end
  local col = {}
  for i, c in ipairs(tsv.columns) do col[c] = i end
  local r = { steps = {}, loss = {}, seconds = {}, step_times = {}, final = math.huge, log = path }
  local cum, diverged = 0, false
  for _, row in ipairs(tsv.rows) do
    local dt = row[col.step_time]
    cum = cum + (finite(dt) and dt or 0)
    r.step_times[#r.step_times + 1] = dt
    if not finite(row[col.train_loss]) then diverged = true end
    local v = row[col.val_loss]
    if finite(v) then
      r.steps[#r.steps + 1], r.loss[#r.loss + 1], r.seconds[#r.seconds + 1] = row[col.step], v, cum
    end
  end
  local last = tsv.rows[#tsv.rows][col.step]
  r.complete = last == steps and not diverged
  r.diverged = diverged
  if r.complete and #r.loss > 0 then r.final = r.loss[#r.loss] end
  r.train_seconds = cum
  r.sec_per_step = cum / #tsv.rows
  return r
end

local function do_run(ctx, spec)
  local cfg, exp = ctx.cfg, ctx.exp
  local log = exp:path("runs", spec.name .. ".tsv")
  local done = exp:path("runs", spec.name .. ".done")
  -- several processes: every rank decides from rank 0's files
  if dist.size() > 1 and exp.resume then dist.share_file(log); dist.share_file(done) end
  if exp.resume and U.exists(done) then
    local old = load_run(log, spec.steps)
    if old then
      exp:skip_run(spec.name, spec.steps)
      ctx.nreused = ctx.nreused + 1
      old.diverged = old.diverged or not old.complete
      return old
    end
  end
  ctx.nrun = ctx.nrun + 1
  local pc = exp:begin_run(spec.name, spec.steps)
  io.stderr:write(string.format("[soap_lm] %s (lr %g%s, %d steps)\n", pc.label, spec.lr,
    spec.kind ~= "adamw" and (", precondition frequency " .. spec.freq) or "", spec.steps))
  local model = make_model(ctx.corpus, cfg)
  local opt = make_optimizer(spec.kind, model:parameters(), spec.lr, spec.freq, cfg)
  local ok, err = pcall(train, {
    model = model, optimizer = opt, data = make_loader(ctx.corpus, cfg), steps = spec.steps, batch = cfg.batch,
    schedule = make_schedule(cfg, spec.lr, spec.steps), eval_every = math.min(cfg.eval_every, spec.steps),
    eval_batches = cfg.eval_batches, grad_clip = cfg.grad_clip, log = log,
    progress_every = math.max(1, spec.steps // 4), progress = pc,
    checkpoint = exp:checkpoint_dir(spec.name), resume = exp.resume,
    micro_batches = cfg.micro_batches > 0 and cfg.micro_batches or dist.size(),
  })
  model, opt = nil, nil
  collectgarbage()
  if not ok then
    if I.is(err) then error(err, 0) end   -- stopped by a signal: neither finished nor diverged
    -- an optimizer refusing a non-finite gradient ends the run: a divergence
    io.stderr:write(string.format("[soap_lm] %s stopped: %s\n", spec.name, tostring(err)))
  end
  local r = load_run(log, spec.steps) or { steps = {}, loss = {}, seconds = {}, final = math.huge,
                                           complete = false, diverged = true, sec_per_step = 0 / 0 }
  r.diverged = r.diverged or not ok
  U.write_file(done, "")
  io.stderr:write(string.format("[soap_lm] %s: final val loss %s%s\n", spec.name, fmt_num(r.final),
    r.complete and "" or " (diverged)"))
  return r
end

-- ---- step cost --------------------------------------------------------------

-- Interleaved timing: rounds of `freq` full steps (batch, forward, backward,
-- optimizer step) per optimizer; the first round is a warm-up and not counted.
local function time_steps(ctx, best_lr)
  local cfg = ctx.cfg
  local freq = cfg.precondition_frequency
  local st = {}
  for _, kind in ipairs(M.OPTIMIZERS) do
    local model = make_model(ctx.corpus, cfg)
    st[kind] = { model = model, opt = make_optimizer(kind, model:parameters(), best_lr[kind], freq, cfg),
                 loader = make_loader(ctx.corpus, cfg), total = 0, opt_total = 0, n = 0 }
  end
  for round = 0, cfg.timing_rounds do
    ctx.exp:check_interrupt("the timing of the step cost")
    for _, kind in ipairs(M.OPTIMIZERS) do
      local s = st[kind]
      for _ = 1, freq do
        local t0 = U.now()
        local x, y = s.loader:batch("train", cfg.batch)
        s.opt:zero_grad()
        local loss = s.model:loss(x, y)
        loss:backward()
        local t1 = U.now()
        s.opt:step()
        local t2 = U.now()
        if round > 0 then s.total, s.opt_total, s.n = s.total + (t2 - t0), s.opt_total + (t2 - t1), s.n + 1 end
      end
    end
  end
  local out = {}
  for _, kind in ipairs(M.OPTIMIZERS) do
    local s = st[kind]
    out[kind] = { step_ms = 1e3 * s.total / math.max(1, s.n), opt_ms = 1e3 * s.opt_total / math.max(1, s.n), n = s.n }
  end
  for _, kind in ipairs(M.OPTIMIZERS) do out[kind].ratio = out[kind].step_ms / out.adamw.step_ms end
  collectgarbage()
  return out
end

-- ---- figures and tables -------------------------------------------------------

local SECONDS = "training wall-clock seconds"

local function series_of(run, kind, xkey)
  return { name = LABEL[kind], x = run[xkey], y = run.loss, color = COLOR[kind] }
end

local function verdict(p, what)
  if not finite(p) then return "does not reach AdamW's final loss" end
  if p >= 0 then return string.format("needs %.0f%% fewer %s than AdamW", p, what) end
  return string.format("needs %.0f%% more %s than AdamW", -p, what)
end

local function draw_figures(ctx, res)
  local dir = ctx.exp:path("figures")
  local best, eff, N = res.best, res.eff, ctx.cfg.steps
  local scale = string.format("Ours: %s-param Llama, char Tiny Shakespeare, batch %dx%d tokens%s",
    res.param_str, ctx.cfg.batch, ctx.cfg.model.seq_len, ctx.exp.pristine and "" or (" [" .. ctx.exp:settings() .. "]"))
  local s_steps, s_secs = {}, {}
  for _, k in ipairs(M.OPTIMIZERS) do
    if #best[k].run.steps > 0 then
      s_steps[#s_steps + 1] = series_of(best[k].run, k, "steps")
      s_secs[#s_secs + 1] = series_of(best[k].run, k, "seconds")
    end
  end
  local short = string.format("Ours: %s-param Llama, char Tiny Shakespeare%s", res.param_str,
    ctx.exp.pristine and "" or (" [" .. ctx.exp:settings() .. "]"))
  local out = {}
  -- (1) the paper's Figure 1: validation loss against steps and wall-clock
  out.curves = plot.panels{ file = U.join(dir, "soap_lm_curves"), cols = 2,
    title = "Validation loss, best learning rate of each optimizer. " .. scale,
    panels = {
      { kind = "lines", title = "against steps", xlabel = "step", ylabel = "validation loss", series = s_steps },
      { kind = "lines", title = "against training wall-clock", xlabel = SECONDS,
        ylabel = "validation loss", series = s_secs },
    } }
  -- (2) final loss against precondition frequency
  local fs = {}
  local flo, fhi = math.huge, -math.huge
  if finite(best.adamw.run.final) then flo, fhi = best.adamw.run.final, best.adamw.run.final end
  for _, k in ipairs { "shampoo", "soap" } do
    local xs, ys = {}, {}
    for _, f in ipairs(res.freqs) do
      local r = res.ablation[k][f]
      if r and finite(r.final) then
        xs[#xs + 1], ys[#ys + 1] = f, r.final
        flo, fhi = math.min(flo, r.final), math.max(fhi, r.final)
      end
    end
    if #xs > 0 then fs[#fs + 1] = { name = LABEL[k], x = xs, y = ys, color = COLOR[k], style = "linespoints" } end
  end
  if #fs > 0 then
    local pad = 0.1 * (fhi - flo) + 1e-3
    out.frequency = plot.lines{ file = U.join(dir, "soap_lm_frequency"), logx = true,
      yrange = { flo - pad, fhi + pad },
      title = "Final val loss vs precondition frequency (lr: best at " .. ctx.cfg.precondition_frequency
        .. "). " .. short,
      xlabel = "precondition frequency (steps)", ylabel = "final validation loss", series = fs,
      annotations = finite(best.adamw.run.final) and { { hline = best.adamw.run.final, text = "AdamW" } } or nil }
  end
  -- (3) steps and seconds to reach AdamW's final loss
  local target = eff.target
  if finite(target) then
    local lo, hi = math.huge, -math.huge
    for _, k in ipairs(M.OPTIMIZERS) do
      for _, v in ipairs(best[k].run.loss) do if finite(v) then lo, hi = math.min(lo, v), math.max(hi, v) end end
    end
    local yr = { lo - 0.02, math.min(hi, target + 0.5) }
    -- each crossing: a dashed vertical line, and its value written above the target line
    local av_s, av_t = { { hline = target } }, { { hline = target } }
    for i, k in ipairs(M.OPTIMIZERS) do
      local e, y = eff[k], target + (yr[2] - target) * (0.15 + 0.12 * (i - 1))
      -- a label that starts at its line, or ends there when the line is near the right edge
      local function at(x, xmax) return x > 0.8 * xmax and x - 0.22 * xmax or x end
      if finite(e.steps) then
        av_s[#av_s + 1] = { vline = e.steps }
        av_s[#av_s + 1] = { text = string.format(" %s %.0f", LABEL[k], e.steps), x = at(e.steps, N), y = y }
      end
      if finite(e.seconds) then
        local tmax = 0
        for _, kk in ipairs(M.OPTIMIZERS) do local r = best[kk].run.seconds tmax = math.max(tmax, r[#r] or 0) end
        av_t[#av_t + 1] = { vline = e.seconds }
        av_t[#av_t + 1] = { text = string.format(" %s %.1fs", LABEL[k], e.seconds), x = at(e.seconds, tmax), y = y }
      end
    end
    local function pcts(key)
      return string.format("vs AdamW: SOAP %s, Shampoo %s", fmt_pct(eff.soap[key]), fmt_pct(eff.shampoo[key]))
    end
    out.efficiency = plot.panels{ file = U.join(dir, "soap_lm_efficiency"), cols = 2,
      title = string.format("Steps and seconds to reach AdamW's final validation loss %.4f (dashed). %s", target, scale),
      panels = {
        { kind = "lines", title = "fewer iterations " .. pcts("pct_steps"), xlabel = "step", ylabel = "validation loss",
          series = s_steps, yrange = yr, annotations = av_s },
        { kind = "lines", title = "less time " .. pcts("pct_seconds"), xlabel = SECONDS, ylabel = "validation loss",
          series = s_secs, yrange = yr, annotations = av_t },
      } }
  end
  -- learning-rate sweep
  local ls = {}
  for _, k in ipairs(M.OPTIMIZERS) do
    local xs, ys = {}, {}
    for _, e in ipairs(res.sweep[k]) do
      if finite(e.run.final) then xs[#xs + 1], ys[#ys + 1] = e.lr, e.run.final end
    end
    if #xs > 0 then ls[#ls + 1] = { name = LABEL[k], x = xs, y = ys, color = COLOR[k], style = "linespoints" } end
  end
  if #ls > 0 then
    out.lr_sweep = plot.lines{ file = U.join(dir, "soap_lm_lr_sweep"), logx = true,
      title = "Learning-rate sweep: final validation loss (diverged runs omitted). " .. short,
      xlabel = "peak learning rate", ylabel = "final validation loss", series = ls }
  end
  return out
end

local function tables(ctx, res)
  local eff, tm, P = res.eff, res.timing, M.PAPER
  local md = {}
  local function add(s) md[#md + 1] = s end
  add(string.format("### SOAP vs AdamW vs Shampoo: ours (%s) beside the paper's",
    ctx.exp.pristine and ("preset `" .. ctx.exp.preset .. "`") or ctx.exp:settings()))
  add("")
  add(string.format("Ours: %s. Target: AdamW's final validation loss %s. Method: %s.", res.setting,
    fmt_num(eff.target), res.method_text))
  add(string.format("Paper: %s; numbers from %s.", P.setting, P.cite))
  add("")
  add("| comparison | ours: fewer iterations | ours: less wall-clock | paper: fewer iterations | paper: less wall-clock |")
  add("|---|---|---|---|---|")
  local rows = {
    { "SOAP vs AdamW", eff.soap.pct_steps, eff.soap.pct_seconds, P.soap_adamw_iters, P.soap_adamw_time },
    { "SOAP vs Shampoo", eff.soap_vs_shampoo.pct_steps, eff.soap_vs_shampoo.pct_seconds, P.soap_shampoo_iters, P.soap_shampoo_time },
    { "Shampoo vs AdamW", eff.shampoo.pct_steps, eff.shampoo.pct_seconds, "not in the abstract", "not in the abstract" },
  }
  local tsv = { { "comparison", "ours_fewer_iterations_pct", "ours_less_wallclock_pct", "paper_fewer_iterations", "paper_less_wallclock" } }
  for _, r in ipairs(rows) do
    add(string.format("| %s | %s | %s | %s | %s |", r[1], fmt_pct(r[2]), fmt_pct(r[3]), r[4], r[5]))
    tsv[#tsv + 1] = { r[1], U.tsv_number(r[2] or 0 / 0), U.tsv_number(r[3] or 0 / 0), r[4], r[5] }
  end
  add("")
  add("Negative percentages mean more iterations / more time than the baseline; n/a: the target was not reached.")
  add("")
  add("| optimizer | best lr (grid) | final val loss | steps to target | seconds to target | ms/step (interleaved) | step cost vs AdamW | optimizer step ms |")
  add("|---|---|---|---|---|---|---|---|")
  for _, k in ipairs(M.OPTIMIZERS) do
    local grid = {}
    for _, e in ipairs(res.sweep[k]) do grid[#grid + 1] = string.format("%g", e.lr) end
    add(string.format("| %s | %g (%s) | %s | %s | %s | %s | %sx | %s |", LABEL[k], res.best[k].lr, table.concat(grid, ", "),
      fmt_num(res.best[k].run.final), fmt_num(eff[k].steps, "%.0f"), fmt_num(eff[k].seconds, "%.1f"),
      fmt_num(tm[k].step_ms, "%.1f"), fmt_num(tm[k].ratio, "%.2f"), fmt_num(tm[k].opt_ms, "%.2f")))
  end
  add("")
  add("| precondition frequency | SOAP final val loss | Shampoo final val loss |")
  add("|---|---|---|")
  for _, f in ipairs(res.freqs) do
    local a, b = res.ablation.soap[f], res.ablation.shampoo[f]
    add(string.format("| %d | %s | %s |", f, a and (a.complete and fmt_num(a.final) or "diverged") or "n/a",
      b and (b.complete and fmt_num(b.final) or "diverged") or "n/a"))
  end
  local text = table.concat(md, "\n") .. "\n"
  U.write_file_atomic(ctx.exp:path("results.md"), text)
  local lines = {}
  for i, r in ipairs(tsv) do lines[i] = table.concat(r, "\t") end
  U.write_file_atomic(ctx.exp:path("results_table.tsv"), table.concat(lines, "\n") .. "\n")
  return text
end

-- ---- main -------------------------------------------------------------------

-- args: list of strings (the script's flags); opts.exit = false raises on bad
-- flags instead of exiting; opts.stdout: where the tables and summary go
-- (default io.stdout). Returns the results table.
function M.main(args, opts)
  opts = opts or {}
  local exp = Experiment.new{ name = "soap_lm", script = "experiments/soap_lm.lua", args = args,
    exit = opts.exit, default = "fast", presets = M.PRESETS, options = M.OPTIONS, times = M.TIMES,
    about = "Reproduces SOAP vs AdamW vs Shampoo on language modelling (Vyas et al. 2024, arXiv 2409.11321) at\n"
      .. "CPU scale: a small Llama on character-level Tiny Shakespeare; a learning-rate sweep of each optimizer,\n"
      .. "the precondition-frequency ablation, the steps and wall-clock each needs to reach AdamW's final\n"
      .. "validation loss (\"% fewer iterations\"), and the step cost timed in interleaved rounds.",
    check = function(c)
      if c.model.dim % c.model.heads ~= 0 then
        return string.format("invalid --model.heads %d: expected a divisor of --model.dim %d", c.model.heads, c.model.dim)
      end
      local mb = c.micro_batches > 0 and c.micro_batches or dist.size()
      if mb % dist.size() ~= 0 or c.batch % mb ~= 0 then
        return string.format("invalid --micro_batches %d: expected a multiple of the %d processes that divides --batch %d",
          mb, dist.size(), c.batch)
      end
      if #c.betas ~= 2 then return "invalid --betas '" .. table.concat(c.betas, ",") .. "': expected two numbers beta1,beta2" end
    end }
  if not exp then return nil end
  return exp:run(function() return M.body(exp, opts) end)
end

function M.body(exp, opts)
  local t_all = U.timer()
  local cfg = exp.config
  if cfg.threads > 0 then repro.set_threads(cfg.threads) end
  local wall0 = os.time()
  io.stderr:write(tostring(exp), "\n")
  local ctx = { exp = exp, cfg = cfg, nrun = 0, nreused = 0, corpus = load_corpus(cfg) }
  U.mkdir_p(exp:path("runs"))
  local freq0, N = cfg.precondition_frequency, cfg.steps
  local res = { sweep = {}, best = {}, ablation = { soap = {}, shampoo = {} }, freqs = {} }
  local probe = make_model(ctx.corpus, cfg)
  local nparam = probe:num_parameters()
  probe = nil
  -- the plan: the sweep, the ablation at the best rates, the fit's shorter runs
  local nsweep, nabl, units = 0, 0, 0
  for _, k in ipairs(M.OPTIMIZERS) do nsweep = nsweep + #cfg.lrs[k] end
  local seen = {}
  for _, f in ipairs(cfg.freqs) do if f ~= freq0 and not seen[f] then seen[f] = true; nabl = nabl + 2 end end
  units = (nsweep + nabl) * N
  local nfit = 0
  if cfg.efficiency == "fit" then
    for _, fr in ipairs(cfg.fractions) do
      nfit = nfit + 3
      units = units + 3 * math.max(2, math.floor(fr * N + 0.5))
    end
  end
  exp:plan(nsweep + nabl + nfit, units)
  res.param_str = nparam >= 1e6 and string.format("%.1fM", nparam / 1e6) or string.format("%.0fk", nparam / 1e3)
  res.setting = string.format("%s-parameter Llama (dim %d, %d layer%s, %d heads), char-level Tiny Shakespeare, "
    .. "batch %d x %d tokens, %d steps, %s schedule, %s", res.param_str, cfg.model.dim, cfg.model.layers,
    cfg.model.layers == 1 and "" or "s", cfg.model.heads, cfg.batch, cfg.model.seq_len, N, cfg.schedule,
    repro.get_threads() == 1 and "1 thread" or (repro.get_threads() .. " threads"))
  -- 1. learning-rate sweep
  for _, k in ipairs(M.OPTIMIZERS) do
    res.sweep[k] = {}
    for _, lr in ipairs(cfg.lrs[k]) do
      local r = do_run(ctx, { name = run_name(k, lr, freq0), kind = k, lr = lr, freq = freq0, steps = N })
      res.sweep[k][#res.sweep[k] + 1] = { lr = lr, run = r }
      if not res.best[k] or r.final < res.best[k].run.final then res.best[k] = { lr = lr, run = r } end
    end
  end
  -- 2. precondition-frequency ablation at the best rates
  local fseen = {}
  for _, f in ipairs(cfg.freqs) do if not fseen[f] then fseen[f] = true; res.freqs[#res.freqs + 1] = f end end
  table.sort(res.freqs)
  for _, k in ipairs { "soap", "shampoo" } do
    for _, f in ipairs(res.freqs) do
      if f == freq0 then res.ablation[k][f] = res.best[k].run
      else res.ablation[k][f] = do_run(ctx, { name = run_name(k, res.best[k].lr, f), kind = k, lr = res.best[k].lr, freq = f, steps = N }) end
    end
  end
  -- 3. efficiency against AdamW's final loss
  local eff = { target = res.best.adamw.run.final }
  if cfg.efficiency == "interp" then
    res.method_text = "first crossing of the validation curve, linear interpolation between evaluations every "
      .. cfg.eval_every .. " steps"
    local curves = {}
    for _, k in ipairs(M.OPTIMIZERS) do curves[k] = res.best[k].run end
    local reach = finite(eff.target) and Eff.reach(curves, eff.target) or {}
    for _, k in ipairs(M.OPTIMIZERS) do eff[k] = reach[k] or {} end
  else
    res.method_text = "fit of a + b·N^-β to final losses of runs of fractions " .. table.concat(cfg.fractions, ", ")
      .. " and 1 of the steps, inverted at the target"
    eff.fits = {}
    for _, k in ipairs(M.OPTIMIZERS) do
      local ns, ls = {}, {}
      for _, fr in ipairs(cfg.fractions) do
        local n = math.max(2, math.floor(fr * N + 0.5))
        local r = do_run(ctx, { name = run_name(k, res.best[k].lr, freq0, n), kind = k, lr = res.best[k].lr, freq = freq0, steps = n })
        ns[#ns + 1], ls[#ls + 1] = n, r.final
      end
      ns[#ns + 1], ls[#ls + 1] = N, res.best[k].run.final
      local fit = Eff.fit_power(ns, ls)
      eff.fits[k] = fit
      local n = fit and finite(eff.target) and Eff.invert_power(fit, eff.target) or nil
      eff[k] = { steps = n, seconds = n and n * res.best[k].run.sec_per_step or nil }
    end
  end
  local function pct(ref, k)
    return { pct_steps = Eff.savings(eff[ref].steps, eff[k].steps), pct_seconds = Eff.savings(eff[ref].seconds, eff[k].seconds) }
  end
  for _, k in ipairs(M.OPTIMIZERS) do
    local p = pct("adamw", k)
    eff[k].pct_steps, eff[k].pct_seconds = p.pct_steps, p.pct_seconds
  end
  eff.soap_vs_shampoo = pct("shampoo", "soap")
  res.eff = eff
  -- 4. step cost
  local best_lr = {}
  for _, k in ipairs(M.OPTIMIZERS) do best_lr[k] = res.best[k].lr end
  exp:check_interrupt("the timing of the step cost")
  io.stderr:write("[soap_lm] timing the three optimizers in interleaved rounds\n")
  res.timing = time_steps(ctx, best_lr)
  -- files
  local lines = { "optimizer\tlr\tprecondition_frequency\tsteps\tfinal_val_loss\ttrain_seconds\tms_per_step\tcomplete" }
  local function add_row(kind, lr, f, r)
    lines[#lines + 1] = table.concat({ kind, U.tsv_number(lr), U.tsv_number(f), U.tsv_number(N), U.tsv_number(r.final),
      U.tsv_number(r.train_seconds or 0 / 0), U.tsv_number(1e3 * (r.sec_per_step or 0 / 0)), r.complete and "1" or "0" }, "\t")
  end
  for _, k in ipairs(M.OPTIMIZERS) do
    for _, e in ipairs(res.sweep[k]) do add_row(k, e.lr, freq0, e.run) end
  end
  for _, k in ipairs { "soap", "shampoo" } do
    for _, f in ipairs(res.freqs) do
      if f ~= freq0 then add_row(k, res.best[k].lr, f, res.ablation[k][f]) end
    end
  end
  U.write_file_atomic(exp:path("runs.tsv"), table.concat(lines, "\n") .. "\n")
  local trows, erows = {}, {}
  for i, k in ipairs(M.OPTIMIZERS) do
    local t = res.timing[k]
    trows[i] = { i, t.step_ms, t.opt_ms, t.ratio, t.n }
    erows[i] = { i, res.best[k].lr, res.best[k].run.final, eff[k].steps or 0 / 0, eff[k].seconds or 0 / 0,
                 eff[k].pct_steps, eff[k].pct_seconds }
  end
  exp:write_tsv("timing.tsv", { "optimizer(1=adamw,2=shampoo,3=soap)", "step_ms", "optimizer_step_ms", "ratio_vs_adamw", "steps_timed" }, trows)
  exp:write_tsv("efficiency.tsv", { "optimizer(1=adamw,2=shampoo,3=soap)", "best_lr", "final_val_loss", "steps_to_target",
    "seconds_to_target", "pct_fewer_iterations_vs_adamw", "pct_less_wallclock_vs_adamw" }, erows)
  res.figures = draw_figures(ctx, res)
  local md = tables(ctx, res)
  local results = { target_loss = eff.target, method = cfg.efficiency,
    soap_vs_adamw_fewer_iterations_pct = eff.soap.pct_steps, soap_vs_adamw_less_wallclock_pct = eff.soap.pct_seconds,
    shampoo_vs_adamw_fewer_iterations_pct = eff.shampoo.pct_steps, shampoo_vs_adamw_less_wallclock_pct = eff.shampoo.pct_seconds,
    soap_vs_shampoo_fewer_iterations_pct = eff.soap_vs_shampoo.pct_steps, soap_vs_shampoo_less_wallclock_pct = eff.soap_vs_shampoo.pct_seconds,
    runs = ctx.nrun, runs_reused = ctx.nreused, parameters = nparam }
  for _, k in ipairs(M.OPTIMIZERS) do
    results[k .. ".best_lr"] = res.best[k].lr
    results[k .. ".final_val_loss"] = res.best[k].run.final
    results[k .. ".step_ms"] = res.timing[k].step_ms
    results[k .. ".step_cost_vs_adamw"] = res.timing[k].ratio
  end
  res.total_seconds = t_all:elapsed()
  res.wall_seconds = os.difftime(os.time(), wall0)
  results.total_seconds = res.total_seconds
  results.total_wall_seconds = res.wall_seconds
  results.clock = "wall-clock (monotonic)"
  for k, v in pairs(results) do if type(v) == "number" and v ~= v then results[k] = "nan" end end
  exp:write_results(results)
  -- publish the fast preset's figures and tables
  if cfg.publish ~= "" then
    if exp.pristine then
      local dest = U.join(U.source_dir(), cfg.publish)
      U.mkdir_p(dest)
      U.run("cp -- " .. U.shell_quote(exp:path("figures")) .. "/soap_lm_* " .. U.shell_quote(exp:path("results.md")) .. " "
        .. U.shell_quote(exp:path("results_table.tsv")) .. " " .. U.shell_quote(dest) .. "/")
      io.stderr:write("[soap_lm] figures and tables copied to " .. dest .. "\n")
    else
      io.stderr:write("[soap_lm] settings differ from the preset: figures stay in " .. exp:path("figures") .. "\n")
    end
  end
  local so = opts.stdout or io.stdout
  so:write("\n", md, "\n")
  -- one verdict when neither steps nor time reach the target, two otherwise
  local says = (finite(eff.soap.pct_steps) or finite(eff.soap.pct_seconds))
    and string.format("%s (%s) and %s", verdict(eff.soap.pct_steps, "steps"), res.method_text, verdict(eff.soap.pct_seconds, "wall-clock"))
    or string.format("%s (%s)", verdict(eff.soap.pct_steps, "steps"), res.method_text)
  so:write(string.format("soap_lm: %d run%s trained, %s wall-clock (%s by the step timer); SOAP %s; results in %s\n", ctx.nrun,
    ctx.nrun == 1 and "" or "s", U.format_duration(res.wall_seconds), U.format_duration(res.total_seconds), says, exp.out))
  res.exp = exp
  return res
end

if select(1, ...) == "soap_lm.module" then return M end
local a = {}
if type(arg) == "table" then for i = 1, #arg do a[i] = arg[i] end end
M.main(a)
