-- tests/lua/test_score_seeds.lua: experiments/score.lua with several seeds.
-- The pooled statistics against a hand computation on a tiny table (mean and
-- sample sd over seeds, per-problem pooled records, the pooled bootstrap that
-- applies one resampled problem index set to every seed, the claims' words);
-- the smoke preset with --seeds 2 gives each seed the tables of a one-seed run
-- with --seed K, the same in one and in two processes; bad --seeds values are
-- refused in one line.
local A = dofile(arg[0]:match("(.*/)") .. "assert.lua")
local repro = require "repro"
local U, S = repro.util, repro.score_task
local R = require "repro.score_report"

local tmp = A.tmpdir()
local M = A.experiment("score")

A.test("mean_sd: mean and sample standard deviation", function()
  local m, sd = S.mean_sd { 1, 2, 4 }
  A.near(7 / 3, m, 1e-15, "mean")
  A.near(math.sqrt(7 / 3), sd, 1e-15, "sd = sqrt(((4/3)^2 + (1/3)^2 + (5/3)^2) / 2)")
  local m1, sd1 = S.mean_sd { 0.25 }
  A.eq(0.25, m1); A.eq(0, sd1, "one value: sd 0")
  A.raises(function() S.mean_sd {} end, "no values")
end)

-- problem i of seed s: {r1, r2, y1, y2}
local function recs(t)
  local out = {}
  for i, r in ipairs(t) do out[i] = { r1 = r[1], r2 = r[2], y1 = { r[3] }, y2 = { r[4] }, m1 = false, m2 = false } end
  return out
end
-- two seeds, four problems; Δ per problem: seed 1 base {0, 0, 0, -1}, score {1, 0, 0, 0};
-- seed 2 base {0, 0, 0, 0}, score {1, 1, 0, -1}
local seed1 = { base = recs { { 0, 0, 5, 5 }, { 1, 1, 2, 2 }, { 1, 1, 3, 3 }, { 1, 0, 4, 7 } },
                score = recs { { 0, 1, 5, 6 }, { 1, 1, 2, 2 }, { 1, 1, 3, 3 }, { 0, 0, 1, 1 } } }
local seed2 = { base = recs { { 0, 0, 5, 5 }, { 1, 1, 2, 2 }, { 1, 1, 3, 3 }, { 0, 0, 4, 4 } },
                score = recs { { 0, 1, 5, 6 }, { 0, 1, 1, 2 }, { 1, 1, 3, 3 }, { 1, 0, 4, 8 } } }

A.test("pool_records: per-problem means over seeds; checked lengths", function()
  local p = S.pool_records { seed1.score, seed2.score }
  A.eq(4, #p)
  A.allclose({ 0, 0.5, 1, 0.5 }, { p[1].r1, p[2].r1, p[3].r1, p[4].r1 }, 0, "r1")
  A.allclose({ 1, 1, 1, 0 }, { p[1].r2, p[2].r2, p[3].r2, p[4].r2 }, 0, "r2")
  A.allclose({ 1, 0.5, 0, 0.5 }, { p[1].change, p[2].change, p[3].change, p[4].change }, 0, "change")
  A.eq(2, p[1].seeds)
  A.allclose({ 1, 0.5, 0, -0.5 }, S.delta_values(p), 0, "pooled Δ per problem")
  A.raises(function() S.pool_records { seed1.score, { seed2.score[1] } } end, "seed 2 has 1 records, seed 1 has 4")
  A.raises(function() S.pool_records {} end, "non-empty list")
end)

A.test("the pooled bootstrap applies one resampled index set to every seed", function()
  local p = S.pool_records { seed1.score, seed2.score }
  for _, seed in ipairs { 1, 7, 12345 } do
    -- B = 1: lo = hi = the one resampled mean; redo the draw by hand
    local _, lo, hi = S.bootstrap(S.delta_values(p), { B = 1, seed = seed })
    local rng, idx = S.rng(seed), {}
    for j = 1, 4 do idx[j] = 1 + rng:int(4) end
    local per = {}
    for s, r in ipairs { seed1.score, seed2.score } do
      local d = 0
      for _, i in ipairs(idx) do d = d + r[i].r2 - r[i].r1 end
      per[s] = d / 4
    end
    A.near((per[1] + per[2]) / 2, lo, 1e-15, "seed " .. seed .. ": mean over seeds of each seed's resampled Δ")
    A.eq(lo, hi)
  end
end)

A.test("R.pool and R.pooled_report on a tiny table: means, sds, differences, claim words", function()
  local function arms(t)
    local a = { order = { "base", "score" } }
    for _, n in ipairs(a.order) do a[n] = { recs = t[n], m = S.metrics(t[n]) } end
    return a
  end
  local sa = { arms(seed1), arms(seed2) }
  local P = R.pool(sa)
  A.eq(2, P.seeds)
  A.eq("base,score", table.concat(P.order, ","))
  -- base: Acc@t1 3/4, 2/4; Δ -1/4, 0. score: Acc@t1 2/4, 2/4; Δ +1/4, +1/4
  A.near(0.625, P.base.m.acc1, 1e-15); A.near(math.sqrt(0.03125), P.base.sd.acc1, 1e-15, "sd of {0.75, 0.5}")
  A.near(-0.125, P.base.m.delta, 1e-15); A.near(math.sqrt(0.03125), P.base.sd.delta, 1e-15)
  A.near(0.25, P.score.m.delta, 1e-15); A.eq(0, P.score.sd.delta)
  A.near(0.125, P.base.m.c2i, 1e-15); A.near(0.375, P.score.m.i2c, 1e-15); A.near(0.125, P.score.m.c2i, 1e-15)
  A.near(0.5, P.score.m.change, 1e-15, "changes: 1/4 and 3/4")
  A.near(0.5, P.score.zero_mass, 1e-15, "edit ratio 0: 1 - mean change")
  local cfg = { n = 1, p9 = 0.5, dim = 1, layers = 1, test = 4, bootstrap = 200, seed = 1 }
  local exp = { preset = "smoke", machine = { git_revision = "abc" } }
  local md, prows, drows, cl = R.pooled_report(sa, P, cfg, exp, { seeds = { 1, 2 } })
  A.eq(2, #prows, "a row per arm")
  A.eq("base", prows[1][1]); A.eq(2, prows[1][2], "seeds")
  A.near(-0.125, prows[1][7], 1e-15, "pooled Δ")
  -- base's pooled per-problem Δ: (0 + 0) / 2, 0, 0, (-1 + 0) / 2
  local pb = S.delta_values(S.pool_records { seed1.base, seed2.base })
  A.allclose({ 0, 0, 0, -0.5 }, pb, 0)
  local _, lo, hi = S.bootstrap(pb, { B = 200, seed = 1 })
  A.eq(lo, prows[1][9], "CI low"); A.eq(hi, prows[1][10], "CI high")
  A.eq(1, #drows, "SCoRe minus base")
  A.eq("base", drows[1][2])
  A.near(0.375, drows[1][3], 1e-15, "mean over seeds of (+1/4 - (-1/4)) and (+1/4 - 0)")
  A.near(math.sqrt(0.03125), drows[1][4], 1e-15)
  A.truthy(md:find("| Base | 2 | 62.5 ± 17.7 | 50.0 ± 0.0 | -12.5 ± 17.7 [", 1, true), "pooled row of the base")
  A.truthy(md:find("SCoRe Δ − | difference", 1, true) and md:find("| Base | +37.5 ± 17.7 |", 1, true), "difference table")
  A.truthy(md:find("| Base | -25.0 | +0.0 |", 1, true), "per-seed Δ")
  A.eq("C1", cl[1].id)
  A.eq("consistent", cl[1].verdict, "pooled base Δ -12.5 <= +1")
  local _, _, _, cl3 = R.pooled_report(sa, P, cfg, exp, { seeds = { 1, 2 }, reproduce = true })
  A.eq("reproduced", cl3[1].verdict)
  A.eq("not reproduced", cl3[3].verdict, "C3: the CI of SCoRe's pooled Δ on 4 problems does not exclude 0")
  A.eq("C4", cl3[4].id); A.eq("not reproduced", cl3[4].verdict, "C4: SCoRe's pooled Δc→i 12.5 is not below the base's 12.5")
end)

-- the experiment in a separate process (--workers 2 starts copies of the script)
local exe, q = arg[-1], U.shell_quote
local script = U.join(U.source_dir(), "experiments/score.lua")
local ARGS = "--preset smoke --pre_steps 150 --pre_lr 1e-2 --stage1_steps 5 --stage2_steps 5 --sft_steps 5 --lr 1e-3"
local function run(out, extra)
  return os.execute(string.format("REPRO_GNUPLOT=true REPRO_THREADS=1 %s %s %s --out %s %s >%s 2>&1", q(exe), q(script), ARGS,
    q(out), extra, q(out .. ".log")))
end
local function same_file(a, b, what)
  local x, y = U.read_file(a), U.read_file(b)
  A.truthy(x, a .. " exists"); A.truthy(y, b .. " exists")
  A.truthy(x == y, what .. ": " .. a .. " and " .. b .. " differ")
end
local PER_SEED = { "results_table.tsv", "results_table_arms.txt", "pair_sft_probe.tsv", "rl_stage1.tsv", "rl_score_eval.tsv",
                   "rl_std.tsv", "rl_single.tsv", "rl_wo_stage1_eval.tsv", "rl_diag.tsv", "figures/score_fig8_attempts.tsv",
                   "figures/score_fig5_pair_sft.tsv" }

A.test("--seeds 2: each seed's tables equal a one-seed run's, in one and in two processes", function()
  A.truthy(run(tmp .. "/s1", "--seed 1"), "one seed, --seed 1")
  A.truthy(run(tmp .. "/s2", "--seed 2"), "one seed, --seed 2")
  A.truthy(run(tmp .. "/w1", "--seeds 2 --workers 1"), "two seeds, one process")
  A.truthy(run(tmp .. "/w2", "--seeds 2 --workers 2"), "two seeds, two processes")
  A.truthy(U.exists(tmp .. "/w2/run.part1-of-2.txt") and U.exists(tmp .. "/w2/run.part2-of-2.txt"), "two shares ran")
  A.truthy(not U.exists(tmp .. "/w1/run.part1-of-2.txt"), "--workers 1: no share")
  for _, s in ipairs { 1, 2 } do
    for _, f in ipairs(PER_SEED) do
      same_file(U.join(tmp, "s" .. s, f), U.join(tmp, "w1", "seed_" .. s, f), "seed " .. s .. " of --seeds 2 vs --seed " .. s)
      same_file(U.join(tmp, "w1", "seed_" .. s, f), U.join(tmp, "w2", "seed_" .. s, f), "1 vs 2 processes")
    end
  end
  for _, f in ipairs { "results_pooled.tsv", "results_pooled_diffs.tsv", "pretrain_base.tsv" } do
    same_file(U.join(tmp, "w1", f), U.join(tmp, "w2", f), "1 vs 2 processes")
  end
  same_file(U.join(tmp, "s1", "pretrain_base.tsv"), U.join(tmp, "w1", "pretrain_base.tsv"), "one base for every seed")
  -- the pooled row of an arm is the mean of the seeds' rows
  local t1, t2 = U.read_tsv(tmp .. "/s1/results_table.tsv"), U.read_tsv(tmp .. "/s2/results_table.tsv")
  local pooled = U.read_tsv(tmp .. "/w1/results_pooled.tsv")
  local arms1 = U.read_file(tmp .. "/s1/results_table_arms.txt")
  local row_of = {}
  for i, name in arms1:gmatch("(%d+)\t([%w_]+)") do row_of[name] = tonumber(i) end
  local n = 0
  for _, r in ipairs(pooled.rows) do
    local i = row_of[r[1]]
    if i then
      n = n + 1
      A.near((t1.rows[i][2] + t2.rows[i][2]) / 2, r[3], 1e-9, r[1] .. " Acc@t1 mean")
      A.near((t1.rows[i][4] + t2.rows[i][4]) / 2, r[7], 1e-9, r[1] .. " Δ mean")
      A.near(math.abs(t1.rows[i][4] - t2.rows[i][4]) / math.sqrt(2), r[8], 1e-9, r[1] .. " Δ sd")
    end
  end
  A.eq(13, n, "every arm pooled")
  local md = U.read_file(tmp .. "/w1/results.md")
  A.truthy(md:find("pooled over seeds 1, 2", 1, true) and md:find("- C8:", 1, true), "pooled results.md with the claims")
  A.truthy(md:find("consistent / inconsistent", 1, true), "two seeds of the smoke preset: no 'reproduced'")
  A.truthy(U.exists(tmp .. "/w1/seed_2/results.md"), "per-seed results.md")
  A.eq(nil, U.read_file(tmp .. "/w1/results.txt"):match("claim%.C1=reproduced"))
end)

A.test("--seeds 2 stopped in seed 2 and resumed: the same tables", function()
  -- one process: pretrain (run 1), seed 1's units (runs 2-10, 11-13), seed 2's g2 unit first (std 14, wo_stage1 15)
  local ok, how, code = os.execute(string.format("REPRO_SELF_SIGNAL=15:2 REPRO_GNUPLOT=true REPRO_THREADS=1 %s %s %s --seeds 2 "
    .. "--workers 1 --out %s >%s 2>&1", q(exe), q(script), ARGS, q(tmp .. "/res"), q(tmp .. "/res.log")))
  A.truthy(not ok and how == "exit" and code == 130, "stopped with status 130")
  local log = U.read_file(tmp .. "/res.log")
  A.truthy(log:find("stopped by SIGINT in run 15/", 1, true) and log:find("seed_2/wo_stage1 at step 2/", 1, true), "where it stopped")
  A.truthy(not U.exists(tmp .. "/res/results_pooled.tsv"), "no report")
  A.truthy(run(tmp .. "/res", "--seeds 2 --workers 1 --resume"), "resumed")
  for _, s in ipairs { 1, 2 } do
    for _, f in ipairs(PER_SEED) do
      same_file(U.join(tmp, "w1", "seed_" .. s, f), U.join(tmp, "res", "seed_" .. s, f), "resumed vs uninterrupted")
    end
  end
  same_file(tmp .. "/w1/results_pooled.tsv", tmp .. "/res/results_pooled.tsv", "resumed vs uninterrupted")
end)

A.test("bad --seeds values: one line naming the option", function()
  for v, want in pairs { ["0"] = "score: invalid --seeds '0': expected an integer >= 1",
                         ["x"] = "score: invalid --seeds 'x': expected an integer >= 1",
                         ["1.5"] = "score: invalid --seeds '1.5': expected an integer >= 1",
                         ["1,2,3"] = "score: invalid --seeds '1,2,3': expected an integer >= 1" } do
    local ok, err = pcall(M.main, { "--preset", "smoke", "--seeds", v, "--out", tmp .. "/bad" }, { exit = false })
    A.truthy(not ok, "--seeds " .. v .. " refused")
    A.eq(want, tostring(err))
  end
  A.truthy(not U.exists(tmp .. "/bad"), "nothing written")
end)

U.run("rm -rf " .. U.shell_quote(tmp))
A.done("test_score_seeds")
