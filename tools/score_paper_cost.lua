-- tools/score_paper_cost.lua: times a few steps of each part of
-- experiments/score.lua's `paper` preset (pretraining, two-turn and
-- single-turn RL steps, greedy evaluation, sampled traces, SFT steps, the
-- ten-attempt curve) on a fresh model, for the cost estimate in
-- docs/score.md section 6. The per-step times only; the sum over the preset
-- is done by hand in the doc. An estimate: the steps' cost does not depend
-- on what the model has learned, except through malformed answers (none
-- here: generation has a fixed width).
--
--   REPRO_THREADS=1 NPRE=20 NRL=8 repro tools/score_paper_cost.lua
local repro = require "repro"
local U, S, SC = repro.util, repro.score_task, repro.score
local M = assert(loadfile(U.join(U.source_dir(), "experiments/score.lua")))("score.module")
local cfg = M.PRESETS.paper
local function model()
  return SC.model { n = cfg.n, dim = cfg.dim, layers = cfg.layers, heads = cfg.heads, ffn_dim = cfg.ffn_dim, seed = 1,
                    attempts = cfg.attempts }
end
local L = S.layout(cfg.n)
local sp = S.splits { n = cfg.n, p9 = cfg.p9, seed = 1, train = cfg.train, val = cfg.val, test = cfg.test }
local function t(name, n, what, f)
  local t0 = U.now()
  f()
  local dt = U.now() - t0
  print(string.format("%-28s %8.4f s per %s (%.2f s measured)", name, dt / n, what, dt))
  io.stdout:flush()
end
local base = model()
local npre, nrl = tonumber(os.getenv("NPRE") or "10"), tonumber(os.getenv("NRL") or "4")
t("pretrain step x" .. cfg.pre_batch, npre, "step", function()
  SC.pretrain(base, { n = cfg.n, p9 = cfg.p9, seed = 1, steps = npre, batch = cfg.pre_batch, lr = cfg.pre_lr, warmup = 5, clip = 1 })
end)
for _, mode in ipairs { "stage2", "single" } do
  local pol = SC.clone(base)
  t(string.format("RL step %s %dx%d", mode, cfg.prompts, cfg.k), nrl, "step", function()
    SC.run_rl(pol, base, sp.train, { mode = mode, steps = nrl, prompts = cfg.prompts, k = cfg.k, alpha = cfg.alpha,
      beta_t1 = cfg.beta1, beta_t2 = cfg.beta1, clip = cfg.clip, L = L, lr = cfg.lr, seed = 7, eval_every = 1 << 30,
      eval_problems = { sp.test[1] } })
  end)
end
local probs = {}
for i = 1, 500 do probs[i] = sp.test[i] end
t("greedy eval (2 attempts)", #probs, "problem", function() SC.evaluate(base, probs, L) end)
local tp = {}
for i = 1, 256 do tp[i] = sp.train[i] end
local traces
t("sample traces T=1", #tp * cfg.star_per, "trace", function() traces = SC.sample_traces(base, tp, L, cfg.star_per, S.rng(3)) end)
local rows = {}
for i, tr in ipairs(traces) do rows[i] = tr.row end
local m2 = SC.clone(base)
t("SFT step x" .. cfg.sft_batch, 5, "step", function()
  SC.sft(m2, rows, { steps = 5, batch = cfg.sft_batch, lr = cfg.sft_lr, rng = S.rng(5), mask = SC.mask_turn(L, 2) })
end)
local ap = {}
for i = 1, 100 do ap[i] = sp.test[i] end
t(string.format("attempts (%d)", cfg.attempts), #ap, "problem", function() SC.accuracy_over_attempts(base, ap, cfg.n, cfg.attempts) end)
