-- experiments/soap_lm.lua: SOAP against AdamW and Shampoo on language
-- modelling (Vyas, Morwani et al., "SOAP: Improving and Stabilizing Shampoo
-- using Adam", arXiv 2409.11321), at CPU scale.
--
--   repro experiments/soap_lm.lua                  # fast preset (default)
--   repro experiments/soap_lm.lua --preset paper   # days; not run by CI
--   repro experiments/soap_lm.lua --preset smoke   # seconds; the test's preset
--
-- Harness: the Llama model of repro.nn on character-level Tiny Shakespeare,
-- as the FP8 experiment uses. Seeds seed, seed+1, ... (`nseeds` of them): a
-- seed fixes the initial weights and the order of the training batches; one
-- fixed validation set (eval_batches batches drawn once with the first seed
-- and reused at every evaluation) serves every run. The three optimizers see
-- the same weights and batches at the same seed. Every run has its own
-- warm-up + cosine schedule (`schedule`), as the paper's runs do.
-- Pre-registration (claims, what counts as reproduced): docs/soap_lm.md.
--
-- What runs:
--  1. Learning-rate sweep (first seed): AdamW, Shampoo and SOAP, each over
--     its grid `lrs.<optimizer>` (factor 2 apart, the same grid for all
--     three: Shampoo is grafted, so its step size is on AdamW's scale), with
--     precondition frequency `precondition_frequency` (10, the paper's). The
--     best rate is the one with the lowest final validation loss.
--  2. Seeds: each optimizer at its best rate with the other seeds (full
--     length, evaluations every eval_every steps: the curves).
--  3. The paper's measure: for every optimizer and seed, runs of `fractions`
--     of the steps, each with its own schedule (final loss only); the final
--     losses of these and of the full run are fitted by a + b·N^-β
--     (repro.efficiency). "A needs X% fewer iterations than B": B's final
--     loss after N steps is the target, N_A is where A's fit reaches it,
--     X = 100·(1 - N_A / N). Secondary: the first crossing of the target on
--     the full validation curves, B's own crossing as reference.
--  4. Precondition-frequency ablation: SOAP and Shampoo at their best rates,
--     every seed, frequency in `freqs` ({1, 2, 4, 10} at 400 steps: 400 to 40
--     refreshes; the paper's frequencies 1..100 at ~3.6k steps give 3600 to
--     36), reported against the number of refreshes (steps / frequency).
--  5. Step cost: the three optimizers timed in interleaved rounds of
--     `precondition_frequency` steps each (one eigendecomposition per round),
--     so a change in machine load affects all three alike. Wall-clock
--     savings are steps × this step cost.
--  Every efficiency number is reported per seed and as mean ± sd with a 95%
--  Student-t confidence interval of the mean.
--
-- Shampoo (`shampoo_variant`): "paper" (default) is the SOAP paper's
-- DistributedShampoo baseline (exponent -1/2.5, grafted AdamW until the first
-- preconditioning at step f, epsilon 1e-12 on the bias-corrected factors);
-- "kit" is the kit's variant (exponent -1/4, relative epsilon, roots from
-- step 1). Sources: lua/repro/optim.lua's header.
--
-- Time: all seconds are wall-clock, from repro.util's step timer (U.now, the
-- core's monotonic clock). The fast preset runs on one thread (threads = 1):
-- at this model size a second thread buys little, and one thread keeps the
-- timing comparable across optimizers on a shared machine.
--
-- Output (folder out/soap_lm/PRESET): runs/*.tsv (the trainer's log of every
-- run), runs.tsv, timing.tsv, efficiency.tsv (per seed), fits.tsv, results.md, results_table.tsv,
-- results.txt, figures/*.{tsv,gp,png,svg}. The figures are drawn from the run
-- logs after all runs, and `repro figures out/soap_lm/fast/figures` redraws
-- them. The fast preset, run unchanged, also copies its figures and tables
-- (and runs.tsv, efficiency.tsv, fits.tsv, timing.tsv) to figures/soap_lm/. --resume reuses the run logs that are complete.
local repro = require "repro"
local nn, optim, data, U = repro.nn, repro.optim, repro.data, repro.util
local train = require "repro.train"
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
  precondition_frequency = 10, freqs = { 1, 2, 4, 10 }, seed = 1, nseeds = 3, micro_batches = 0,
  shampoo_variant = "paper", schedule = "cosine", efficiency = "fit", order = "forward", start_job = 1, reuse_only = false,
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
    eval_every = 2, eval_batches = 1, max_chars = 20000, nseeds = 2,
    lrs = { adamw = { 3e-3 }, shampoo = { 3e-3 }, soap = { 3e-3 } }, freqs = { 1, 10 },
    fractions = { 0.6, 0.8 }, timing_rounds = 1, threads = 0, publish = "",
  },
  -- the default: about 15 minutes on 2 idle cores
  fast = preset {
    model = { dim = 64, layers = 2, heads = 4, seq_len = 64 }, batch = 32, steps = 400, warmup = 20,
    eval_every = 20, eval_batches = 8, max_chars = 0,
    lrs = { adamw = { 1.25e-3, 2.5e-3, 5e-3, 1e-2 }, shampoo = { 1.25e-3, 2.5e-3, 5e-3, 1e-2 },
            soap = { 1.25e-3, 2.5e-3, 5e-3, 1e-2 } },
    fractions = { 0.5, 0.625, 0.75, 0.875 }, timing_rounds = 4, threads = 1,
    publish = "figures/soap_lm",
  },
  -- hours: a larger model, longer runs (not run by CI)
  paper = preset {
    model = { dim = 256, layers = 6, heads = 8, seq_len = 256 }, batch = 64, steps = 5000, warmup = 250,
    eval_every = 100, eval_batches = 32, max_chars = 0, freqs = { 1, 10, 32, 100 },
    lrs = { adamw = { 1e-3, 2e-3, 4e-3, 8e-3 }, shampoo = { 1e-3, 2e-3, 4e-3, 8e-3 }, soap = { 1e-3, 2e-3, 4e-3, 8e-3 } },
    fractions = { 0.5, 0.625, 0.75, 0.875 }, timing_rounds = 8, threads = 1, publish = "",
  },
}

-- Every preset field, its help line and its valid range (repro.experiment).
M.OPTIONS = {
  steps = { help = "training steps per run", min = 2 },
  seed = { help = "first random seed (initial weights and batches; the sweep's; the validation set's)", min = 0 },
  nseeds = { help = "seeds seed, seed+1, ...: every efficiency number is their mean", min = 1 },
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
  order = { help = "order of the runs after the sweep (reverse: for a second process on a copy of the logs; changes no result)",
            choices = { "forward", "reverse" } },
  reuse_only = { help = "train nothing: use the finished run logs of --out (with --resume), leave the others out as missing" },
  start_job = { help = "first run after the sweep (1-based, wrapping; for a third process; changes no result)", min = 1 },
  freqs = { help = "precondition frequencies of the ablation", min = 1 },
  efficiency = { help = "headline measure: fit (the paper's: fraction runs, power law) or interp (curve crossing); both are reported",
                 choices = { "interp", "fit" } },
  fractions = { help = "the fit's run lengths as fractions of steps", gt = 0, lt = 1 },
  timing_rounds = { help = "interleaved timing rounds of the step cost", min = 1 },
  threads = { help = "threads (0: leave as set by REPRO_THREADS)", min = 0 },
  micro_batches = { help = "micro-batches per batch, gradients folded in order (0: one per process; docs/dist.md)", min = 0 },
  publish = { help = "folder under the source tree the preset's figures are copied to (\"\": none)" },
}

M.TIMES = { smoke = "about 10 s (the test's preset)", fast = "about 15 min (estimated from the one-seed version)", paper = "days (not run by CI)" }

local function finite(x) return type(x) == "number" and x == x and x ~= math.huge and x ~= -math.huge end
local function fmt_pct(x) return finite(x) and string.format("%.1f%%", x) or "n/a" end
local function fmt_num(x, f) return finite(x) and string.format(f or "%.4f", x) or "n/a" end

-- ---- data and model ---------------------------------------------------------

-- Token ids of Tiny Shakespeare, split once.
local function load_corpus(cfg)
  local L = data.shakespeare{ seq_len = cfg.model.seq_len, batch = cfg.batch, seed = cfg.seed, -- the first seed: one validation set for all
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
local function make_loader(corpus, cfg, seed)
  local L = data.loader{ train = corpus.train, val = corpus.val_ids, seq_len = cfg.model.seq_len,
                         batch = cfg.batch, seed = seed, vocab_size = corpus.vocab }
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

local function make_model(corpus, cfg, seed)
  local m = cfg.model
  return nn.Llama{ vocab = corpus.vocab, dim = m.dim, layers = m.layers, heads = m.heads,
                   seq_len = m.seq_len, seed = seed }
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

-- Seed-1 (first seed) names are those of the one-seed version of this script.
local function run_name(kind, lr, freq, steps, seed, seed0)
  local s = string.format("%s_lr%g", kind, lr)
  if kind ~= "adamw" then s = s .. "_f" .. freq end
  if steps then s = s .. "_n" .. steps end
  if seed and seed ~= seed0 then s = s .. "_s" .. seed end
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

-- spec: name, kind, lr, freq, steps, seed, eval_every (default cfg.eval_every;
-- runs read only for their final loss evaluate at their last step alone).
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
      old.seed, old.lr, old.freq, old.n = spec.seed, spec.lr, spec.freq, spec.steps
      return old
    end
  end
  if cfg.reuse_only then   -- a run that did not finish in time: left out, reported as missing
    io.stderr:write(string.format("[soap_lm] %s: not run (--reuse_only), left out\n", spec.name))
    ctx.nmissing = (ctx.nmissing or 0) + 1
    return { steps = {}, loss = {}, seconds = {}, final = 0 / 0, complete = false, diverged = false, missing = true,
             sec_per_step = 0 / 0, seed = spec.seed, lr = spec.lr, freq = spec.freq, n = spec.steps }
  end
  ctx.nrun = ctx.nrun + 1
  local pc = exp:begin_run(spec.name, spec.steps)
  io.stderr:write(string.format("[soap_lm] %s (lr %g%s, %d steps, seed %d)\n", pc.label, spec.lr,
    spec.kind ~= "adamw" and (", precondition frequency " .. spec.freq) or "", spec.steps, spec.seed))
  local model = make_model(ctx.corpus, cfg, spec.seed)
  local opt = make_optimizer(spec.kind, model:parameters(), spec.lr, spec.freq, cfg)
  local ok, err = pcall(train, {
    model = model, optimizer = opt, data = make_loader(ctx.corpus, cfg, spec.seed), steps = spec.steps, batch = cfg.batch,
    schedule = make_schedule(cfg, spec.lr, spec.steps), eval_every = math.min(spec.eval_every or cfg.eval_every, spec.steps),
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
  r.seed, r.lr, r.freq, r.n = spec.seed, spec.lr, spec.freq, spec.steps
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

-- The measures, figures and tables live beside this script.
local R = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "soap_lm_report.lua")(M,
  { LABEL = LABEL, COLOR = COLOR, finite = finite, fmt_pct = fmt_pct, fmt_num = fmt_num })
local measures, draw_figures, tables, fmt_summary = R.measures, R.draw_figures, R.tables, R.fmt_summary

-- ---- main -------------------------------------------------------------------

-- args: list of strings (the script's flags); opts.exit = false raises on bad
-- flags instead of exiting; opts.stdout: where the tables and summary go
-- (default io.stdout). Returns the results table.
function M.main(args, opts)
  opts = opts or {}
  local exp = Experiment.new{ name = "soap_lm", script = "experiments/soap_lm.lua", args = args,
    exit = opts.exit, default = "fast", presets = M.PRESETS, options = M.OPTIONS, times = M.TIMES, cosmetic = { "order", "start_job" }, dist = true,
    about = "Reproduces SOAP vs AdamW vs Shampoo on language modelling (Vyas et al. 2024, arXiv 2409.11321) at\n"
      .. "CPU scale: a small Llama on character-level Tiny Shakespeare; a learning-rate sweep of each optimizer,\n"
      .. "then several seeds at the best rates: the paper's measure (cosine runs on fractions of the steps, a fit\n"
      .. "of a + b·N^-β, \"% fewer iterations\" with confidence intervals), the crossing measure, the\n"
      .. "precondition-frequency ablation against the number of refreshes, and the step cost in interleaved rounds.",
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
  local seeds = {}
  for i = 1, cfg.nseeds do seeds[i] = cfg.seed + i - 1 end
  local res = { sweep = {}, best = {}, full = {}, frac = {}, fits = {}, ablation = { soap = {}, shampoo = {} }, freqs = {},
                seeds = seeds }
  local probe = make_model(ctx.corpus, cfg, cfg.seed)
  local nparam = probe:num_parameters()
  probe = nil
  local fseen = {}
  for _, f in ipairs(cfg.freqs) do if not fseen[f] then fseen[f] = true; res.freqs[#res.freqs + 1] = f end end
  if not fseen[freq0] then res.freqs[#res.freqs + 1] = freq0 end
  table.sort(res.freqs)
  local fr_steps = {}
  for _, fr in ipairs(cfg.fractions) do
    local n = math.max(2, math.floor(fr * N + 0.5))
    if n < N then fr_steps[#fr_steps + 1] = n end
  end
  -- the plan: the sweep (first seed), the other seeds' full runs, the fraction runs, the ablation
  local nsweep = 0
  for _, k in ipairs(M.OPTIMIZERS) do nsweep = nsweep + #cfg.lrs[k] end
  local nfr, frunits = #fr_steps, 0
  for _, n in ipairs(fr_steps) do frunits = frunits + n end
  local nabl = 2 * (#res.freqs - 1)
  local nruns = nsweep + 3 * (#seeds - 1) + 3 * #seeds * nfr + nabl * #seeds
  exp:plan(nruns, (nsweep + 3 * (#seeds - 1) + nabl * #seeds) * N + 3 * #seeds * frunits)
  res.param_str = nparam >= 1e6 and string.format("%.1fM", nparam / 1e6) or string.format("%.0fk", nparam / 1e3)
  res.setting = string.format("%s-parameter Llama (dim %d, %d layer%s, %d heads), char-level Tiny Shakespeare, "
    .. "batch %d x %d tokens, %d steps, %s schedule, %s", res.param_str, cfg.model.dim, cfg.model.layers,
    cfg.model.layers == 1 and "" or "s", cfg.model.heads, cfg.batch, cfg.model.seq_len, N, cfg.schedule,
    repro.get_threads() == 1 and "1 thread" or (repro.get_threads() .. " threads"))
  local function spec(k, lr, f, n, seed, every)
    return { name = run_name(k, lr, f, n < N and n or nil, seed, seeds[1]), kind = k, lr = lr, freq = f, steps = n,
             seed = seed, eval_every = every }
  end
  -- 1. learning-rate sweep, first seed
  for _, k in ipairs(M.OPTIMIZERS) do
    res.sweep[k] = {}
    for _, lr in ipairs(cfg.lrs[k]) do
      local r = do_run(ctx, spec(k, lr, freq0, N, seeds[1]))
      res.sweep[k][#res.sweep[k] + 1] = { lr = lr, run = r }
      if not res.best[k] or r.final < res.best[k].run.final then res.best[k] = { lr = lr, run = r } end
    end
  end
  -- 2-4 are independent runs once the rates are chosen: listed first, then
  -- trained in plan order (or in reverse, --order reverse: a second process
  -- started on a copy of the finished logs works from the other end; the
  -- union of both folders, run again with --resume, gives the same results).
  local jobs = {}
  local function job(sp, put) jobs[#jobs + 1] = { spec = sp, put = put } end
  -- 2. the other seeds at the best rates, full length (the curves)
  for _, k in ipairs(M.OPTIMIZERS) do
    res.full[k] = { res.best[k].run }
    for si = 2, #seeds do job(spec(k, res.best[k].lr, freq0, N, seeds[si]), function(r) res.full[k][si] = r end) end
  end
  -- 3. the paper's measure: runs of fractions of the steps, each its own schedule, final loss only
  for _, k in ipairs(M.OPTIMIZERS) do
    res.frac[k], res.fits[k] = {}, {}
    for si = 1, #seeds do
      res.frac[k][si] = {}
      for fi, n in ipairs(fr_steps) do
        job(spec(k, res.best[k].lr, freq0, n, seeds[si], n), function(r) res.frac[k][si][fi] = r end)
      end
    end
  end
  -- 4. precondition-frequency ablation at the best rates, every seed, final loss only
  for _, k in ipairs { "soap", "shampoo" } do
    for _, f in ipairs(res.freqs) do
      res.ablation[k][f] = {}
      for si = 1, #seeds do
        if f ~= freq0 then job(spec(k, res.best[k].lr, f, N, seeds[si], N), function(r) res.ablation[k][f][si] = r end) end
      end
    end
  end
  -- --start_job K: begin at job K and wrap around (a third process takes the middle)
  local nj, k0 = #jobs, math.min(math.max(cfg.start_job, 1), math.max(#jobs, 1))
  for t = 0, nj - 1 do
    local ji = cfg.order == "reverse" and (k0 - 1 - t) % nj + 1 or (k0 - 1 + t) % nj + 1
    if cfg.order == "reverse" and cfg.start_job == 1 then ji = nj - t end
    jobs[ji].put(do_run(ctx, jobs[ji].spec))
  end
  for _, k in ipairs(M.OPTIMIZERS) do
    for si = 1, #seeds do
      local ns_, ls = {}, {}
      for fi, n in ipairs(fr_steps) do ns_[fi], ls[fi] = n, res.frac[k][si][fi].final end
      ns_[#ns_ + 1], ls[#ls + 1] = N, res.full[k][si].final
      res.fits[k][si] = Eff.fit_power(ns_, ls) or false
    end
  end
  for _, k in ipairs { "soap", "shampoo" } do
    for si = 1, #seeds do res.ablation[k][freq0][si] = res.full[k][si] end
  end
  -- 5. step cost, then both measures
  local best_lr = {}
  for _, k in ipairs(M.OPTIMIZERS) do best_lr[k] = res.best[k].lr end
  exp:check_interrupt("the timing of the step cost")
  io.stderr:write("[soap_lm] timing the three optimizers in interleaved rounds\n")
  res.timing = time_steps(ctx, best_lr)
  local fl = {}
  for _, n in ipairs(fr_steps) do fl[#fl + 1] = tostring(n) end
  res.fit_text = string.format("fit of a + b·N^-β to the final losses of runs of %s and %d steps (each with its own schedule), "
    .. "inverted at the baseline's final loss; %% fewer iterations = 100·(1 - N_fit / %d)", table.concat(fl, ", "), N, N)
  res.cross_text = "first crossing of the baseline's final loss on the full-length validation curves (evaluations every "
    .. cfg.eval_every .. " steps, linear between them), the baseline's own crossing as reference"
  res.method_text = cfg.efficiency == "fit" and "the paper's fit, mean of " .. #seeds .. " seeds" or "crossing, mean of " .. #seeds .. " seeds"
  res.measures = measures(res, N)
  for _, k in ipairs(M.OPTIMIZERS) do
    for si = 1, #seeds do if res.fits[k][si] == false then res.fits[k][si] = nil end end
  end
  -- frequency: loss increase from the most to the fewest refreshes, per seed
  local f_lo, f_hi = res.freqs[1], res.freqs[#res.freqs]
  if f_lo ~= f_hi then
    local d = { f_lo = f_lo, f_hi = f_hi }
    local inc = { soap = {}, shampoo = {} }
    local diff = {}
    for si = 1, #seeds do
      for _, k in ipairs { "soap", "shampoo" } do inc[k][si] = res.ablation[k][f_hi][si].final - res.ablation[k][f_lo][si].final end
      diff[si] = inc.shampoo[si] - inc.soap[si]
    end
    d.soap, d.shampoo, d.diff = Eff.summary(inc.soap), Eff.summary(inc.shampoo), Eff.summary(diff)
    d.inc = inc
    res.degradation = d
  end
  -- the headline for the caller (and the smoke test): per comparison, the chosen measure's summary
  local head = cfg.efficiency == "fit" and "fit_steps_sum" or "cross_steps_sum"
  local heads = cfg.efficiency == "fit" and "fit_secs_sum" or "cross_secs_sum"
  res.eff = { target = res.full.adamw[1].final }
  local keys = { "soap", "soap_vs_shampoo", "shampoo" }
  for ci in ipairs(M.COMPARISONS) do
    res.eff[keys[ci]] = { pct_steps = res.measures[ci][head].mean, pct_seconds = res.measures[ci][heads].mean,
                          steps_summary = res.measures[ci][head], seconds_summary = res.measures[ci][heads] }
  end
  -- files
  local lines = { "optimizer\tlr\tprecondition_frequency\tsteps\tseed\tfinal_val_loss\ttrain_seconds\tms_per_step\tcomplete\trole" }
  local function add_row(kind, r, role)
    lines[#lines + 1] = table.concat({ kind, U.tsv_number(r.lr), U.tsv_number(r.freq), U.tsv_number(r.n), U.tsv_number(r.seed),
      U.tsv_number(r.final), U.tsv_number(r.train_seconds or 0 / 0), U.tsv_number(1e3 * (r.sec_per_step or 0 / 0)),
      r.complete and "1" or "0", role }, "\t")
  end
  for _, k in ipairs(M.OPTIMIZERS) do
    for _, e in ipairs(res.sweep[k]) do add_row(k, e.run, "sweep") end
    for si = 2, #seeds do add_row(k, res.full[k][si], "seed") end
    for si = 1, #seeds do for _, r in ipairs(res.frac[k][si]) do add_row(k, r, "fraction") end end
  end
  for _, k in ipairs { "soap", "shampoo" } do
    for _, f in ipairs(res.freqs) do
      if f ~= freq0 then for si = 1, #seeds do add_row(k, res.ablation[k][f][si], "frequency") end end
    end
  end
  U.write_file_atomic(exp:path("runs.tsv"), table.concat(lines, "\n") .. "\n")
  local trows, erows = {}, {}
  for i, k in ipairs(M.OPTIMIZERS) do
    local t = res.timing[k]
    trows[i] = { i, t.step_ms, t.opt_ms, t.ratio, t.n }
  end
  for ci, c in ipairs(M.COMPARISONS) do
    local m = res.measures[ci]
    for si = 1, #seeds do
      erows[#erows + 1] = { ci, seeds[si], m.targets[si], m.n_fit[si] or 0 / 0, m.fit_steps[si], m.fit_secs[si],
                            m.cross_steps[si], m.cross_secs[si] }
    end
  end
  exp:write_tsv("timing.tsv", { "optimizer(1=adamw,2=shampoo,3=soap)", "step_ms", "optimizer_step_ms", "ratio_vs_adamw", "steps_timed" }, trows)
  exp:write_tsv("efficiency.tsv", { "comparison(1=soap_vs_adamw,2=soap_vs_shampoo,3=shampoo_vs_adamw)", "seed", "target_loss",
    "fitted_steps", "fit_pct_fewer_iterations", "fit_pct_less_wallclock", "crossing_pct_fewer_iterations",
    "crossing_pct_less_wallclock" }, erows)
  local frows = {}
  for _, k in ipairs(M.OPTIMIZERS) do
    for si = 1, #seeds do
      local f = res.fits[k][si]
      frows[#frows + 1] = { ({ adamw = 1, shampoo = 2, soap = 3 })[k], seeds[si], f and f.a or 0 / 0, f and f.b or 0 / 0,
                            f and f.beta or 0 / 0, f and f.rss or 0 / 0 }
    end
  end
  exp:write_tsv("fits.tsv", { "optimizer(1=adamw,2=shampoo,3=soap)", "seed", "a", "b", "beta", "rss" }, frows)
  res.figures = draw_figures(ctx, res)
  local md = tables(ctx, res)
  local results = { target_loss = res.eff.target, method = cfg.efficiency, seeds = #seeds,
    runs = ctx.nrun, runs_reused = ctx.nreused, runs_missing = ctx.nmissing or 0, parameters = nparam }
  local rkeys = { "soap_vs_adamw", "soap_vs_shampoo", "shampoo_vs_adamw" }
  for ci in ipairs(M.COMPARISONS) do
    local m = res.measures[ci]
    for _, q in ipairs { { "fit_steps_sum", "fewer_iterations_pct" }, { "fit_secs_sum", "less_wallclock_pct" },
                         { "cross_steps_sum", "crossing_fewer_iterations_pct" }, { "cross_secs_sum", "crossing_less_wallclock_pct" } } do
      local sm = m[q[1]]
      results[rkeys[ci] .. "_" .. q[2]] = sm.mean
      results[rkeys[ci] .. "_" .. q[2] .. "_sd"] = sm.sd
      results[rkeys[ci] .. "_" .. q[2] .. "_ci95_lo"] = sm.lo
      results[rkeys[ci] .. "_" .. q[2] .. "_ci95_hi"] = sm.hi
    end
  end
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
  local dest = exp:publish(cfg.publish, {"figures/soap_lm_*", "results.md", "results_table.tsv", "runs.tsv",
                                         "efficiency.tsv", "fits.tsv", "timing.tsv"})
  if dest then
    io.stderr:write("[soap_lm] figures and tables copied to " .. dest .. "\n")
  elseif dest == false then
    io.stderr:write("[soap_lm] settings differ from the preset: figures stay in " .. exp:path("figures") .. "\n")
  end
  local so = opts.stdout or io.stdout
  so:write("\n", md, "\n")
  local e = res.eff.soap
  so:write(string.format("soap_lm: %d run%s trained, %s wall-clock (%s by the step timer); SOAP vs AdamW (%s): %s fewer steps, "
    .. "%s less wall-clock; results in %s\n", ctx.nrun, ctx.nrun == 1 and "" or "s", U.format_duration(res.wall_seconds),
    U.format_duration(res.total_seconds), res.method_text, fmt_summary(e.steps_summary), fmt_summary(e.seconds_summary), exp.out))
  res.exp = exp
  return res
end

if select(1, ...) == "soap_lm.module" then return M end
local a = {}
if type(arg) == "table" then for i = 1, #arg do a[i] = arg[i] end end
M.main(a)
