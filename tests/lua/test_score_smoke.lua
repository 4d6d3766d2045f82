-- tests/lua/test_score_smoke.lua: experiments/score.lua's `smoke` preset runs
-- every arm for a step or two (pretraining, STaR D/D+, Pair-SFT D/D+, Stage I,
-- standard multi-turn RL, SCoRe, the four ablations and the diagnostic) and writes
-- well-formed tables, TSVs and figure data; the presets are documented.
local A = dofile(arg[0]:match("(.*/)") .. "assert.lua")
local repro = require "repro"
local U = repro.util

local tmp = A.tmpdir()
local M = A.experiment("score")

A.test("presets: smoke, fast and paper; the paper's hyper-parameters", function()
  for _, p in ipairs { "smoke", "fast", "paper" } do
    local c = M.PRESETS[p]
    A.truthy(c, "preset " .. p)
    A.eq(10.0, c.alpha); A.eq(0.01, c.beta1); A.eq(0.1, c.beta2); A.eq(1.0, c.temperature)
  end
  A.eq(38, repro.score_task.layout(M.PRESETS.paper.n).width)
  A.eq(52.6, M.PAPER.rows.base[1]); A.eq(4.4, M.PAPER.rows.score[3]); A.eq(1.4, M.PAPER.rows.score[5])
  A.eq(56.2, M.PAPER.ablations.star_stage2[1]); A.eq(2.2, M.PAPER.ablations.star_stage2[3])
  A.truthy(M.PAPER.cite:find("2409.12917", 1, true))
end)

A.test("smoke preset: every arm runs, tables and figure data are well formed", function()
  local f = assert(io.open(tmp .. "/stdout.txt", "w"))
  local ok, res = pcall(M.main, { "--preset", "smoke", "--out", tmp .. "/smoke" }, { exit = false, stdout = f })
  f:close()
  if not ok then error(res, 0) end
  local arms = res.arms
  for _, name in ipairs { "base", "star_d", "star_dplus", "pair_d", "pair_dplus", "stage1", "std", "score",
                          "wo_shaping", "wo_stage1", "single", "diag", "star_stage2" } do
    local a = arms[name]
    A.truthy(a and a.m, "arm " .. name .. " evaluated")
    for _, k in ipairs { "acc1", "acc2", "delta", "i2c", "c2i", "change", "edit", "malformed" } do
      local v = a.m[k]
      A.truthy(type(v) == "number" and v == v and v >= -1 and v <= 1, name .. "." .. k .. " = " .. tostring(v))
    end
    A.near(a.m.acc2 - a.m.acc1, a.m.i2c - a.m.c2i, 1e-12, name .. ": Δ = Δi→c − Δc→i")
  end
  for _, name in ipairs { "stage1", "std", "score", "wo_shaping", "wo_stage1", "single", "diag" } do
    local log = U.read_tsv(U.join(tmp, "smoke", "rl_" .. name .. ".tsv"))
    A.eq(2, #log.rows, name .. " trained 2 steps")
  end
  local tab = U.read_tsv(U.join(tmp, "smoke", "results_table.tsv"))
  A.eq(11, #tab.columns, "results_table.tsv columns")
  A.eq(13, #tab.rows, "results_table.tsv rows (T1 and T4 arms)")
  local md = U.read_file(U.join(tmp, "smoke", "results.md"))
  for _, s in ipairs { "Table 1 analogue", "Table 2 analogue", "Table 4 analogue", "paper Acc@t1", "- C1:", "- C8:", "git " } do
    A.truthy(md:find(s, 1, true), "results.md has " .. s)
  end
  for _, fig in ipairs { "score_rl_curves", "score_fig6_std_vs_stage1", "score_fig4_edit_ratio", "score_fig5_pair_sft", "score_fig8_attempts" } do
    A.truthy(U.exists(U.join(tmp, "smoke", "figures", fig .. ".tsv")), fig .. ".tsv written")
    A.truthy(U.exists(U.join(tmp, "smoke", "figures", fig .. ".gp")), fig .. ".gp written")
  end
  A.eq(8, #res.claims, "C1-C8 judged")
end)

U.run("rm -rf " .. U.shell_quote(tmp))
A.done("test_score_smoke")
