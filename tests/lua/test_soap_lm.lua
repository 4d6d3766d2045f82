-- tests/lua/test_soap_lm.lua: smoke test of experiments/soap_lm.lua: the
-- `smoke` preset trains AdamW, Shampoo and SOAP 5 steps each on a tiny model
-- over two seeds (the sweep, the second seed, the fraction runs of the fit,
-- the precondition-frequency ablation), writes every run's log, the tables
-- and the figures' data.
local A = dofile(arg[0]:match("(.*/)") .. "assert.lua")
local repro = require "repro"
local U = repro.util
local Eff = require "repro.efficiency"

local tmp = A.tmpdir()

local M = A.experiment("soap_lm")

-- quiet: the trainer's progress lines go to stderr, the summary to stdout
local function run(args)
  local f = assert(io.open(tmp .. "/stdout.txt", "w"))
  local ok, r = pcall(M.main, args, { exit = false, stdout = f })
  f:close()
  if not ok then error(r, 0) end
  return r
end

A.test("presets: smoke is tiny, fast and paper are documented", function()
  for _, p in ipairs { "smoke", "fast", "paper" } do A.truthy(M.PRESETS[p], "preset " .. p) end
  A.eq(5, M.PRESETS.smoke.steps)
  A.eq("fit", M.PRESETS.fast.efficiency); A.eq("fit", M.PRESETS.paper.efficiency)
  A.eq("cosine", M.PRESETS.fast.schedule)
  A.truthy(M.PRESETS.fast.nseeds >= 3, "fast preset: at least 3 seeds")
  A.eq("1,2,4,10", table.concat(M.PRESETS.fast.freqs, ","))
  A.eq("paper", M.PRESETS.fast.shampoo_variant)
  A.near(-0.4, M.SHAMPOO_VARIANTS.paper.exponent, 1e-15)
  A.eq(-1, M.SHAMPOO_VARIANTS.paper.start_preconditioning_step)
  A.eq(1e-12, M.SHAMPOO_VARIANTS.paper.matrix_eps); A.eq(false, M.SHAMPOO_VARIANTS.paper.matrix_eps_relative)
  for _, k in ipairs { "adamw", "shampoo", "soap" } do
    A.truthy(#M.PRESETS.fast.lrs[k] >= 3, "fast preset sweeps at least 3 learning rates for " .. k)
  end
  A.truthy(M.PAPER.soap_adamw_iters:find("40", 1, true) and M.PAPER.cite:find("2409.11321", 1, true), "paper numbers cited")
end)

A.test("smoke preset: sweep, seeds, fraction runs and fits, ablation, tables, figures", function()
  local t = U.timer()
  local out = tmp .. "/smoke"
  local res = run { "--preset", "smoke", "--out", out }
  A.truthy(t:elapsed() < 60, "runs in seconds (" .. t:elapsed() .. " s)")
  A.eq("1,2", table.concat(res.seeds, ","))
  for _, k in ipairs(M.OPTIMIZERS) do
    local best = res.best[k]
    A.truthy(best and best.run.complete, k .. " run complete")
    A.eq(5, best.run.steps[#best.run.steps], k .. " trained 5 steps")
    local v = best.run.final
    A.truthy(v == v and v < math.log(65) + 0.5, k .. " final loss is finite and sane: " .. v)
    A.eq(5, #U.read_tsv(best.run.log).rows, k .. " log rows")
    A.truthy(res.timing[k].step_ms > 0, k .. " timed")
    -- the first seed's full run is the sweep's; the second is its own, with other batches and weights
    A.eq(best.run, res.full[k][1], k .. " seed 1 is the sweep's run")
    A.truthy(res.full[k][2].complete and res.full[k][2].final ~= res.full[k][1].final, k .. " seed 2 differs")
    A.truthy(U.exists(out .. "/runs/" .. (k == "adamw" and "adamw_lr0.003_s2" or k .. "_lr0.003_f10_s2") .. ".tsv"), k .. " seed-2 log")
    -- fraction runs (0.6 x 5 = 3, 0.8 x 5 = 4 steps): one evaluation, at the end
    for si = 1, 2 do
      A.eq(2, #res.frac[k][si], k .. " fraction runs")
      A.eq(3, res.frac[k][si][1].n); A.eq(1, #res.frac[k][si][1].loss, "fraction run evaluated once")
    end
  end
  -- the same seed, the same data: every optimizer starts from the same loss
  local l1 = {}
  for _, k in ipairs(M.OPTIMIZERS) do l1[k] = U.read_tsv(res.best[k].run.log).rows[1][2] end
  A.eq(l1.adamw, l1.soap, "same first loss (adamw, soap)"); A.eq(l1.adamw, l1.shampoo, "same first loss (adamw, shampoo)")
  -- the paper's Shampoo: grafted AdamW until step f = 10 > 5, so here it is AdamW step for step
  A.near(res.full.adamw[1].final, res.full.shampoo[1].final, 1e-5, "paper Shampoo before its first preconditioning = AdamW")
  -- ablation: frequency 1 ran for both, every seed; 10 reuses the full runs
  for si = 1, 2 do
    A.truthy(res.ablation.soap[1][si].complete and res.ablation.shampoo[1][si].complete, "frequency 1 runs")
    A.eq(res.full.soap[si], res.ablation.soap[10][si], "frequency 10 is the full run")
  end
  A.truthy(res.degradation and res.degradation.diff.n == 2, "paired degradation over 2 seeds")
  -- measures: per seed, both; the summary is their mean
  for ci, c in ipairs(M.COMPARISONS) do
    local m = res.measures[ci]
    for si = 1, 2 do
      A.eq(res.full[c.b][si].final, m.targets[si], c.name .. " target is the baseline's final loss")
      local fit = res.fits[c.a][si]
      if fit and m.n_fit[si] then
        A.near(100 * (1 - m.n_fit[si] / 5), m.fit_steps[si], 1e-9, c.name .. " fit percentage")
        A.near(m.targets[si], Eff.eval_power(fit, m.n_fit[si]), 1e-6, c.name .. " fit inverted at the target")
      end
    end
    local sm = Eff.summary(m.fit_steps)
    if sm.n == 2 then A.near((m.fit_steps[1] + m.fit_steps[2]) / 2, m.fit_steps_sum.mean, 1e-12) end
  end
  local runs = U.read_tsv(out .. "/runs.tsv")
  -- 3 sweep + 3 second-seed + 3 optimizers x 2 seeds x 2 fractions + 2 optimizers x 2 seeds x frequency 1
  A.eq(3 + 3 + 12 + 4, #runs.rows, "runs.tsv rows")
  for _, f in ipairs { "results.md", "results_table.tsv", "results.txt", "timing.tsv", "efficiency.tsv", "fits.tsv",
                       "config.txt", "run.txt" } do
    A.truthy(U.exists(U.join(out, f)), f)
  end
  for _, f in ipairs { "soap_lm_curves", "soap_lm_frequency", "soap_lm_lr_sweep" } do
    A.truthy(U.exists(U.join(out, "figures", f .. ".tsv")) and U.exists(U.join(out, "figures", f .. ".gp")), f)
  end
  -- every seed's curve is in the figure's data; the key names each optimizer once
  local curves = U.read_file(out .. "/figures/soap_lm_curves.tsv")
  A.truthy(curves:find("# SOAP seed 2", 1, true) and curves:find("# AdamW seed 2", 1, true), "seed-2 curves in the TSV")
  local gp = U.read_file(out .. "/figures/soap_lm_curves.gp")
  A.truthy(gp:find("notitle", 1, true) and gp:find("title 'SOAP'", 1, true), "one key entry per optimizer")
  local md = U.read_file(out .. "/results.md")
  A.truthy(md:find("> 40%", 1, true) and md:find("paper", 1, true) and md:find("2409.11321", 1, true), "paper's numbers labelled")
  A.truthy(md:find("seeds 1, 2", 1, true) and md:find("95% confidence interval", 1, true), "seeds and intervals stated")
  A.truthy(md:find("| 1 | 5 |", 1, true), "frequency table with the number of refreshes")
  local printed = U.read_file(tmp .. "/stdout.txt")
  A.truthy(printed:find("SOAP vs AdamW", 1, true) and printed:find("soap_lm: ", 1, true), "table and summary printed")
  -- the smoke preset never publishes into figures/
  A.eq("", M.PRESETS.smoke.publish)
  -- --resume reuses the complete logs: no new training run
  local again = run { "--preset", "smoke", "--out", out, "--resume" }
  A.eq(res.best.soap.run.final, again.best.soap.run.final, "resumed results")
  A.eq(0, U.read_config(out .. "/results.txt").runs, "resume trains nothing")
end)

A.test("kit Shampoo variant and the crossing headline", function()
  local out = tmp .. "/kit"
  local res = run { "--preset", "smoke", "--out", out, "--shampoo_variant", "kit", "--efficiency", "interp", "--nseeds", "1",
                    "--freqs", "10" }
  -- the kit's Shampoo preconditions from step 1: no longer AdamW
  A.truthy(math.abs(res.full.adamw[1].final - res.full.shampoo[1].final) > 1e-4, "kit Shampoo differs from AdamW")
  A.eq(res.measures[1].cross_steps_sum, res.eff.soap.steps_summary, "headline is the crossing measure")
end)

A.test("bad settings are errors", function()
  A.raises(function() run { "--preset", "smoke", "--out", tmp .. "/bad", "--efficiency", "guess" } end,
    "invalid --efficiency 'guess': expected one of interp, fit")
  A.raises(function() run { "--preset", "smoke", "--out", tmp .. "/bad2", "--schedule", "linear" } end,
    "invalid --schedule 'linear': expected one of constant, cosine")
  A.raises(function() run { "--preset", "smoke", "--out", tmp .. "/bad4", "--lrs.soap", "0.1,x" } end,
    "invalid --lrs.soap '0.1,x' (element 2 'x')")
  A.raises(function() run { "--preset", "smoke", "--out", tmp .. "/bad5", "--model.heads", "3" } end,
    "expected a divisor of --model.dim 16")
  A.truthy(not U.exists(tmp .. "/bad") and not U.exists(tmp .. "/bad4"), "nothing written")
  A.raises(function() run { "--preset", "smoke", "--out", tmp .. "/bad3", "--nope", "1" } end, "unknown flag")
end)

U.run("rm -rf -- " .. U.shell_quote(tmp))
A.done("test_soap_lm")
