-- tools/score_sft_turn1_probe.lua: a post-hoc diagnostic of the `paper`
-- preset's SFT arms (docs/score.md section 12), not one of the registered
-- arms. STaR D+ and Pair-SFT train on the second attempt only; at 8 digits
-- their first-attempt accuracy fell from 56.5% to 1-3%. The question: is it
-- the mask (turn 1 drifting through shared weights while only y2 is
-- trained)? The probe fine-tunes two copies of the preset's base on the same
-- data, the first round of STaR D+ (the base's own traces whose y2 is right),
-- with the same steps, batch, learning rate and batch order, once with the
-- loss on y2 only (the arm) and once on y1 and y2; it evaluates greedy
-- Acc@t1 and Acc@t2 on the first NEVAL test problems every 25 steps.
--
--   repro tools/score_sft_turn1_probe.lua [out.tsv]   (NEVAL=500 by default)
local repro = require "repro"
local U, S, SC = repro.util, repro.score_task, repro.score
local M = assert(loadfile(U.join(U.source_dir(), "experiments/score.lua")))("score.module")
local cfg = M.PRESETS.paper
local out = arg and arg[1] or "score_sft_turn1_probe.tsv"
local neval = tonumber(os.getenv("NEVAL") or "500")
local L = S.layout(cfg.n)
local function say(fmt, ...) io.stderr:write(string.format("[probe] " .. fmt .. "\n", ...)) end

-- the experiment's own base (seeded, so the same bits as the run's)
local t0 = U.timer()
local base = M.pretrain_base(cfg, cfg.p9, function(step, loss)
  if step % 250 == 0 then say("pretrain %d loss %.4f (%.0f s)", step, loss, t0:elapsed()) end
end)
local sp = S.splits { n = cfg.n, p9 = cfg.p9, seed = cfg.base_seed, train = cfg.train, val = cfg.val, test = cfg.test }
local _, bm = SC.evaluate(base, sp.test, L)
say("base test Acc@t1 %.1f%% (the paper run's base: 56.5%%)", 100 * bm.acc1)
local probe = {}
for i = 1, math.min(neval, #sp.test) do probe[i] = sp.test[i] end

-- round 1 of STaR D+ for seed 1: the base's traces from the SFT chain's seed
local star_probs = {}
for i = 1, math.min(cfg.star_problems, #sp.train) do star_probs[i] = sp.train[i] end
local traces = SC.sample_traces(base, star_probs, L, cfg.star_per, S.rng(M.sft_seed(1)))
local rows = SC.star_keep(traces, true, {}, {})
say("%d traces, %d kept (y2 right)", #traces, #rows)

local masks = { { "y2", SC.mask_turn(L, 2) }, { "y1+y2", SC.mask_answers(L) } }
local f = assert(io.open(out, "w"))
f:write("mask\tsft_step\tacc1\tacc2\tchange\n")
for _, mk in ipairs(masks) do
  local model = SC.clone(base)
  local function eval(step)
    local _, m = SC.evaluate(model, probe, L)
    f:write(string.format("%s\t%d\t%.4f\t%.4f\t%.4f\n", mk[1], step, m.acc1, m.acc2, m.change)); f:flush()
    say("%-6s step %3d  Acc@t1 %5.1f  Acc@t2 %5.1f  change %5.1f (%.0f s)", mk[1], step, 100 * m.acc1, 100 * m.acc2,
      100 * m.change, t0:elapsed())
  end
  eval(0)
  SC.sft(model, rows, { steps = cfg.sft_steps, batch = cfg.sft_batch, lr = cfg.sft_lr, clip = cfg.clip, rng = S.rng(11),
    mask = mk[2], on_step = function(step) if step % 25 == 0 then eval(step) end end })
end
f:close()
say("wrote %s", out)
