-- experiments/score.lua: SCoRe, training a model to correct itself by RL
-- (Kumar et al., "Training Language Models to Self-Correct via Reinforcement
-- Learning", arXiv 2409.12917), at CPU scale.
--
--   repro experiments/score.lua                       # fast preset (default)
--   repro experiments/score.lua --preset paper        # hours; documented, 3 seeds (--seeds 3) on one base, pooled
--   repro experiments/score.lua --seeds 3 --workers 2 # any preset, 3 seeds in 2 processes
--   repro experiments/score.lua --preset smoke        # seconds; the test's preset
--   repro experiments/score.lua --calibrate true      # the one-time calibration (base model only)
--
-- Task (repro.score_task): MSB-first addition, transcripts `x1 y1 ?= y2` of
-- fixed width. Base model: nn.Llama pretrained on a noisy solver's two-attempt
-- transcripts (no correction prior). Arms: Base, STaR (D, D+), Pair-SFT (D,
-- D+), SCoRe Stage I, SCoRe (Stage II), standard multi-turn RL, and the
-- ablations w/o multi-turn, w/o Stage I, w/o reward shaping, STaR instead of
-- REINFORCE in Stage II (plus the
-- diagnostic R2 = (1+α)r2 when diag_steps > 0). REINFORCE with RLOO, T = 1,
-- Adam, α = 10, β1 = 0.01, β2 = 0.1, exact KL over the 15 symbols.
-- Pre-registration (claims C1-C8, calibration rule): docs/score.md.
--
-- Outputs (out/score/PRESET): config.txt, run.txt, results.txt, results.md
-- (tables with the paper's numbers in their own columns, the claims), TSVs of
-- every curve and table, figures (PNG + SVG + TSV + gnuplot script). With
-- --seeds N > 1 each seed's tables, curves and figures go to seed_K/ and the
-- top level holds the pooled tables (results_pooled.tsv, results_pooled_diffs.tsv)
-- and the claims judged on them (docs/score.md, section 8). Runs with the
-- preset unchanged copy figures and tables to figures/score/ (paper: figures/score/paper/).
local repro = require "repro"
local U = repro.util
local S = repro.score_task
local SC = repro.score
local R = require "repro.score_report"  -- the report (tables, claims, figures)
local plot = repro.plot
local Experiment = repro.experiment
local Progress = repro.train.progress
local I = repro.train.interrupt

local M = {}

-- The paper's numbers, arm names and the report: repro.score_report.
M.PAPER, M.ARM_NAMES, M.RL_ARMS = R.PAPER, R.ARM_NAMES, R.RL_ARMS

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
    wo_stage1_steps = 2, wo_shaping_steps = 2, diag_steps = 2, star_stage2_iters = 1, eval_every = 1, curve_eval = 16,
    star_iters = 2, star_problems = 8, star_per = 2, sft_steps = 2, sft_batch = 8, sft_lr = 3e-4,
    probe_every = 1, attempts = 3, bootstrap = 50, pilot_steps = 2, publish = "", seeds = 1,
  },
  fast = preset {
    n = 6, dim = 64, layers = 2, heads = 4, p9 = 0.5, lr = 1e-4,   -- p9 and lr: the calibration (docs/score.md)
    train = 4096, val = 500, test = 1000, pre_steps = 1500, pre_batch = 128, pre_lr = 2e-3,
    prompts = 32, k = 4, stage1_steps = 100, stage2_steps = 200, std_steps = 100, single_steps = 300,
    wo_stage1_steps = 300, wo_shaping_steps = 200, diag_steps = 0, star_stage2_iters = 3, eval_every = 50, curve_eval = 500,
    star_iters = 3, star_problems = 512, star_per = 4, sft_steps = 100, sft_batch = 128, sft_lr = 3e-4,
    probe_every = 20, attempts = 4, bootstrap = 1000, pilot_steps = 60, publish = "figures/score", seeds = 1,
  },
  paper = preset {
    -- the base as amended in docs/score.md section 9c (the registered dim 96 x 3 layers, 3,000 steps
    -- was too strong, section 9b); p9 and lr: its calibration (section 9c results)
    n = 8, dim = 64, layers = 2, heads = 4, ffn_dim = 0, p9 = 0.35, lr = 1e-4,
    p9_grid = { 0.2, 0.35, 0.5, 0.65, 0.8 },
    train = 4096, val = 500, test = 2000, pre_steps = 1500, pre_batch = 128, pre_lr = 2e-3,
    prompts = 64, k = 4, stage1_steps = 500, stage2_steps = 1000, std_steps = 500, single_steps = 1500,
    wo_stage1_steps = 1500, wo_shaping_steps = 1000, diag_steps = 1000, star_stage2_iters = 3, eval_every = 50, curve_eval = 2000,
    star_iters = 3, star_problems = 4096, star_per = 4, sft_steps = 150, sft_batch = 256, sft_lr = 3e-4,
    probe_every = 25, attempts = 10, bootstrap = 2000, pilot_steps = 300, publish = "figures/score/paper", seeds = 3,
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
  star_stage2_iters = { help = "STaR rounds of the ablation 'STaR instead of REINFORCE in Stage II' (from Stage I, both turns; 0: arm skipped)", min = 0 },
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
  seeds = { help = "seeds --seed .. --seed + seeds - 1, every arm on the one base; > 1: per-seed tables in seed_K/ and pooled tables (claims on the pooled numbers)", min = 1 },
}

-- How long each preset takes. The fast figure is measured (docs/score.md).
M.TIMES = {
  smoke = "about 3 s (the test's preset)",
  fast = "about 10 min (8 min 45 s and 10 min 40 s measured with another run on the 2 cores)",
  paper = "about 1.5 h: 3 seeds in 2 processes (1 h 33 min measured on 2 cores; docs/score.md section 12; not run by CI)",
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
  if cfg.star_stage2_iters > 0 then runs[#runs + 1] = { "star_stage2", cfg.star_stage2_iters * cfg.sft_steps } end
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

-- The base model of cfg pretrained at p9 (seeded: the same bits on every
-- run); on_step(step, loss) after each step. Exported for the diagnostic
-- tools that must start from the experiment's own base.
function M.pretrain_base(cfg, p9, on_step)
  local base = new_model(cfg, cfg.base_seed)
  SC.pretrain(base, { n = cfg.n, p9 = p9, seed = cfg.base_seed, steps = cfg.pre_steps, batch = cfg.pre_batch,
    lr = cfg.pre_lr, warmup = cfg.pre_warmup, weight_decay = cfg.pre_wd, clip = cfg.clip,
    solver = { p_correct = cfg.solver_correct, p_copy = cfg.solver_copy }, on_step = on_step })
  return base
end

-- The seed of a run seed's SFT chain (the base's traces, STaR, Pair-SFT).
function M.sft_seed(seed) return seed * 7919 + 3 end

local function pretrain(cfg, exp, p9, tag, tick)
  local rows = {}
  local t = U.timer()
  tick = tick or function() end
  local base = M.pretrain_base(cfg, p9, function(step, loss)
    rows[#rows + 1] = { step, loss }
    tick(step, string.format("loss %.4f", loss))
    if step % 250 == 0 then log("%s pretrain step %d loss %.4f (%.0f s)", tag, step, loss, t:elapsed()) end
  end)
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
local function load_base(path, cfg, p9)
  local t, meta = repro.tensor.load(path)
  local want = base_fingerprint(cfg, p9 or cfg.p9)
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
local function load_run(exp, cfg, name, always)
  if not (exp.resume or always) then return nil end
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

-- ---- calibration (once, base model and the single-turn arm only) -------------------

local function calibrate(cfg, exp)
  local rows, best = {}, nil
  -- the grid's bases are independent runs: in several processes with --workers
  -- (each saved with its fingerprint; under --resume a saved one is reused)
  local function base_path(p9) return exp:path("base_p9_" .. p9 .. ".safetensors") end
  exp:plan(#cfg.p9_grid, #cfg.p9_grid * cfg.pre_steps)
  exp:runs(cfg.p9_grid, function(p9)
    if exp.resume and U.exists(base_path(p9)) and pcall(load_base, base_path(p9), cfg, p9) then
      exp:skip_run("pretrain_p9_" .. p9, cfg.pre_steps)
      return
    end
    local base, losses = pretrain(cfg, exp, p9, "p9_" .. p9, start_run(exp, "pretrain_p9_" .. p9, cfg.pre_steps))
    save_base(base_path(p9), base, losses, cfg, p9)
  end)
  for _, p9 in ipairs(cfg.p9_grid) do
    exp:check_interrupt("the calibration")
    local sp = S.splits { n = cfg.n, p9 = p9, seed = cfg.base_seed, train = cfg.train, val = cfg.val, test = cfg.test }
    local base = load_base(base_path(p9), cfg, p9)
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

local function rl_steps(cfg, name) return cfg[(name == "score" and "stage2" or name) .. "_steps"] end

-- The RL arms that start from the base and need nothing else: with several
-- seeds they form one of a seed's two run units ("g2"); the other ("g1")
-- holds the SFT chain (one generator threads through its arms), Stage I and
-- the arms that start from Stage I's kept model.
local BASE_ONLY = { std = true, wo_stage1 = true, single = true }

-- The seed offset of an RL arm: its place in the whole chain (base, the four
-- SFT arms, then the RL arms that run, in R.RL_ARMS order), so a unit that
-- trains only some arms seeds each one as the whole chain does.
local function rl_index(cfg, name)
  local i = 5
  for _, n in ipairs(R.RL_ARMS) do
    if n == name then return i end
    if rl_steps(cfg, n) > 0 then i = i + 1 end
  end
  error("score: unknown RL arm " .. tostring(name))
end

-- The one base of every seed: --base_from, or the run's own saved base (under
-- --resume, and always in a share of the runs: the parent saved it before
-- starting them), else pretrained and saved as the run "pretrain". A share
-- started alone (--part) that finds no saved base pretrains its own copy
-- (same settings, same bits) and does not save it: shares may run at once.
local function get_base(cfg, exp)
  local t0 = U.timer()
  if cfg.base_from ~= "" then
    local base, losses = load_base(cfg.base_from, cfg)
    exp:write_tsv("pretrain_base.tsv", { "step", "loss" }, losses)
    log("base loaded from %s (pretrained with identical settings)", cfg.base_from)
    return base
  end
  local saved, model = load_run(exp, cfg, "pretrain", exp.part ~= nil)
  local base
  if saved then
    base = model
    if not exp.part then exp:skip_run("pretrain", cfg.pre_steps) end
  else
    base = pretrain(cfg, exp, cfg.p9, "base", start_run(exp, "pretrain", cfg.pre_steps))
    if not exp.part then save_run(exp, "pretrain", { model = true }, base) end
  end
  log("base pretrained in %.0f s", t0:elapsed())
  return base
end

-- One seed's arms on the shared base. o.dir: prefix of its files and runs
-- ("" with one seed, "seed_K/" with several); o.only: nil (every arm), "g1"
-- or "g2" (one run unit, see BASE_ONLY). Under exp.resume finished arms are
-- read back, so a pass with o.only = nil after both units collects the seed.
local function run_arms(cfg, exp, base, o)
  o = o or {}
  local dir, only = o.dir or "", o.only
  local function wanted(name)
    if not only then return true end
    return (only == "g2") == (BASE_ONLY[name] == true)
  end
  local function ck(name) return dir .. name end
  if dir ~= "" then U.mkdir_p(exp:path(dir)) end
  local L = S.layout(cfg.n)
  local sp = S.splits { n = cfg.n, p9 = cfg.p9, seed = cfg.base_seed, train = cfg.train, val = cfg.val, test = cfg.test }
  local t0 = U.timer()
  local arms = { order = {} }
  local function add(name, a)
    arms[name] = a; arms.order[#arms.order + 1] = name
    local m = a.m
    log("%s%-24s Acc@t1 %5.1f  Acc@t2 %5.1f  delta %+5.1f  i->c %4.1f  c->i %4.1f  change %4.1f  (%.0f s so far)",
      dir, M.ARM_NAMES[name], 100 * m.acc1, 100 * m.acc2, 100 * m.delta, 100 * m.i2c, 100 * m.c2i, 100 * m.change, t0:elapsed())
  end
  local b = final_eval(base, sp, L)
  add("base", b)
  local curve = {}
  for i = 1, math.min(cfg.curve_eval, #sp.test) do curve[i] = sp.test[i] end
  local base_first = {}
  for i = 1, #curve do base_first[i] = b.recs[i].y1 end
  -- one generator threads through the SFT arms: the base's traces, STaR D,
  -- D+, Pair-SFT D, D+, then STaR in Stage II (each finished arm records its
  -- state); the traces are sampled only when an arm needs them, from their
  -- own copy of the chain's start (an arm read back may have moved rng on)
  local sft_seed = M.sft_seed(cfg.seed)
  local rng = S.rng(sft_seed)
  local star_probs = {}
  for i = 1, math.min(cfg.star_problems, #sp.train) do star_probs[i] = sp.train[i] end
  local base_traces, after_traces
  local function traces()
    if not base_traces then
      local trng = S.rng(sft_seed)
      base_traces = SC.sample_traces(base, star_probs, L, cfg.star_per, trng)
      after_traces = trng.s
      local r1, r2, ch = 0, 0, 0
      for _, tr in ipairs(base_traces) do
        r1 = r1 + tr.rec.r1; r2 = r2 + tr.rec.r2
        if S.levenshtein(tr.rec.y1, tr.rec.y2) > 0 then ch = ch + 1 end
      end
      local nt = math.max(#base_traces, 1)
      arms.base_sampled = { n = #base_traces, r1 = r1 / nt, r2 = r2 / nt, change = ch / nt }
      log("%sbase at T = 1 on %d train traces: r1 %.3f, r2 %.3f, change %.3f", dir, #base_traces, r1 / nt, r2 / nt, ch / nt)
    end
    return base_traces
  end
  local sft = { steps = cfg.sft_steps, batch = cfg.sft_batch, lr = cfg.sft_lr, clip = cfg.clip }
  if only ~= "g2" then
    -- STaR D and D+
    for _, plus in ipairs { false, true } do
      local name = plus and "star_dplus" or "star_d"
      local saved, smodel = load_run(exp, cfg, ck(name))
      local a
      if saved then
        exp:skip_run(ck(name), cfg.star_iters * cfg.sft_steps)
        a = saved.arm
        a.model, rng.s = smodel, saved.rng
        if saved.base_sampled then arms.base_sampled = saved.base_sampled end
      else
        local tr = traces()
        if not plus then rng.s = after_traces end   -- STaR D continues the traces' generator
        local tick = start_run(exp, ck(name), cfg.star_iters * cfg.sft_steps)
        local model, sizes = SC.star(base, star_probs, { L = L, iters = cfg.star_iters, per = cfg.star_per, plus = plus,
          rng = rng, sft = sft, first_traces = tr, on_step = function(step) tick(step) end })
        a = final_eval(model, sp, L)
        a.data_sizes = sizes
        save_run(exp, ck(name), { arm = a, rng = rng.s, model = true,
          base_sampled = (not plus) and arms.base_sampled or nil }, model)
        a.model = model
      end
      log("%sSTaR %s: kept traces after each round: %s", dir, plus and "D+" or "D", table.concat(a.data_sizes, ", "))
      add(name, a)
    end
    -- Pair-SFT D (with the fixed-vs-self probe, Fig. 5) and D+
    local probe = {}
    for _, plus in ipairs { false, true } do
      local name = plus and "pair_dplus" or "pair_d"
      local saved, smodel = load_run(exp, cfg, ck(name))
      local a
      if saved then
        exp:skip_run(ck(name), cfg.sft_steps)
        a = saved.arm
        a.model, rng.s = smodel, saved.rng
        if not plus then probe = saved.probe end
      else
        local tr = traces()
        local tick = start_run(exp, ck(name), cfg.sft_steps)
        local model, nrows = SC.pair_sft(base, tr, { L = L, plus = plus, rng = rng, sft = sft,
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
        save_run(exp, ck(name), { arm = a, rng = rng.s, probe = (not plus) and probe or nil, model = true }, model)
        a.model = model
      end
      log("%sPair-SFT %s: %d pairs", dir, plus and "D+" or "D", a.data_sizes[1])
      add(name, a)
    end
    exp:write_tsv(dir .. "pair_sft_probe.tsv", { "sft_step", "delta_self_y1", "delta_fixed_base_y1", "i2c_self", "i2c_fixed" }, probe)
    arms.probe = probe
    if not arms.base_sampled then traces() end   -- arms saved before the statistics were recorded with them
  end
  -- RL arms
  local function rl(name, init, mode, o2)
    local steps = rl_steps(cfg, name)
    if steps <= 0 or not wanted(name) then return nil end
    local idx = rl_index(cfg, name)
    if not only and idx ~= #arms.order then
      error(string.format("score: arm %s would be seeded at place %d, the chain is at %d", name, idx, #arms.order))
    end
    local saved, smodel = load_run(exp, cfg, ck(name))
    if saved then
      exp:skip_run(ck(name), steps)
      local a = saved.arm
      a.model = smodel
      if a.res.diverged then log("%s%s DIVERGED: %s", dir, name, a.res.diverged) end
      add(name, a)
      return a
    end
    local tick = start_run(exp, ck(name), steps)
    local pol = SC.clone(init)
    local res = SC.run_rl(pol, base, sp.train, { mode = mode, steps = steps, prompts = cfg.prompts, k = cfg.k,
      alpha = o2.alpha or cfg.alpha, beta_t1 = o2.beta_t1, beta_t2 = o2.beta_t2 or cfg.beta1, clip = cfg.clip, L = L,
      lr = cfg.lr, seed = cfg.seed * 31 + idx, eval_every = cfg.eval_every, eval_problems = curve,
      on_eval = function(step, tr, m)
        log("  %s%s step %d: train reward %.3f, test Acc@t1 %.1f Acc@t2 %.1f change %.1f", dir, name, step, tr,
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
    exp:write_tsv(dir .. "rl_" .. name .. ".tsv", { "step", "train_r1", "train_r2", "train_change", "kl_turn1", "kl_turn2", "loss", "grad_norm" }, rows)
    local ev = {}
    for _, e in ipairs(res.evals) do ev[#ev + 1] = { e.step, e.train_reward, e.m.acc1, e.m.acc2, e.m.delta, e.m.change, e.m.edit } end
    exp:write_tsv(dir .. "rl_" .. name .. "_eval.tsv", { "step", "train_reward", "acc1", "acc2", "delta", "change", "edit_ratio" }, ev)
    if res.diverged then log("%s%s DIVERGED: %s", dir, name, res.diverged) end
    save_run(exp, ck(name), { model = true, arm = { m = a.m, recs = a.recs, final = final, steps = steps, kl1 = a.kl1, kl2 = a.kl2,
      res = { log = res.log, evals = res.evals, best_step = res.best_step, best_reward = res.best_reward, diverged = res.diverged } } }, kept)
    add(name, a)
    return a
  end
  local s1 = rl("stage1", base, "stage1", { beta_t1 = cfg.beta2 })
  rl("std", base, "stage1", { beta_t1 = 0 })
  local init2 = s1 and s1.model or base
  rl("score", init2, "stage2", { beta_t1 = cfg.beta1 })
  rl("wo_shaping", init2, "stage2", { beta_t1 = cfg.beta1, alpha = 0 })
  rl("wo_stage1", base, "stage2", { beta_t1 = cfg.beta1 })
  rl("single", base, "single", { beta_t1 = cfg.beta1 })
  rl("diag", init2, "diag", { beta_t1 = cfg.beta1 })
  -- Table 4's last ablation: Stage II by STaR (filter own traces with a right
  -- y2, fine-tune on both turns) instead of REINFORCE, from the same Stage I model.
  if cfg.star_stage2_iters > 0 and only ~= "g2" then
    local name = "star_stage2"
    local steps = cfg.star_stage2_iters * cfg.sft_steps
    local saved, smodel = load_run(exp, cfg, ck(name))
    local a
    if saved then
      exp:skip_run(ck(name), steps)
      a = saved.arm
      a.model, rng.s = smodel, saved.rng
    else
      local tick = start_run(exp, ck(name), steps)
      local model, sizes = SC.star(init2, star_probs, { L = L, iters = cfg.star_stage2_iters, per = cfg.star_per, plus = true,
        turns = "both", rng = rng, sft = sft, on_step = function(step) tick(step) end })
      a = final_eval(model, sp, L)
      a.data_sizes = sizes
      save_run(exp, ck(name), { arm = a, rng = rng.s, model = true }, model)
      a.model = model
    end
    log("%sSTaR in Stage II: kept traces after each round: %s", dir, table.concat(a.data_sizes, ", "))
    add(name, a)
  end
  -- accuracy over repeated attempts (Fig. 8): greedy, so computed once (by
  -- unit g1, which saves it) and read back by the pass that collects the seed
  if only ~= "g2" then
    local saved = load_run(exp, cfg, ck("attempts"))
    if saved then
      arms.attempts = saved.attempts
    else
      local att = {}
      for _, name in ipairs { "base", "star_dplus", "pair_d", "score" } do
        local mdl = name == "base" and base or (arms[name] and arms[name].model)
        if mdl then att[name] = SC.accuracy_over_attempts(mdl, curve, cfg.n, cfg.attempts) end
      end
      arms.attempts = att
      if only then save_run(exp, ck("attempts"), { attempts = att }) end
    end
  end
  arms.seconds = t0:elapsed()
  return arms, sp
end

-- ---- main ---------------------------------------------------------------------------------

-- args: list of flag strings; opts.exit = false raises on bad flags;
-- opts.stdout: where tables go. Returns {arms =, claims =, exp =} (or the
-- calibration result with --calibrate true).
function M.main(args, opts)
  opts = opts or {}
  local exp = Experiment.new { name = "score", script = "experiments/score.lua", args = args, exit = opts.exit,
    default = "fast", presets = M.PRESETS, parts = true, options = M.OPTIONS, times = M.TIMES, cosmetic = { "publish", "base_from" },
    about = "Reproduces SCoRe (arXiv 2409.12917) at CPU scale: a small Llama pretrained on two-attempt addition transcripts, then\n"
      .. "Base, STaR D/D+, Pair-SFT D/D+, SCoRe Stage I and II, standard multi-turn RL and the four ablations;\n"
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
  local seeds = {}
  for k = 1, cfg.seeds do seeds[k] = cfg.seed + k - 1 end
  local function seed_cfg(s)
    local c = U.deepcopy(cfg)
    c.seed = s
    return c
  end
  local function seed_dir(s) return #seeds > 1 and string.format("seed_%d/", s) or "" end
  -- the plan: the base once, then every seed's arms
  local runs, pre, npre, upre, units = plan_runs(cfg), 0, 0, 0, 0
  for _, r in ipairs(runs) do
    if r[1] == "pretrain" then npre, upre = 1, r[2] else pre = pre + 1; units = units + r[2] end
  end
  exp:plan(npre + #seeds * pre, upre + #seeds * units)
  local base = get_base(cfg, exp)
  -- run units: one seed's whole chain with one seed; with several, each seed
  -- in two (g1: SFT chain, Stage I and the arms built on it; g2: the RL arms
  -- that start from the base), alternating so that two processes get a mix
  local items = {}
  for k, s in ipairs(seeds) do
    if #seeds == 1 then items[#items + 1] = { seed = s }
    else
      local a, b = "g1", "g2"
      if k % 2 == 0 then a, b = b, a end
      items[#items + 1] = { seed = s, only = a }
      items[#items + 1] = { seed = s, only = b }
    end
  end
  local collected = {}
  exp:runs(items, function(item)
    local c, dir = seed_cfg(item.seed), seed_dir(item.seed)
    if not item.only then
      collected[item.seed] = run_arms(c, exp, base, { dir = dir })
      return
    end
    local mark = dir .. "done_" .. item.only
    if load_run(exp, c, mark) then return end   -- a unit finished earlier (--resume, or by a share)
    run_arms(c, exp, base, { dir = dir, only = item.only })
    save_run(exp, mark, { done = true })
  end)
  local seed_arms = {}
  if #seeds == 1 then
    seed_arms[1] = collected[seeds[1]]
  else
    -- collect each seed: every arm is read back from its checkpoint
    local resume, quiet = exp.resume, exp.quiet_skip
    exp.resume, exp.quiet_skip = true, true
    for k, s in ipairs(seeds) do seed_arms[k] = run_arms(seed_cfg(s), exp, base, { dir = seed_dir(s) }) end
    exp.resume, exp.quiet_skip = resume, quiet
  end
  exp:check_interrupt("the report")
  -- per seed: the tables, claims and figures of a one-seed run (in seed_K/ with several)
  local per_seed_md, figures_made, seed1_claims = {}, nil, nil
  for k, s in ipairs(seeds) do
    local c, dir = seed_cfg(s), seed_dir(s)
    local arms = seed_arms[k]
    local md, rows, claims = R.report(arms, c, exp)
    if k == 1 then seed1_claims = claims end
    exp:write_tsv(dir .. "results_table.tsv", { "arm", "acc1", "acc2", "delta", "delta_ci_lo", "delta_ci_hi", "i2c", "c2i", "change", "edit_ratio", "malformed" },
      (function() local r = {} for _, x in ipairs(rows) do r[#r + 1] = { #r + 1, table.unpack(x, 2) } end return r end)())
    local names = {}
    for i, x in ipairs(rows) do names[i] = i .. "\t" .. x[1] end
    U.write_file_atomic(exp:path(dir .. "results_table_arms.txt"), "row\tarm\n" .. table.concat(names, "\n") .. "\n")
    local made = R.figures(arms, c, exp:path(dir .. "figures"))
    if k == 1 then figures_made = made end
    per_seed_md[k] = md
    if #seeds > 1 then U.write_file_atomic(exp:path(dir .. "results.md"), md) end
  end
  local md, cl, res
  local arms = seed_arms[1]
  if #seeds == 1 then
    md, cl = per_seed_md[1], seed1_claims
  else
    local pooled = R.pool(seed_arms)
    local reproduce = exp.preset == "paper" and #seeds >= 3
    for _, k in ipairs(exp.changed) do if k ~= "seeds" then reproduce = false end end
    local prows, drows
    md, prows, drows, cl = R.pooled_report(seed_arms, pooled, cfg, exp, { seeds = seeds, reproduce = reproduce })
    exp:write_tsv("results_pooled.tsv", { "arm", "seeds", "acc1", "acc1_sd", "acc2", "acc2_sd", "delta", "delta_sd", "delta_ci_lo",
      "delta_ci_hi", "i2c", "i2c_sd", "c2i", "c2i_sd", "change", "change_sd" }, prows)
    exp:write_tsv("results_pooled_diffs.tsv", { "arm", "other", "delta_diff", "delta_diff_sd", "ci_lo", "ci_hi" }, drows)
    arms = pooled
  end
  md = md .. string.format("\nWall-clock: %s on a shared 2-core machine (other jobs running).\n", U.format_duration(wall:elapsed()))
  U.write_file_atomic(exp:path("results.md"), md)
  res = { seconds = wall:elapsed(), git_revision = exp.machine.git_revision }
  if #seeds > 1 then res.seeds = table.concat(seeds, ",") end
  for _, name in ipairs(arms.order) do
    local m = arms[name].m
    res[name .. ".acc1"], res[name .. ".acc2"], res[name .. ".delta"] = m.acc1, m.acc2, m.delta
    res[name .. ".i2c"], res[name .. ".c2i"], res[name .. ".change"] = m.i2c, m.c2i, m.change
  end
  for _, c in ipairs(cl) do res["claim." .. c.id] = c.verdict end
  exp:write_results(res)
  local figdir = exp:path(seed_dir(seeds[1]) .. "figures")
  local dest = exp:publish(cfg.publish, #seeds == 1
    and { "figures/score_*", "results.md", "results_table.tsv", "results_table_arms.txt", "results.txt", "run.txt", "*.tsv" }
    or { "results.md", "results.txt", "run.txt", "*.tsv", "seed_*" })
  if dest then log("figures and tables copied to %s", dest)
  elseif dest == false then log("settings differ from the preset: figures stay in %s", figdir) end
  so:write("\n", md, "\n")
  return { arms = seed_arms[1], seed_arms = seed_arms, pooled = #seeds > 1 and arms or nil, claims = cl, exp = exp,
           figures = figures_made }
end

if select(1, ...) == "score.module" then return M end
local a = {}
if type(arg) == "table" then for i = 1, #arg do a[i] = arg[i] end end
M.main(a)
