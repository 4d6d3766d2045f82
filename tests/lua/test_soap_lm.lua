-- tests/lua/test_soap_lm.lua: smoke test of experiments/soap_lm.lua: the
-- `smoke` preset trains AdamW, Shampoo and SOAP 5 steps each on a tiny model
-- (plus the precondition-frequency ablation), writes every run's log, the
-- tables and the figures' data; the `fit` efficiency method runs too.
local A = dofile(arg[0]:match("(.*/)") .. "assert.lua")
local repro = require "repro"
local U = repro.util

local tmp = os.tmpname()
os.remove(tmp)
U.mkdir_p(tmp)

local chunk = assert(loadfile(U.join(U.source_dir(), "experiments/soap_lm.lua")))
local M = chunk("soap_lm.module")
A.truthy(type(M) == "table" and type(M.main) == "function", "the script loads as a module")

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
  A.eq("interp", M.PRESETS.fast.efficiency); A.eq("fit", M.PRESETS.paper.efficiency)
  A.eq("1,10,32,100", table.concat(M.PRESETS.fast.freqs, ","))
  for _, k in ipairs { "adamw", "shampoo", "soap" } do
    A.truthy(#M.PRESETS.fast.lrs[k] >= 3, "fast preset sweeps at least 3 learning rates for " .. k)
  end
  A.truthy(M.PAPER.soap_adamw_iters:find("40", 1, true) and M.PAPER.cite:find("2409.11321", 1, true), "paper numbers cited")
end)

A.test("smoke preset: each optimizer 5 steps, logs, tables, figures", function()
  local t = U.timer()
  local out = tmp .. "/smoke"
  local res = run { "--preset", "smoke", "--out", out }
  A.truthy(t:elapsed() < 60, "runs in seconds (" .. t:elapsed() .. " s)")
  for _, k in ipairs(M.OPTIMIZERS) do
    local best = res.best[k]
    A.truthy(best and best.run.complete, k .. " run complete")
    A.eq(5, best.run.steps[#best.run.steps], k .. " trained 5 steps")
    local v = best.run.final
    A.truthy(v == v and v < math.log(65) + 0.5, k .. " final loss is finite and sane: " .. v)
    local log = U.read_tsv(best.run.log)
    A.eq(5, #log.rows, k .. " log rows")
    A.truthy(res.timing[k].step_ms > 0, k .. " timed")
  end
  -- the same seed, the same data: every optimizer starts from the same loss
  local l1 = {}
  for _, k in ipairs(M.OPTIMIZERS) do l1[k] = U.read_tsv(res.best[k].run.log).rows[1][2] end
  A.eq(l1.adamw, l1.soap, "same first loss (adamw, soap)"); A.eq(l1.adamw, l1.shampoo, "same first loss (adamw, shampoo)")
  -- ablation: frequency 1 ran for both preconditioned optimizers; 10 reuses the main run
  A.truthy(res.ablation.soap[1].complete and res.ablation.shampoo[1].complete, "frequency 1 runs")
  A.eq(res.best.soap.run, res.ablation.soap[10], "frequency 10 is the main run")
  -- AdamW reaches its own final loss; the others' percentages follow from their steps (NaN if never reached)
  A.truthy(res.eff.adamw.steps and res.eff.adamw.steps <= 5, "AdamW reaches its final loss")
  A.near(0, res.eff.adamw.pct_steps, 1e-12)
  for _, k in ipairs { "soap", "shampoo" } do
    local e = res.eff[k]
    if e.steps then A.near(100 * (1 - e.steps / res.eff.adamw.steps), e.pct_steps, 1e-9, k .. " percentage")
    else A.truthy(e.pct_steps ~= e.pct_steps, k .. ": not reached is NaN") end
  end
  local runs = U.read_tsv(out .. "/runs.tsv")
  A.eq(5, #runs.rows, "3 sweep runs + 2 ablation runs")
  for _, f in ipairs { "results.md", "results_table.tsv", "results.txt", "timing.tsv", "efficiency.tsv", "config.txt", "run.txt" } do
    A.truthy(U.exists(U.join(out, f)), f)
  end
  for _, f in ipairs { "soap_lm_curves", "soap_lm_frequency", "soap_lm_efficiency", "soap_lm_lr_sweep" } do
    A.truthy(U.exists(U.join(out, "figures", f .. ".tsv")) and U.exists(U.join(out, "figures", f .. ".gp")), f)
  end
  local md = U.read_file(out .. "/results.md")
  A.truthy(md:find("> 40%", 1, true) and md:find("paper", 1, true) and md:find("2409.11321", 1, true), "paper's numbers labelled")
  local printed = U.read_file(tmp .. "/stdout.txt")
  A.truthy(printed:find("SOAP vs AdamW", 1, true) and printed:find("soap_lm: ", 1, true), "table and summary printed")
  -- the smoke preset never publishes into figures/
  A.eq("", M.PRESETS.smoke.publish)
  -- --resume reuses the complete logs: no new training run
  local again = run { "--preset", "smoke", "--out", out, "--resume" }
  A.eq(res.best.soap.run.final, again.best.soap.run.final, "resumed results")
  A.eq(0, U.read_config(out .. "/results.txt").runs, "resume trains nothing")
end)

A.test("fit method: fraction runs, power-law fit", function()
  local out = tmp .. "/fit"
  local res = run { "--preset", "smoke", "--out", out, "--efficiency", "fit", "--steps", "8", "--freqs", "10",
                    "--lrs.shampoo", "0.003" }
  A.truthy(res.eff.fits, "fits attempted")
  for _, k in ipairs(M.OPTIMIZERS) do
    A.truthy(U.exists(out .. "/runs/" .. k .. "_lr0.003" .. (k == "adamw" and "" or "_f10") .. "_n5.tsv"), k .. " fraction run (0.6 x 8 = 5 steps)")
  end
  local f = res.eff.fits.adamw
  if f then A.truthy(f.b > 0 and f.beta > 0, "fit parameters") end
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
