-- experiments/score.lua: SCoRe, training a model to correct itself by RL
-- (Kumar et al., "Training Language Models to Self-Correct via Reinforcement
-- Learning", arXiv 2409.12917), at CPU scale.
--
--   repro experiments/score.lua                       # fast preset (default)
--   repro experiments/score.lua --preset paper        # hours; documented, 3 seeds by --seed
--   repro experiments/score.lua --preset smoke        # seconds; the test's preset
--   repro experiments/score.lua --calibrate true      # the one-time calibration (base model only)
--
-- Task (repro.score_task): MSB-first addition, transcripts `x1 y1 ?= y2` of
-- fixed width. Base model: nn.Llama pretrained on a noisy solver's two-attempt
-- transcripts (no correction prior). Arms: Base, STaR (D, D+), Pair-SFT (D,
-- D+), SCoRe Stage I, SCoRe (Stage II), standard multi-turn RL, and the
-- ablations w/o multi-turn, w/o Stage I, w/o reward shaping (plus the
-- diagnostic R2 = (1+α)r2 when diag_steps > 0). REINFORCE with RLOO, T = 1,
-- Adam, α = 10, β1 = 0.01, β2 = 0.1, exact KL over the 15 symbols.
-- Pre-registration (claims C1-C8, calibration rule): docs/score.md.
--
-- Outputs (out/score/PRESET): config.txt, run.txt, results.txt, results.md
-- (tables with the paper's numbers in their own columns, the claims), TSVs of
-- every curve and table, figures (PNG + SVG + TSV + gnuplot script). Runs
-- with the preset unchanged copy figures and tables to figures/score/.
local repro = require "repro"
local U = repro.util
local S = repro.score_task
local SC = repro.score
local plot = repro.plot
local Experiment = repro.experiment
local Progress = repro.train.progress
local I = repro.train.interrupt

local M = {}

M.PAPER = {
  cite = "Kumar et al., Training Language Models to Self-Correct via Reinforcement Learning, arXiv 2409.12917",
  -- MATH, Gemini 1.5 Flash: Acc@t1, Acc@t2, delta, i->c, c->i (Tables 1, 2)
  rows = {
    base = { 52.6, 41.4, -11.2, 4.6, 15.8 },
    self_refine = { 52.8, 51.8, -1.0, 3.2, 4.2 },
    star_d = { 55.4, 41.2, -14.2, 5.4, 19.6 },
    star_dplus = { 53.6, 54.0, 0.4, 2.6, 2.2 },
    pair_d = { 52.4, 54.2, 1.8, 5.4, 3.6 },
    pair_dplus = { 55.4, 55.0, -0.4, 4.4, 4.8 },
    score = { 60.0, 64.4, 4.4, 5.8, 1.4 },
  },
  -- Table 4 (Acc@t1, Acc@t2, delta)
  ablations = {
    score = { 60.0, 64.4, 4.4 },
    single = { 61.8, 59.4, -2.4 },
    wo_stage1 = { 59.2, 61.4, 2.2 },
    wo_shaping = { 60.0, 62.6, 2.6 },
  },
}

M.ARM_NAMES = {
  base = "Base", star_d = "STaR D", star_dplus = "STaR D+", pair_d = "Pair-SFT D", pair_dplus = "Pair-SFT D+",
  stage1 = "SCoRe Stage I", std = "standard multi-turn RL", score = "SCoRe", single = "w/o multi-turn",
  wo_stage1 = "w/o Stage I", wo_shaping = "w/o reward shaping", diag = "diagnostic R2=(1+a)r2",
}
M.RL_ARMS = { "stage1", "std", "score", "wo_shaping", "wo_stage1", "single", "diag" }

local common = {
  ffn_dim = 0, alpha = 10.0, beta1 = 0.01, beta2 = 0.1, clip = 1.0, temperature = 1.0,
  target_acc1 = 0.55, p9_grid = { 0.2, 0.35, 0.5 }, lr_grid = { 3e-5, 1e-4, 3e-4 },
  calibrate = false, base_from = "", base_seed = 1, solver_correct = 0.7, solver_copy = 0.5, pre_warmup = 100, pre_wd = 0.01,
}
local function preset(t)
  local o = U.deepcopy(common)
  for k, v in pairs(t) do o[k] = v end
  return o
end

M.PRESETS = {
  smoke = preset {
    n = 3, dim = 16, layers = 1, heads = 2, ffn_dim = 32, p9 = 0.35, lr = 1e-4,
    train = 64, val = 16, test = 32, pre_steps = 3, pre_batch = 16, pre_lr = 3e-3, pre_warmup = 1,
    prompts = 4, k = 2, stage1_steps = 2, stage2_steps = 2, std_steps = 2, single_steps = 2,
    wo_stage1_steps = 2, wo_shaping_steps = 2, diag_steps = 2, eval_every = 1, curve_eval = 16,
    star_iters = 2, star_problems = 8, star_per = 2, sft_steps = 2, sft_batch = 8, sft_lr = 3e-4,
    probe_every = 1, attempts = 3, bootstrap = 50, pilot_steps = 2, publish = "",
  },
  fast = preset {
    n = 6, dim = 64, layers = 2, heads = 4, p9 = 0.5, lr = 1e-4,   -- p9 and lr: the calibration (docs/score.md)
    train = 4096, val = 500, test = 1000, pre_steps = 1500, pre_batch = 128, pre_lr = 2e-3,
    prompts = 32, k = 4, stage1_steps = 100, stage2_steps = 200, std_steps = 100, single_steps = 300,
    wo_stage1_steps = 300, wo_shaping_steps = 200, diag_steps = 0, eval_every = 50, curve_eval = 500,
    star_iters = 3, star_problems = 512, star_per = 4, sft_steps = 100, sft_batch = 128, sft_lr = 3e-4,
    probe_every = 20, attempts = 4, bootstrap = 1000, pilot_steps = 60, publish = "figures/score",
  },
  paper = preset {
    n = 8, dim = 96, layers = 3, heads = 4, ffn_dim = 256, p9 = 0.35, lr = 1e-4,
    train = 4096, val = 500, test = 2000, pre_steps = 3000, pre_batch = 128, pre_lr = 1e-3,
    prompts = 64, k = 4, stage1_steps = 500, stage2_steps = 1000, std_steps = 500, single_steps = 1500,
    wo_stage1_steps = 1500, wo_shaping_steps = 1000, diag_steps = 1000, eval_every = 50, curve_eval = 2000,
    star_iters = 3, star_problems = 4096, star_per = 4, sft_steps = 150, sft_batch = 256, sft_lr = 3e-4,
    probe_every = 25, attempts = 10, bootstrap = 2000, pilot_steps = 300, publish = "figures/score/paper",
  },
}

-- Every preset field: one line of help and its range (repro.experiment checks
-- a value before anything is written: exit 2, one line).
M.OPTIONS = {
  n = { help = "digits of each addend (transcript width grows with n)", min = 1 },
  dim = { help = "model width", min = 1 },
  layers = { help = "transformer layers", min = 1 },
  heads = { help = "attention heads (divide --dim)", min = 1 },
  ffn_dim = { help = "feed-forward width (0: the model's default)", min = 0 },
  p9 = { help = "probability of a 9 digit in the problems (the task's difficulty; calibrated)", min = 0, max = 1 },
  lr = { help = "RL learning rate (Adam; calibrated)", gt = 0 },
  alpha = { help = "reward-shaping bonus alpha of SCoRe Stage II", min = 0 },
  beta1 = { help = "KL coefficient beta1 (turn 1 in Stage II, turn 2 everywhere)", min = 0 },
  beta2 = { help = "KL coefficient beta2 on turn 1 in Stage I", min = 0 },
  clip = { help = "gradient-norm clip (pretraining, SFT and RL)", gt = 0 },
  temperature = { help = "rollout sampling temperature (recorded; the RL samples at T = 1)", gt = 0 },
  target_acc1 = { help = "calibration target for the base model's validation Acc@t1", min = 0, max = 1 },
  p9_grid = { help = "calibration: p9 values tried", min = 0, max = 1 },
  lr_grid = { help = "calibration: RL learning rates tried by the pilot", gt = 0 },
  calibrate = { help = "run the one-time calibration (base model and the single-turn pilot) instead of the arms" },
  base_from = { help = "load the pretrained base from this .safetensors (\"\": pretrain; settings must match)" },
  base_seed = { help = "seed of the base model, its pretraining data and the splits", min = 0 },
  solver_correct = { help = "pretraining solver: probability its second attempt is correct", min = 0, max = 1 },
  solver_copy = { help = "pretraining solver: probability its second attempt copies the first", min = 0, max = 1 },
  pre_warmup = { help = "pretraining warm-up steps", min = 0 },
  pre_wd = { help = "pretraining weight decay", min = 0 },
  train = { help = "training problems", min = 1 },
  val = { help = "validation problems", min = 1 },
  test = { help = "test problems", min = 1 },
  pre_steps = { help = "pretraining steps", min = 1 },
  pre_batch = { help = "pretraining transcripts per batch", min = 1 },
  pre_lr = { help = "pretraining peak learning rate", gt = 0 },
  prompts = { help = "RL prompts per step", min = 1 },
  k = { help = "RL samples per prompt (RLOO needs at least 2)", min = 2 },
  stage1_steps = { help = "SCoRe Stage I steps (0: arm skipped, Stage II starts from the base)", min = 0 },
  stage2_steps = { help = "SCoRe Stage II steps (0: arm skipped)", min = 0 },
  std_steps = { help = "standard multi-turn RL steps (0: arm skipped)", min = 0 },
  single_steps = { help = "w/o multi-turn (single-turn RL) steps (0: arm skipped)", min = 0 },
  wo_stage1_steps = { help = "w/o Stage I steps (0: arm skipped)", min = 0 },
  wo_shaping_steps = { help = "w/o reward shaping steps (0: arm skipped)", min = 0 },
  diag_steps = { help = "diagnostic R2 = (1+alpha) r2 steps (0: arm skipped)", min = 0 },
  eval_every = { help = "RL steps between test evaluations (curves, kept checkpoint)", min = 1 },
  curve_eval = { help = "test problems of the curves, the probe and Fig. 8", min = 1 },
  star_iters = { help = "STaR rounds", min = 1 },
  star_problems = { help = "training problems sampled for STaR and Pair-SFT", min = 1 },
  star_per = { help = "base traces per problem (T = 1)", min = 1 },
  sft_steps = { help = "SFT steps per STaR round and for Pair-SFT", min = 1 },
  sft_batch = { help = "SFT transcripts per batch", min = 1 },
  sft_lr = { help = "SFT learning rate", gt = 0 },
  probe_every = { help = "Pair-SFT steps between fixed-vs-self probes (Fig. 5)", min = 1 },
  attempts = { help = "attempts of the sequential self-correction curve (Fig. 8)", min = 2 },
  bootstrap = { help = "bootstrap resamples of the confidence intervals", min = 1 },
  pilot_steps = { help = "calibration: steps of each learning-rate pilot", min = 1 },
  publish = { help = "folder under the source tree the preset's figures and tables are copied to (\"\": none)" },
}

-- How long each preset takes. The fast figure is measured (docs/score.md).
M.TIMES = {
  smoke = "about 3 s (the test's preset)",
  fast = "about 10-15 min on 2 idle cores (17-19 min measured on a loaded machine)",
  paper = "hours (3 seeds by --seed; not run by CI)",
}

-- ---- helpers -----------------------------------------------------------------------

local function log(fmt, ...) io.stderr:write(string.format("[score] " .. fmt .. "\n", ...)) end

-- The runs of the arms' plan, in order: {name, steps}; every step is counted
-- as one unit of the experiment's ETA (arms' steps differ in cost: an estimate).
local function plan_runs(cfg)
  local runs = {}
  if cfg.base_from == "" then runs[#runs + 1] = { "pretrain", cfg.pre_steps } end
  for _, n in ipairs { "star_d", "star_dplus" } do runs[#runs + 1] = { n, cfg.star_iters * cfg.sft_steps } end
  for _, n in ipairs { "pair_d", "pair_dplus" } do runs[#runs + 1] = { n, cfg.sft_steps } end
  for _, n in ipairs { "stage1", "std", "score", "wo_shaping", "wo_stage1", "single", "diag" } do
    local steps = cfg[(n == "score" and "stage2" or n) .. "_steps"]
    if steps > 0 then runs[#runs + 1] = { n, steps } end
  end
  return runs
end

-- Start one run of the plan: returns tick(step, text), called after each of
-- its steps: the progress line (run i/N, the experiment's ETA) and, on
-- SIGINT/SIGTERM, the stop (nothing of the run is recorded).
local function start_run(exp, name, steps)
  local ctx = exp:begin_run(name, steps)
  local p = Progress.new { steps = steps, context = ctx }
  return function(step, text)
    p:update(step, text)
    if I.pending() then
      I.enter_exit()
      I.stop { step = step, steps = steps }
    end
  end
end

local function new_model(cfg, seed)
  return SC.model { n = cfg.n, dim = cfg.dim, layers = cfg.layers, heads = cfg.heads,
                    ffn_dim = cfg.ffn_dim > 0 and cfg.ffn_dim or nil, seed = seed, attempts = cfg.attempts }
end

local function pretrain(cfg, exp, p9, tag, tick)
  local base = new_model(cfg, cfg.base_seed)
  local rows = {}
  local t = U.timer()
  tick = tick or function() end
  SC.pretrain(base, { n = cfg.n, p9 = p9, seed = cfg.base_seed, steps = cfg.pre_steps, batch = cfg.pre_batch,
    lr = cfg.pre_lr, warmup = cfg.pre_warmup, weight_decay = cfg.pre_wd, clip = cfg.clip,
    solver = { p_correct = cfg.solver_correct, p_copy = cfg.solver_copy },
    on_step = function(step, loss)
      rows[#rows + 1] = { step, loss }
      tick(step, string.format("loss %.4f", loss))
      if step % 250 == 0 then log("%s pretrain step %d loss %.4f (%.0f s)", tag, step, loss, t:elapsed()) end
    end })
  exp:write_tsv("pretrain_" .. tag .. ".tsv", { "step", "loss" }, rows)
  return base, rows
end

-- Every setting that determines the pretrained base (same values, same
-- model: pretraining is seeded and thread-count independent).
local BASE_KEYS = { "n", "dim", "layers", "heads", "ffn_dim", "base_seed", "pre_steps", "pre_batch", "pre_lr", "pre_warmup",
                    "pre_wd", "clip", "solver_correct", "solver_copy", "attempts" }
local function base_fingerprint(cfg, p9)
  local parts = { "p9=" .. tostring(p9) }
  for _, k in ipairs(BASE_KEYS) do parts[#parts + 1] = (k == "base_seed" and "seed" or k) .. "=" .. tostring(cfg[k]) end
  return table.concat(parts, ";")
end

local function save_base(path, model, losses, cfg, p9)
  local t = {}
  for k, v in pairs(model:state_dict()) do t[k] = v end
  local l = {}
  for i, r in ipairs(losses) do l[i] = r[2] end
  t["_pretrain_loss"] = repro.tensor.tensor(l)
  repro.tensor.save(path, t, { fingerprint = base_fingerprint(cfg, p9) })
end

-- The base pretrained by an earlier run with identical settings (the
-- calibration saves each base it trains): checked by fingerprint.
local function load_base(path, cfg)
  local t, meta = repro.tensor.load(path)
  local want = base_fingerprint(cfg, cfg.p9)
  if not meta or meta.fingerprint ~= want then
    error(string.format("score: %s was pretrained with other settings (%s), this run needs %s", path,
      meta and meta.fingerprint or "none", want), 0)
  end
  local model = new_model(cfg, 0)
  local losses = t["_pretrain_loss"]:totable()
  t["_pretrain_loss"] = nil
  model:load_state_dict(t)
  local rows = {}
  for i, v in ipairs(losses) do rows[i] = { i, v } end
  return model, rows
end

-- ---- finished runs, for --resume ------------------------------------------------------

-- checkpoint/RUN/: model.safetensors (the run's model), then result.lua,
-- written last: the mark of a finished run (a run without --resume removes
-- the checkpoint folder first).
local function save_run(exp, name, data, model)
  local dir = exp:checkpoint_dir(name)
  U.mkdir_p(dir)
  if model then
    local t = {}
    for k, v in pairs(model:state_dict()) do t[k] = v end
    repro.tensor.save(U.join(dir, "model.safetensors"), t)
  end
  U.write_exact(U.join(dir, "result.lua"), data, "score")
end

-- A run finished before an interruption (with --resume): its results and
-- model, or nil.
local function load_run(exp, cfg, name)
  if not exp.resume then return nil end
  local dir = exp:checkpoint_dir(name)
  local path = U.join(dir, "result.lua")
  if not U.exists(path) then return nil end
  local data = U.read_exact(path)
  local ok = data ~= nil
  local mpath = U.join(dir, "model.safetensors")
  local model
  if ok and type(data) == "table" and data.model then
    ok, model = pcall(function()
      local m = new_model(cfg, 0)
      m:load_state_dict((repro.tensor.load(mpath)))
      return m
    end)
  end
  if not ok or type(data) ~= "table" then
    io.stderr:write("score: ", dir, " is unreadable; ", name, " runs again\n")
    return nil
  end
  return data, model
end

local function pct(x) if x == nil or x ~= x then return "n/a" end return string.format("%.1f", 100 * x) end
local function sgn(x) if x == nil or x ~= x then return "n/a" end return string.format("%+.1f", 100 * x) end

-- ---- calibration (once, base model and the single-turn arm only) -------------------

local function calibrate(cfg, exp)
  local rows, best = {}, nil
  for _, p9 in ipairs(cfg.p9_grid) do
    exp:check_interrupt("the calibration")
    local sp = S.splits { n = cfg.n, p9 = p9, seed = cfg.base_seed, train = cfg.train, val = cfg.val, test = cfg.test }
    local base, losses = pretrain(cfg, exp, p9, "p9_" .. p9)
    save_base(exp:path("base_p9_" .. p9 .. ".safetensors"), base, losses, cfg, p9)
    local _, m = SC.evaluate(base, sp.val, S.layout(cfg.n))
    log("calibration p9 %.2f: validation Acc@t1 %.1f%%, Acc@t2 %.1f%%", p9, 100 * m.acc1, 100 * m.acc2)
    rows[#rows + 1] = { p9, m.acc1, m.acc2, m.delta }
    if not best or math.abs(m.acc1 - cfg.target_acc1) < math.abs(best.acc1 - cfg.target_acc1) then
      best = { p9 = p9, acc1 = m.acc1, base = base, sp = sp }
    end
  end
  exp:write_tsv("calibration_p9.tsv", { "p9", "val_acc1", "val_acc2", "val_delta" }, rows)
  log("chosen p9 = %.2f (validation Acc@t1 %.1f%%, target %.0f%%)", best.p9, 100 * best.acc1, 100 * cfg.target_acc1)
  -- lr pilot: the single-turn arm, mean training reward over the second half
  local L = S.layout(cfg.n)
  local prow, best_lr = {}, nil
  for _, lr in ipairs(cfg.lr_grid) do
    exp:check_interrupt("the calibration")
    local pol = SC.clone(best.base)
    local res = SC.run_rl(pol, best.base, best.sp.train, { mode = "single", steps = cfg.pilot_steps, prompts = cfg.prompts,
      k = cfg.k, alpha = cfg.alpha, beta_t1 = cfg.beta1, beta_t2 = cfg.beta1, clip = cfg.clip, L = L, lr = lr,
      seed = cfg.seed + 101, eval_every = cfg.pilot_steps, eval_problems = { best.sp.val[1] } })
    local s, c = 0, 0
    for i = math.floor(#res.log / 2) + 1, #res.log do s = s + res.log[i].r1; c = c + 1 end
    local r = c > 0 and s / c or 0
    log("lr pilot %.0e: mean training reward %.3f over the last %d steps%s", lr, r, c,
      res.diverged and (" (diverged: " .. res.diverged .. ")") or "")
    prow[#prow + 1] = { lr, r, res.diverged and 1 or 0 }
    if not res.diverged and (not best_lr or r > best_lr.r) then best_lr = { lr = lr, r = r } end
  end
  exp:write_tsv("calibration_lr.tsv", { "lr", "train_reward_second_half", "diverged" }, prow)
  log("chosen lr = %g", best_lr and best_lr.lr or 0 / 0)
  local res = { p9 = best.p9, acc1 = best.acc1, lr = best_lr and best_lr.lr, p9_rows = rows, lr_rows = prow }
  exp:write_results { chosen_p9 = best.p9, chosen_p9_val_acc1 = best.acc1, chosen_lr = res.lr or "none" }
  return res
end

-- ---- arms -----------------------------------------------------------------------------

local function final_eval(model, sp, L, o)
  local recs, m = SC.evaluate(model, sp.test, L, o)
  return { recs = recs, m = m }
end

local function run_arms(cfg, exp)
  local L = S.layout(cfg.n)
  local sp = S.splits { n = cfg.n, p9 = cfg.p9, seed = cfg.base_seed, train = cfg.train, val = cfg.val, test = cfg.test }
  local t0 = U.timer()
  local runs = plan_runs(cfg)
  local units = 0
  for _, r in ipairs(runs) do units = units + r[2] end
  exp:plan(#runs, units)
  local base, losses
  if cfg.base_from ~= "" then
    base, losses = load_base(cfg.base_from, cfg)
    exp:write_tsv("pretrain_base.tsv", { "step", "loss" }, losses)
    log("base loaded from %s (pretrained with identical settings)", cfg.base_from)
  else
    local saved, model = load_run(exp, cfg, "pretrain")
    if saved then
      base = model
      exp:skip_run("pretrain", cfg.pre_steps)
    else
      base = pretrain(cfg, exp, cfg.p9, "base", start_run(exp, "pretrain", cfg.pre_steps))
      save_run(exp, "pretrain", { model = true }, base)
    end
    log("base pretrained in %.0f s", t0:elapsed())
  end
  local arms = { order = {} }
  local function add(name, a)
    arms[name] = a; arms.order[#arms.order + 1] = name
    local m = a.m
    log("%-24s Acc@t1 %5.1f  Acc@t2 %5.1f  delta %+5.1f  i->c %4.1f  c->i %4.1f  change %4.1f  (%.0f s so far)",
      M.ARM_NAMES[name], 100 * m.acc1, 100 * m.acc2, 100 * m.delta, 100 * m.i2c, 100 * m.c2i, 100 * m.change, t0:elapsed())
  end
  local b = final_eval(base, sp, L)
  add("base", b)
  local curve = {}
  for i = 1, math.min(cfg.curve_eval, #sp.test) do curve[i] = sp.test[i] end
  local base_first = {}
  for i = 1, #curve do base_first[i] = b.recs[i].y1 end
  local rng = S.rng(cfg.seed * 7919 + 3)
  local star_probs = {}
  for i = 1, math.min(cfg.star_problems, #sp.train) do star_probs[i] = sp.train[i] end
  local base_traces = SC.sample_traces(base, star_probs, L, cfg.star_per, rng)
  do
    local r1, r2, ch = 0, 0, 0
    for _, tr in ipairs(base_traces) do
      r1 = r1 + tr.rec.r1; r2 = r2 + tr.rec.r2
      if S.levenshtein(tr.rec.y1, tr.rec.y2) > 0 then ch = ch + 1 end
    end
    local nt = math.max(#base_traces, 1)
    arms.base_sampled = { n = #base_traces, r1 = r1 / nt, r2 = r2 / nt, change = ch / nt }
    log("base at T = 1 on %d train traces: r1 %.3f, r2 %.3f, change %.3f", #base_traces, r1 / nt, r2 / nt, ch / nt)
  end
  local sft = { steps = cfg.sft_steps, batch = cfg.sft_batch, lr = cfg.sft_lr, clip = cfg.clip }
  -- STaR D and D+
  for _, plus in ipairs { false, true } do
    local name = plus and "star_dplus" or "star_d"
    local saved, smodel = load_run(exp, cfg, name)
    local a
    if saved then
      exp:skip_run(name, cfg.star_iters * cfg.sft_steps)
      a = saved.arm
      a.model, rng.s = smodel, saved.rng
    else
      local tick = start_run(exp, name, cfg.star_iters * cfg.sft_steps)
      local model, sizes = SC.star(base, star_probs, { L = L, iters = cfg.star_iters, per = cfg.star_per, plus = plus,
        rng = rng, sft = sft, first_traces = base_traces, on_step = function(step) tick(step) end })
      a = final_eval(model, sp, L)
      a.data_sizes = sizes
      save_run(exp, name, { arm = a, rng = rng.s, model = true }, model)
      a.model = model
    end
    log("STaR %s: kept traces after each round: %s", plus and "D+" or "D", table.concat(a.data_sizes, ", "))
    add(name, a)
  end
  -- Pair-SFT D (with the fixed-vs-self probe, Fig. 5) and D+
  local probe = {}
  for _, plus in ipairs { false, true } do
    local name = plus and "pair_dplus" or "pair_d"
    local saved, smodel = load_run(exp, cfg, name)
    local a
    if saved then
      exp:skip_run(name, cfg.sft_steps)
      a = saved.arm
      a.model, rng.s = smodel, saved.rng
      if not plus then probe = saved.probe end
    else
      local tick = start_run(exp, name, cfg.sft_steps)
      local model, nrows = SC.pair_sft(base, base_traces, { L = L, plus = plus, rng = rng, sft = sft,
        on_step = function(step, mdl)
          if not plus and (step % cfg.probe_every == 0 or step == cfg.sft_steps) then
            local _, ms = SC.evaluate(mdl, curve, L)
            local _, mf = SC.evaluate(mdl, curve, L, { first = base_first })
            probe[#probe + 1] = { step, ms.delta, mf.delta, ms.i2c, mf.i2c }
          end
          tick(step)
        end })
      a = final_eval(model, sp, L)
      a.data_sizes = { nrows }
      save_run(exp, name, { arm = a, rng = rng.s, probe = (not plus) and probe or nil, model = true }, model)
      a.model = model
    end
    log("Pair-SFT %s: %d pairs", plus and "D+" or "D", a.data_sizes[1])
    add(name, a)
  end
  exp:write_tsv("pair_sft_probe.tsv", { "sft_step", "delta_self_y1", "delta_fixed_base_y1", "i2c_self", "i2c_fixed" }, probe)
  arms.probe = probe
  -- RL arms
  local function rl(name, init, mode, steps, o)
    if steps <= 0 then return nil end
    local saved, smodel = load_run(exp, cfg, name)
    if saved then
      exp:skip_run(name, steps)
      local a = saved.arm
      a.model = smodel
      if a.res.diverged then log("%s DIVERGED: %s", name, a.res.diverged) end
      add(name, a)
      return a
    end
    local tick = start_run(exp, name, steps)
    local pol = SC.clone(init)
    local res = SC.run_rl(pol, base, sp.train, { mode = mode, steps = steps, prompts = cfg.prompts, k = cfg.k,
      alpha = o.alpha or cfg.alpha, beta_t1 = o.beta_t1, beta_t2 = o.beta_t2 or cfg.beta1, clip = cfg.clip, L = L,
      lr = cfg.lr, seed = cfg.seed * 31 + #arms.order, eval_every = cfg.eval_every, eval_problems = curve,
      on_eval = function(step, tr, m)
        log("  %s step %d: train reward %.3f, test Acc@t1 %.1f Acc@t2 %.1f change %.1f", name, step, tr,
          100 * m.acc1, 100 * m.acc2, 100 * m.change)
      end,
      on_step = function(step, st)
        tick(step, st.r2 == st.r2 and string.format("r1 %.3f  r2 %.3f", st.r1, st.r2) or string.format("r1 %.3f", st.r1))
      end })
    local final = final_eval(pol, sp, L)
    local kept = SC.clone(base)
    SC.restore(kept, res.best)
    local a = final_eval(kept, sp, L)
    a.final, a.res, a.model, a.steps = final, res, kept, steps
    local lg = res.log
    local n = math.min(#lg, cfg.eval_every)
    local k1, k2 = 0, 0
    for i = #lg - n + 1, #lg do k1 = k1 + lg[i].kl1; k2 = k2 + lg[i].kl2 end
    a.kl1, a.kl2 = n > 0 and k1 / n or 0 / 0, n > 0 and k2 / n or 0 / 0
    local rows = {}
    for _, st in ipairs(lg) do rows[#rows + 1] = { st.step, st.r1, st.r2, st.change, st.kl1, st.kl2, st.loss, st.grad_norm } end
    exp:write_tsv("rl_" .. name .. ".tsv", { "step", "train_r1", "train_r2", "train_change", "kl_turn1", "kl_turn2", "loss", "grad_norm" }, rows)
    local ev = {}
    for _, e in ipairs(res.evals) do ev[#ev + 1] = { e.step, e.train_reward, e.m.acc1, e.m.acc2, e.m.delta, e.m.change, e.m.edit } end
    exp:write_tsv("rl_" .. name .. "_eval.tsv", { "step", "train_reward", "acc1", "acc2", "delta", "change", "edit_ratio" }, ev)
    if res.diverged then log("%s DIVERGED: %s", name, res.diverged) end
    save_run(exp, name, { model = true, arm = { m = a.m, recs = a.recs, final = final, steps = steps, kl1 = a.kl1, kl2 = a.kl2,
      res = { log = res.log, evals = res.evals, best_step = res.best_step, best_reward = res.best_reward, diverged = res.diverged } } }, kept)
    add(name, a)
    return a
  end
  local s1 = rl("stage1", base, "stage1", cfg.stage1_steps, { beta_t1 = cfg.beta2 })
  rl("std", base, "stage1", cfg.std_steps, { beta_t1 = 0 })
  local init2 = s1 and s1.model or base
  rl("score", init2, "stage2", cfg.stage2_steps, { beta_t1 = cfg.beta1 })
  rl("wo_shaping", init2, "stage2", cfg.wo_shaping_steps, { beta_t1 = cfg.beta1, alpha = 0 })
  rl("wo_stage1", base, "stage2", cfg.wo_stage1_steps, { beta_t1 = cfg.beta1 })
  rl("single", base, "single", cfg.single_steps, { beta_t1 = cfg.beta1 })
  rl("diag", init2, "diag", cfg.diag_steps, { beta_t1 = cfg.beta1 })
  -- accuracy over repeated attempts (Fig. 8)
  local att = {}
  for _, name in ipairs { "base", "star_dplus", "pair_d", "score" } do
    local mdl = name == "base" and base or (arms[name] and arms[name].model)
    if mdl then att[name] = SC.accuracy_over_attempts(mdl, curve, cfg.n, cfg.attempts) end
  end
  arms.attempts = att
  arms.seconds = t0:elapsed()
  return arms, sp
end

-- ---- tables, claims, figures ----------------------------------------------------------

local function ci_delta(a, cfg)
  local _, lo, hi = S.bootstrap(S.delta_values(a.recs), { B = cfg.bootstrap, seed = cfg.seed })
  return lo, hi
end

local function table_rows(arms, names, cfg, paper)
  local md = { "| method | ours Acc@t1 | ours Acc@t2 | ours Δ [95% CI] | ours Δi→c | ours Δc→i | change | edit ratio | malformed | KL t1/t2 | paper Acc@t1 | paper Acc@t2 | paper Δ | paper Δi→c | paper Δc→i |",
               "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|" }
  local tsv = {}
  for _, name in ipairs(names) do
    local a = arms[name]
    local p = paper[name] or {}
    if a then
      local m = a.m
      local lo, hi = ci_delta(a, cfg)
      md[#md + 1] = string.format("| %s%s | %s | %s | %s [%s, %s] | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |",
        M.ARM_NAMES[name], a.res and a.res.diverged and " (diverged)" or "", pct(m.acc1), pct(m.acc2), sgn(m.delta), sgn(lo), sgn(hi),
        pct(m.i2c), pct(m.c2i), pct(m.change), string.format("%.3f", m.edit), pct(m.malformed),
        a.kl1 and string.format("%.3f/%.3f", a.kl1, a.kl2) or "-",
        p[1] or "-", p[2] or "-", p[3] or "-", p[4] or "-", p[5] or "-")
      tsv[#tsv + 1] = { name, m.acc1, m.acc2, m.delta, lo, hi, m.i2c, m.c2i, m.change, m.edit, m.malformed }
    elseif name == "self_refine" then
      md[#md + 1] = string.format("| Self-Refine | n/a (no instruction following) | | | | | | | | | %s | %s | %s | %s | %s |",
        p[1], p[2], p[3], p[4], p[5])
    end
  end
  return md, tsv
end

-- Judge the claims of docs/score.md on this run; one seed gives
-- "consistent"/"inconsistent", never "reproduced".
local function claims(arms, cfg)
  local out = {}
  local function get(n) return arms[n] and arms[n].m end
  local function say(id, ok, text)
    local v = ok == nil and "not judged" or (ok and "consistent" or "inconsistent")
    out[#out + 1] = { id = id, verdict = v, text = text }
  end
  local base, score = get("base"), get("score")
  say("C1", base and base.delta <= 0.01, base and string.format("base Δ = %s pt (claim: ≤ +1)", sgn(base.delta)))
  local sd, pd = get("star_dplus"), get("pair_d")
  if sd and pd and score then
    local lo, hi = ci_delta(arms.star_dplus, cfg)
    local star_ok = math.abs(sd.delta) <= 0.01 or (lo <= 0 and hi >= 0)
    say("C2", star_ok and pd.delta > 0 and pd.delta < score.delta,
      string.format("STaR D+ Δ %s [%s, %s]; Pair-SFT D Δ %s; SCoRe Δ %s", sgn(sd.delta), sgn(lo), sgn(hi), sgn(pd.delta), sgn(score.delta)))
  else say("C2", nil, "rows missing") end
  if score then
    local lo = ci_delta(arms.score, cfg)
    local ok, worst = lo > 0, {}
    for _, n in ipairs { "base", "star_dplus", "pair_d", "single", "wo_stage1", "wo_shaping" } do  -- rows of Tables 2 and 4
      if arms[n] then
        local dlo = select(2, S.bootstrap(S.delta_values(arms.score.recs, arms[n].recs), { B = cfg.bootstrap, seed = cfg.seed }))
        if dlo <= 0 then ok = false; worst[#worst + 1] = M.ARM_NAMES[n] end
        if arms[n].m.acc2 > score.acc2 then ok = false end
      end
    end
    say("C3", ok, string.format("SCoRe Δ %s, CI lower end %s; rows whose paired difference CI does not exclude 0: %s",
      sgn(score.delta), sgn(lo), #worst > 0 and table.concat(worst, ", ") or "none"))
    say("C4", score.c2i < base.c2i, string.format("Δc→i: SCoRe %s vs base %s", pct(score.c2i), pct(base.c2i)))
    local abl_ok, txt = true, {}
    for _, n in ipairs { "single", "wo_stage1", "wo_shaping" } do
      local a = get(n)
      if a then
        abl_ok = abl_ok and score.delta > a.delta
        txt[#txt + 1] = string.format("%s Δ %s", M.ARM_NAMES[n], sgn(a.delta))
      end
    end
    local single = get("single")
    if single then abl_ok = abl_ok and single.delta <= 0 and single.acc1 > base.acc1 end
    say("C5", abl_ok, string.format("SCoRe Δ %s; %s; w/o multi-turn Acc@t1 %s vs base %s", sgn(score.delta),
      table.concat(txt, "; "), single and pct(single.acc1) or "n/a", pct(base.acc1)))
  end
  local st1, std = arms.stage1, arms.std
  if st1 and std then
    say("C6", std.final.m.change < st1.final.m.change, string.format("test change rate at the end of training: standard multi-turn RL %s, Stage I %s (base %s)",
      pct(std.final.m.change), pct(st1.final.m.change), pct(base.change)))
  end
  local function zero_mass(a)
    local z = 0
    for _, r in ipairs(a.recs) do if S.levenshtein(r.y1, r.y2) == 0 then z = z + 1 end end
    return z / #a.recs
  end
  if arms.score and arms.star_dplus and arms.pair_d then
    local zs, zt, zp = zero_mass(arms.score), zero_mass(arms.star_dplus), zero_mass(arms.pair_d)
    say("C7", zt > zs and zp > zs, string.format("edit ratio = 0: STaR D+ %s, Pair-SFT D %s, SCoRe %s", pct(zt), pct(zp), pct(zs)))
  end
  local pr = arms.probe
  if pr and #pr > 0 then
    local last = pr[#pr]
    say("C8", last[3] - last[2] > 0.01, string.format("Pair-SFT D after %d steps: Δ with fixed base y1 %s, with its own y1 %s",
      last[1], sgn(last[3]), sgn(last[2])))
  end
  return out
end

local function figures(arms, cfg, dir)
  U.mkdir_p(dir)
  local made = {}
  local function smooth(xs, w)
    local out, s, q = {}, 0, {}
    for i, v in ipairs(xs) do
      q[#q + 1] = v; s = s + v
      if #q > w then s = s - table.remove(q, 1) end
      out[i] = s / #q
    end
    return out
  end
  -- training curves of every RL arm
  local p1, p2, p3 = {}, {}, {}
  for _, name in ipairs(M.RL_ARMS) do
    local a = arms[name]
    if a and #a.res.log > 0 then
      local st, r1, r2 = {}, {}, {}
      for i, s in ipairs(a.res.log) do st[i] = s.step; r1[i] = s.r1; r2[i] = s.r2 == s.r2 and s.r2 or 0 end
      p1[#p1 + 1] = { name = M.ARM_NAMES[name] .. " r1", x = st, y = smooth(r1, 10) }
      if name ~= "single" then p2[#p2 + 1] = { name = M.ARM_NAMES[name] .. " r2", x = st, y = smooth(r2, 10) } end
      local es, d = {}, {}
      for i, e in ipairs(a.res.evals) do es[i] = e.step; d[i] = 100 * e.m.delta end
      if #es > 0 then p3[#p3 + 1] = { name = M.ARM_NAMES[name], x = es, y = d, style = "linespoints" } end
    end
  end
  if #p1 > 0 then
    made[#made + 1] = plot.panels { file = U.join(dir, "score_rl_curves"), cols = 3, title = "RL arms: training reward (10-step mean) and test Δ",
      panels = { { kind = "lines", title = "training r(y1)", xlabel = "step", series = p1, key = "outside" },
                 { kind = "lines", title = "training r(y2)", xlabel = "step", series = #p2 > 0 and p2 or p1 },
                 { kind = "lines", title = "test Δ(t1,t2), points", xlabel = "step", ylabel = "points", series = #p3 > 0 and p3 or { { name = "none", x = { 0 }, y = { 0 } } } } } }.png
  end
  -- Fig. 6: standard multi-turn RL against Stage I
  if arms.stage1 and arms.std then
    local sa, sb = {}, {}
    for _, name in ipairs { "stage1", "std" } do
      local st, r1, r2, ch = {}, {}, {}, {}
      for i, s in ipairs(arms[name].res.log) do st[i] = s.step; r1[i] = s.r1; r2[i] = s.r2; ch[i] = s.change end
      sa[#sa + 1] = { name = M.ARM_NAMES[name] .. " turn 1", x = st, y = smooth(r1, 10) }
      sa[#sa + 1] = { name = M.ARM_NAMES[name] .. " turn 2", x = st, y = smooth(r2, 10) }
      sb[#sb + 1] = { name = M.ARM_NAMES[name], x = st, y = smooth(ch, 10) }
    end
    made[#made + 1] = plot.panels { file = U.join(dir, "score_fig6_std_vs_stage1"), cols = 2,
      panels = { { kind = "lines", title = "(a) training accuracy per turn", xlabel = "step", series = sa },
                 { kind = "lines", title = "(b) answer-change rate (y2 != y1)", xlabel = "step", series = sb } } }.png
  end
  -- Fig. 4: edit-distance ratio histograms
  local hp = {}
  for _, name in ipairs { "base", "star_dplus", "pair_d", "score", "std", "single" } do
    local a = arms[name]
    if a and name ~= "single" then
      local v = {}
      for i, r in ipairs(a.recs) do v[i] = S.edit_ratio(r.y1, r.y2) end
      hp[#hp + 1] = { kind = "histogram", title = M.ARM_NAMES[name], xlabel = "Lev(y1,y2)/(|y1|+|y2|)",
        values = v, bins = cfg.n + 2, range = { -0.25 / (cfg.n + 1), 0.5 + 0.25 / (cfg.n + 1) } }   -- one bin per k/(2(n+1))
    end
  end
  if #hp > 0 then made[#made + 1] = plot.panels { file = U.join(dir, "score_fig4_edit_ratio"), cols = 3, panels = hp }.png end
  -- Fig. 5: Pair-SFT on fixed base y1 against its own y1
  if arms.probe and #arms.probe > 0 then
    local st, ds, df = {}, {}, {}
    for i, r in ipairs(arms.probe) do st[i] = r[1]; ds[i] = 100 * r[2]; df[i] = 100 * r[3] end
    made[#made + 1] = plot.lines { file = U.join(dir, "score_fig5_pair_sft"), title = "Pair-SFT D: Δ(t1,t2) on fixed base y1 vs its own y1",
      xlabel = "SFT step", ylabel = "Δ (points)", series = { { name = "fixed (base) first attempts", x = st, y = df, style = "linespoints" },
        { name = "self-generated first attempts", x = st, y = ds, style = "linespoints" } } }.png
  end
  -- Fig. 8: accuracy over attempts
  local ser = {}
  for _, name in ipairs { "base", "star_dplus", "pair_d", "score" } do
    local acc = arms.attempts and arms.attempts[name]
    if acc then
      local x, y = {}, {}
      for k, v in ipairs(acc) do x[k] = k; y[k] = 100 * v end
      ser[#ser + 1] = { name = M.ARM_NAMES[name], x = x, y = y, style = "linespoints" }
    end
  end
  if #ser > 0 then
    made[#made + 1] = plot.lines { file = U.join(dir, "score_fig8_attempts"), title = "Greedy accuracy at attempt k (sequential self-correction)",
      xlabel = "attempt", ylabel = "accuracy (%)", series = ser }.png
  end
  return made
end

local function report(arms, cfg, exp)
  local md = {}
  local function add(s) md[#md + 1] = s end
  add(string.format("### SCoRe at CPU scale: ours (preset `%s`, seed %d, git %s) beside the paper's", exp.preset, cfg.seed,
    exp.machine and exp.machine.git_revision or "unknown"))
  add("")
  add(string.format("Task: %d-digit MSB-first addition, p9 = %.2f; model dim %d, %d layers; test split %d problems; greedy evaluation. "
    .. "Percentages; Δ CI is a paired bootstrap over problems (%d resamples). One seed: no claim of reproduction rests on it. "
    .. "Paper: %s (MATH, Gemini 1.5 Flash).", cfg.n, cfg.p9, cfg.dim, cfg.layers, cfg.test, cfg.bootstrap, M.PAPER.cite))
  add("")
  add("**Table 1 analogue (SFT analysis)**"); add("")
  local t1, tsv1 = table_rows(arms, { "base", "star_d", "star_dplus", "pair_d", "pair_dplus" }, cfg, M.PAPER.rows)
  for _, l in ipairs(t1) do add(l) end
  add(""); add("**Table 2 analogue (main comparison)**"); add("")
  local t2 = table_rows(arms, { "base", "self_refine", "star_dplus", "pair_d", "score" }, cfg, M.PAPER.rows)
  for _, l in ipairs(t2) do add(l) end
  add(""); add("**Table 4 analogue (ablations; paper columns: Acc@t1, Acc@t2, Δ of Table 4) and the other RL arms**"); add("")
  local abl = {}
  for k, v in pairs(M.PAPER.ablations) do abl[k] = { v[1], v[2], v[3] } end
  local t4, tsv4 = table_rows(arms, { "score", "single", "wo_stage1", "wo_shaping", "diag", "stage1", "std" }, cfg, abl)
  for _, l in ipairs(t4) do add(l) end
  add("")
  add("RL rows are the kept checkpoint (highest training reward among the evaluation points); final checkpoints:"); add("")
  add("| arm | kept at step | steps | final Acc@t1 | final Acc@t2 | final Δ | final change |"); add("|---|---|---|---|---|---|---|")
  for _, name in ipairs(M.RL_ARMS) do
    local a = arms[name]
    if a then
      local f = a.final.m
      add(string.format("| %s | %d | %d | %s | %s | %s | %s |", M.ARM_NAMES[name], a.res.best_step, a.steps,
        pct(f.acc1), pct(f.acc2), sgn(f.delta), pct(f.change)))
    end
  end
  add("")
  if arms.base_sampled then
    local bs = arms.base_sampled
    add(string.format("Base at T = 1 on the %d SFT source traces (train): r1 %s, r2 %s, change %s.", bs.n, pct(bs.r1), pct(bs.r2), pct(bs.change)))
  end
  local sizes = {}
  for _, name in ipairs { "star_d", "star_dplus", "pair_d", "pair_dplus" } do
    if arms[name] and arms[name].data_sizes then sizes[#sizes + 1] = M.ARM_NAMES[name] .. " " .. table.concat(arms[name].data_sizes, "/") end
  end
  if #sizes > 0 then add("SFT data (transcripts; STaR: after each round): " .. table.concat(sizes, "; ") .. ".") end
  add("")
  add("**Claims (docs/score.md; one seed: consistent / inconsistent, not reproduced)**"); add("")
  local cl = claims(arms, cfg)
  for _, c in ipairs(cl) do add(string.format("- %s: %s. %s", c.id, c.verdict, c.text or "")) end
  add("")
  if arms.attempts then
    add("Greedy accuracy at attempts 1..k (first " .. math.min(cfg.curve_eval, cfg.test) .. " test problems):"); add("")
    for _, name in ipairs { "base", "star_dplus", "pair_d", "score" } do
      local acc = arms.attempts[name]
      if acc then
        local s = {}
        for k, v in ipairs(acc) do s[k] = pct(v) end
        add(string.format("- %s: %s", M.ARM_NAMES[name], table.concat(s, ", ")))
      end
    end
    add("")
  end
  local rows = {}
  for _, r in ipairs(tsv1) do rows[#rows + 1] = r end
  for _, r in ipairs(tsv4) do rows[#rows + 1] = r end
  return table.concat(md, "\n") .. "\n", rows, cl
end

-- ---- main ---------------------------------------------------------------------------------

-- args: list of flag strings; opts.exit = false raises on bad flags;
-- opts.stdout: where tables go. Returns {arms =, claims =, exp =} (or the
-- calibration result with --calibrate true).
function M.main(args, opts)
  opts = opts or {}
  local exp = Experiment.new { name = "score", script = "experiments/score.lua", args = args, exit = opts.exit,
    default = "fast", presets = M.PRESETS, options = M.OPTIONS, times = M.TIMES, cosmetic = { "publish", "base_from" },
    about = "Reproduces SCoRe (arXiv 2409.12917) at CPU scale: a small Llama pretrained on two-attempt addition transcripts, then\n"
      .. "Base, STaR D/D+, Pair-SFT D/D+, SCoRe Stage I and II, standard multi-turn RL and the ablations;\n"
      .. "Acc@t1, Acc@t2, delta, i->c, c->i beside the paper's Tables 1, 2 and 4 (claims: docs/score.md).",
    check = function(c)
      if c.dim % c.heads ~= 0 then
        return string.format("invalid --heads %d: expected a divisor of --dim %d", c.heads, c.dim)
      end
      if c.base_from ~= "" and not U.exists(c.base_from) then
        return string.format("invalid --base_from '%s': no such file (expected a base saved by --calibrate true)", c.base_from)
      end
    end }
  if not exp then return nil end
  return exp:run(function() return M.body(exp, opts) end)
end

-- The experiment itself, under exp:run (Ctrl-C: exit 130 with the resume
-- command; an error: one line).
function M.body(exp, opts)
  local cfg = exp.config
  cfg.seed = exp.seed
  local so = opts.stdout or io.stdout
  if cfg.calibrate then
    local r = calibrate(cfg, exp)
    so:write(string.format("score calibration: p9 = %.2f (validation Acc@t1 %.1f%%), lr = %s; see %s\n", r.p9, 100 * r.acc1,
      tostring(r.lr), exp.out))
    return { calibration = r, exp = exp }
  end
  local wall = U.timer()
  local arms = run_arms(cfg, exp)
  local md, rows, cl = report(arms, cfg, exp)
  exp:write_tsv("results_table.tsv", { "arm", "acc1", "acc2", "delta", "delta_ci_lo", "delta_ci_hi", "i2c", "c2i", "change", "edit_ratio", "malformed" },
    (function() local r = {} for _, x in ipairs(rows) do r[#r + 1] = { #r + 1, table.unpack(x, 2) } end return r end)())
  local names = {}
  for i, x in ipairs(rows) do names[i] = i .. "\t" .. x[1] end
  U.write_file_atomic(exp:path("results_table_arms.txt"), "row\tarm\n" .. table.concat(names, "\n") .. "\n")
  local figdir = exp:path("figures")
  local made = figures(arms, cfg, figdir)
  md = md .. string.format("\nWall-clock: %s on a shared 2-core machine (other jobs running).\n", U.format_duration(wall:elapsed()))
  U.write_file_atomic(exp:path("results.md"), md)
  local res = { seconds = wall:elapsed(), git_revision = exp.machine.git_revision }
  for _, name in ipairs(arms.order) do
    local m = arms[name].m
    res[name .. ".acc1"], res[name .. ".acc2"], res[name .. ".delta"] = m.acc1, m.acc2, m.delta
    res[name .. ".i2c"], res[name .. ".c2i"], res[name .. ".change"] = m.i2c, m.c2i, m.change
  end
  for _, c in ipairs(cl) do res["claim." .. c.id] = c.verdict end
  exp:write_results(res)
  if cfg.publish ~= "" then
    if exp.pristine then
      local dest = U.join(U.source_dir(), cfg.publish)
      U.mkdir_p(dest)
      U.run("cp -- " .. U.shell_quote(figdir) .. "/score_* " .. U.shell_quote(exp:path("results.md")) .. " "
        .. U.shell_quote(exp:path("results_table.tsv")) .. " " .. U.shell_quote(exp:path("results_table_arms.txt")) .. " "
        .. U.shell_quote(exp:path("results.txt")) .. " " .. U.shell_quote(exp:path("run.txt")) .. " " .. U.shell_quote(dest) .. "/")
      U.run("cp -- " .. U.shell_quote(exp.out) .. "/*.tsv " .. U.shell_quote(dest) .. "/")
      log("figures and tables copied to %s", dest)
    else
      log("settings differ from the preset: figures stay in %s", figdir)
    end
  end
  so:write("\n", md, "\n")
  return { arms = arms, claims = cl, exp = exp, figures = made }
end

if select(1, ...) == "score.module" then return M end
local a = {}
if type(arg) == "table" then for i = 1, #arg do a[i] = arg[i] end end
M.main(a)
