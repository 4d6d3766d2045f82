-- repro.score_report: the SCoRe experiment's report. The paper's numbers
-- (shown only in their own labelled columns), the arm names, the tables of
-- its Tables 1, 2 and 4 beside ours, the claims of docs/score.md judged on a
-- run, and the figures (its Figs. 4, 5, 6, 8 and the RL curves).
-- experiments/score.lua runs the arms; this module only reads their results.
local U = require "repro.util"
local S = require "repro.score_task"
local plot = require "repro.plot"

local R = {}

local function pct(x) if x == nil or x ~= x then return "n/a" end return string.format("%.1f", 100 * x) end
local function sgn(x) if x == nil or x ~= x then return "n/a" end return string.format("%+.1f", 100 * x) end

R.PAPER = {
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
    star_stage2 = { 56.2, 58.4, 2.2 },
  },
}

R.ARM_NAMES = {
  base = "Base", star_d = "STaR D", star_dplus = "STaR D+", pair_d = "Pair-SFT D", pair_dplus = "Pair-SFT D+",
  stage1 = "SCoRe Stage I", std = "standard multi-turn RL", score = "SCoRe", single = "w/o multi-turn",
  wo_stage1 = "w/o Stage I", wo_shaping = "w/o reward shaping", diag = "diagnostic R2=(1+a)r2",
  star_stage2 = "STaR instead of REINFORCE in Stage II",
}
R.RL_ARMS = { "stage1", "std", "score", "wo_shaping", "wo_stage1", "single", "diag" }


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
        R.ARM_NAMES[name], a.res and a.res.diverged and " (diverged)" or "", pct(m.acc1), pct(m.acc2), sgn(m.delta), sgn(lo), sgn(hi),
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

-- Judge the claims of docs/score.md on one run's arms, or on the pooled arms
-- of several seeds (R.pool). "consistent"/"inconsistent" unless o.reproduce
-- (the paper preset with at least 3 seeds, pooled): "reproduced"/"not reproduced".
function R.claims(arms, cfg, o)
  o = o or {}
  local out = {}
  local function get(n) return arms[n] and arms[n].m end
  local yes, no = "consistent", "inconsistent"
  if o.reproduce then yes, no = "reproduced", "not reproduced" end
  local function say(id, ok, text)
    local v = ok == nil and "not judged" or (ok and yes or no)
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
    for _, n in ipairs { "base", "star_dplus", "pair_d", "single", "wo_stage1", "wo_shaping", "star_stage2" } do  -- rows of Tables 2 and 4
      if arms[n] then
        local dlo = select(2, S.bootstrap(S.delta_values(arms.score.recs, arms[n].recs), { B = cfg.bootstrap, seed = cfg.seed }))
        if dlo <= 0 then ok = false; worst[#worst + 1] = R.ARM_NAMES[n] end
        if arms[n].m.acc2 > score.acc2 then ok = false end
      end
    end
    say("C3", ok, string.format("SCoRe Δ %s, CI lower end %s; rows whose paired difference CI does not exclude 0: %s",
      sgn(score.delta), sgn(lo), #worst > 0 and table.concat(worst, ", ") or "none"))
    say("C4", score.c2i < base.c2i, string.format("Δc→i: SCoRe %s vs base %s", pct(score.c2i), pct(base.c2i)))
    local abl_ok, txt = true, {}
    for _, n in ipairs { "single", "wo_stage1", "wo_shaping", "star_stage2" } do
      local a = get(n)
      if a then
        abl_ok = abl_ok and score.delta > a.delta
        txt[#txt + 1] = string.format("%s Δ %s", R.ARM_NAMES[n], sgn(a.delta))
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
    if a.zero_mass then return a.zero_mass end   -- pooled arms: the mean over seeds
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

function R.figures(arms, cfg, dir)
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
  for _, name in ipairs(R.RL_ARMS) do
    local a = arms[name]
    if a and #a.res.log > 0 then
      local st, r1, r2 = {}, {}, {}
      for i, s in ipairs(a.res.log) do st[i] = s.step; r1[i] = s.r1; r2[i] = s.r2 == s.r2 and s.r2 or 0 end
      p1[#p1 + 1] = { name = R.ARM_NAMES[name] .. " r1", x = st, y = smooth(r1, 10) }
      if name ~= "single" then p2[#p2 + 1] = { name = R.ARM_NAMES[name] .. " r2", x = st, y = smooth(r2, 10) } end
      local es, d = {}, {}
      for i, e in ipairs(a.res.evals) do es[i] = e.step; d[i] = 100 * e.m.delta end
      if #es > 0 then p3[#p3 + 1] = { name = R.ARM_NAMES[name], x = es, y = d, style = "linespoints" } end
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
      sa[#sa + 1] = { name = R.ARM_NAMES[name] .. " turn 1", x = st, y = smooth(r1, 10) }
      sa[#sa + 1] = { name = R.ARM_NAMES[name] .. " turn 2", x = st, y = smooth(r2, 10) }
      sb[#sb + 1] = { name = R.ARM_NAMES[name], x = st, y = smooth(ch, 10) }
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
      hp[#hp + 1] = { kind = "histogram", title = R.ARM_NAMES[name], xlabel = "Lev(y1,y2)/(|y1|+|y2|)",
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
      ser[#ser + 1] = { name = R.ARM_NAMES[name], x = x, y = y, style = "linespoints" }
    end
  end
  if #ser > 0 then
    made[#made + 1] = plot.lines { file = U.join(dir, "score_fig8_attempts"), title = "Greedy accuracy at attempt k (sequential self-correction)",
      xlabel = "attempt", ylabel = "accuracy (%)", series = ser }.png
  end
  return made
end

function R.report(arms, cfg, exp)
  local md = {}
  local function add(s) md[#md + 1] = s end
  add(string.format("### SCoRe at CPU scale: ours (preset `%s`, seed %d, git %s) beside the paper's", exp.preset, cfg.seed,
    exp.machine and exp.machine.git_revision or "unknown"))
  add("")
  add(string.format("Task: %d-digit MSB-first addition, p9 = %.2f; model dim %d, %d layers; test split %d problems; greedy evaluation. "
    .. "Percentages; Δ CI is a paired bootstrap over problems (%d resamples). One seed: no claim of reproduction rests on it. "
    .. "Paper: %s (MATH, Gemini 1.5 Flash).", cfg.n, cfg.p9, cfg.dim, cfg.layers, cfg.test, cfg.bootstrap, R.PAPER.cite))
  add("")
  add("**Table 1 analogue (SFT analysis)**"); add("")
  local t1, tsv1 = table_rows(arms, { "base", "star_d", "star_dplus", "pair_d", "pair_dplus" }, cfg, R.PAPER.rows)
  for _, l in ipairs(t1) do add(l) end
  add(""); add("**Table 2 analogue (main comparison)**"); add("")
  local t2 = table_rows(arms, { "base", "self_refine", "star_dplus", "pair_d", "score" }, cfg, R.PAPER.rows)
  for _, l in ipairs(t2) do add(l) end
  add(""); add("**Table 4 analogue (ablations; paper columns: Acc@t1, Acc@t2, Δ of Table 4) and the other RL arms**"); add("")
  local abl = {}
  for k, v in pairs(R.PAPER.ablations) do abl[k] = { v[1], v[2], v[3] } end
  local t4, tsv4 = table_rows(arms, { "score", "single", "wo_stage1", "wo_shaping", "star_stage2", "diag", "stage1", "std" }, cfg, abl)
  for _, l in ipairs(t4) do add(l) end
  add("")
  add("RL rows are the kept checkpoint (highest training reward among the evaluation points); final checkpoints:"); add("")
  add("| arm | kept at step | steps | final Acc@t1 | final Acc@t2 | final Δ | final change |"); add("|---|---|---|---|---|---|---|")
  for _, name in ipairs(R.RL_ARMS) do
    local a = arms[name]
    if a then
      local f = a.final.m
      add(string.format("| %s | %d | %d | %s | %s | %s | %s |", R.ARM_NAMES[name], a.res.best_step, a.steps,
        pct(f.acc1), pct(f.acc2), sgn(f.delta), pct(f.change)))
    end
  end
  add("")
  if arms.base_sampled then
    local bs = arms.base_sampled
    add(string.format("Base at T = 1 on the %d SFT source traces (train): r1 %s, r2 %s, change %s.", bs.n, pct(bs.r1), pct(bs.r2), pct(bs.change)))
  end
  local sizes = {}
  for _, name in ipairs { "star_d", "star_dplus", "pair_d", "pair_dplus", "star_stage2" } do
    if arms[name] and arms[name].data_sizes then sizes[#sizes + 1] = R.ARM_NAMES[name] .. " " .. table.concat(arms[name].data_sizes, "/") end
  end
  if #sizes > 0 then add("SFT data (transcripts; STaR: after each round): " .. table.concat(sizes, "; ") .. ".") end
  add("")
  add("**Claims (docs/score.md; one seed: consistent / inconsistent, not reproduced)**"); add("")
  local cl = R.claims(arms, cfg)
  for _, c in ipairs(cl) do add(string.format("- %s: %s. %s", c.id, c.verdict, c.text or "")) end
  add("")
  if arms.attempts then
    add("Greedy accuracy at attempts 1..k (first " .. math.min(cfg.curve_eval, cfg.test) .. " test problems):"); add("")
    for _, name in ipairs { "base", "star_dplus", "pair_d", "score" } do
      local acc = arms.attempts[name]
      if acc then
        local s = {}
        for k, v in ipairs(acc) do s[k] = pct(v) end
        add(string.format("- %s: %s", R.ARM_NAMES[name], table.concat(s, ", ")))
      end
    end
    add("")
  end
  local rows = {}
  for _, r in ipairs(tsv1) do rows[#rows + 1] = r end
  for _, r in ipairs(tsv4) do rows[#rows + 1] = r end
  return table.concat(md, "\n") .. "\n", rows, cl
end

-- ---- several seeds -------------------------------------------------------------

local POOL_KEYS = { "acc1", "acc2", "delta", "i2c", "c2i", "change", "edit", "malformed" }

-- Several seeds' arms (each as experiments/score.lua's run_arms returns them,
-- evaluated on the same test problems) -> pooled arms, for every arm present
-- in all seeds: m the mean over seeds of each metric, sd the sample standard
-- deviations, per_seed the seeds' metrics, recs the per-problem pooled records
-- (score_task.pool_records: bootstrapping them resamples one problem index set
-- for every seed), zero_mass (edit ratio 0: 1 - mean change), final.m.change
-- (RL arms: the mean at the end of training); probe: the Pair-SFT probe rows
-- averaged over seeds.
function R.pool(seed_arms)
  if type(seed_arms) ~= "table" or #seed_arms == 0 then error("score_report.pool: expected a non-empty list of seeds' arms", 2) end
  local P = { order = {}, seeds = #seed_arms }
  for _, name in ipairs(seed_arms[1].order) do
    local all = true
    for _, a in ipairs(seed_arms) do if not (a[name] and a[name].m) then all = false end end
    if all then
      local m, sd, per, recs = {}, {}, {}, {}
      for _, k in ipairs(POOL_KEYS) do
        local xs = {}
        for i, a in ipairs(seed_arms) do xs[i] = a[name].m[k] end
        m[k], sd[k] = S.mean_sd(xs)
      end
      for i, a in ipairs(seed_arms) do per[i] = a[name].m; recs[i] = a[name].recs end
      local p = { m = m, sd = sd, per_seed = per, recs = S.pool_records(recs), zero_mass = 1 - m.change }
      if seed_arms[1][name].final then
        local ch, dv = {}, {}
        for i, a in ipairs(seed_arms) do
          ch[i] = a[name].final.m.change
          if a[name].res and a[name].res.diverged then dv[#dv + 1] = i end
        end
        p.final = { m = { change = (S.mean_sd(ch)) } }
        p.diverged_seeds = dv
      end
      P[name] = p
      P.order[#P.order + 1] = name
    end
  end
  -- the probe: same steps in every seed, averaged cell by cell
  local first = seed_arms[1].probe
  if first and #first > 0 then
    local probe = {}
    for r = 1, #first do
      local row = {}
      for c = 1, #first[r] do
        local xs = {}
        for i, a in ipairs(seed_arms) do xs[i] = a.probe[r][c] end
        row[c] = (S.mean_sd(xs))
      end
      probe[r] = row
    end
    P.probe = probe
  end
  return P
end

local TABLE_ORDER = { "base", "star_d", "star_dplus", "pair_d", "pair_dplus", "score", "single", "wo_stage1", "wo_shaping",
                      "star_stage2", "diag", "stage1", "std" }
-- C3's rows: SCoRe's Δ against each (Tables 2 and 4)
local DIFF_ROWS = { "base", "star_dplus", "pair_d", "single", "wo_stage1", "wo_shaping", "star_stage2" }

-- The pooled report of several seeds: markdown, the rows of
-- results_pooled.tsv and results_pooled_diffs.tsv, and the claims judged on
-- the pooled arms P (R.pool). o.seeds: the seed numbers; o.reproduce: the
-- verdicts "reproduced"/"not reproduced" (the paper preset, >= 3 seeds).
function R.pooled_report(seed_arms, P, cfg, exp, o)
  local md = {}
  local function add(s) md[#md + 1] = s end
  local function ms(a, k) return string.format("%s ± %s", pct(a.m[k]), pct(a.sd[k])) end
  local seeds = o.seeds
  local B = { B = cfg.bootstrap, seed = cfg.seed }
  add(string.format("### SCoRe at CPU scale: ours pooled over seeds %s (preset `%s`, git %s) beside the paper's",
    table.concat(seeds, ", "), exp.preset, exp.machine and exp.machine.git_revision or "unknown"))
  add("")
  add(string.format("Task: %d-digit MSB-first addition, p9 = %.2f; model dim %d, %d layers; test split %d problems; greedy evaluation; "
    .. "one pretrained base for every seed (the seeds change sampling and the order of RL/SFT batches). Percentages, mean ± sample "
    .. "standard deviation over the %d seeds. Δ CI: pooled paired bootstrap (%d resamples): the test problems are resampled and the "
    .. "same resampled index set is applied to every seed (the per-problem means over seeds are resampled), so the interval covers "
    .. "the variation over test problems for these seeds; the spread over seeds is the ± column. Per-seed tables: seed_K/results.md. "
    .. "Paper: %s (MATH, Gemini 1.5 Flash).", cfg.n, cfg.p9, cfg.dim, cfg.layers, cfg.test, #seeds, cfg.bootstrap, R.PAPER.cite))
  add("")
  add("| method | seeds | ours Acc@t1 | ours Acc@t2 | ours Δ [pooled 95% CI] | ours Δi→c | ours Δc→i | change | paper Acc@t1 | paper Acc@t2 | paper Δ |")
  add("|---|---|---|---|---|---|---|---|---|---|---|")
  local prows = {}
  for _, name in ipairs(TABLE_ORDER) do
    local a = P[name]
    if a then
      local _, lo, hi = S.bootstrap(S.delta_values(a.recs), B)
      local p = R.PAPER.rows[name] or R.PAPER.ablations[name] or {}
      local dv = a.diverged_seeds and #a.diverged_seeds > 0 and (" (diverged in " .. #a.diverged_seeds .. " seeds)") or ""
      add(string.format("| %s%s | %d | %s | %s | %s ± %s [%s, %s] | %s | %s | %s | %s | %s | %s |", R.ARM_NAMES[name], dv, #seeds,
        ms(a, "acc1"), ms(a, "acc2"), sgn(a.m.delta), pct(a.sd.delta), sgn(lo), sgn(hi), ms(a, "i2c"), ms(a, "c2i"), ms(a, "change"),
        p[1] or "-", p[2] or "-", p[3] or "-"))
      prows[#prows + 1] = { name, #seeds, a.m.acc1, a.sd.acc1, a.m.acc2, a.sd.acc2, a.m.delta, a.sd.delta, lo, hi,
                            a.m.i2c, a.sd.i2c, a.m.c2i, a.sd.c2i, a.m.change, a.sd.change }
    end
  end
  add("")
  add("RL rows are each seed's kept checkpoint. Self-Refine: n/a (no instruction following).")
  add("")
  local drows = {}
  if P.score then
    add("**SCoRe's Δ minus each row's (claims C2, C3, C5): mean ± sd over seeds, pooled paired 95% CI**"); add("")
    add("| SCoRe Δ − | difference | pooled 95% CI |"); add("|---|---|---|")
    for _, other in ipairs(DIFF_ROWS) do
      if P[other] then
        local xs = {}
        for i, a in ipairs(seed_arms) do xs[i] = a.score.m.delta - a[other].m.delta end
        local mean, sd = S.mean_sd(xs)
        local _, lo, hi = S.bootstrap(S.delta_values(P.score.recs, P[other].recs), B)
        add(string.format("| %s | %s ± %s | [%s, %s] |", R.ARM_NAMES[other], sgn(mean), pct(sd), sgn(lo), sgn(hi)))
        drows[#drows + 1] = { "score", other, mean, sd, lo, hi }
      end
    end
    add("")
  end
  add("**Δ of each seed**"); add("")
  local head, rule = { "| method" }, { "|---" }
  for _, s in ipairs(seeds) do head[#head + 1] = " | seed " .. s; rule[#rule + 1] = "|---" end
  add(table.concat(head) .. " |"); add(table.concat(rule) .. "|")
  for _, name in ipairs(TABLE_ORDER) do
    if P[name] then
      local cells = { "| " .. R.ARM_NAMES[name] }
      for i = 1, #seeds do cells[#cells + 1] = " | " .. sgn(P[name].per_seed[i].delta) end
      add(table.concat(cells) .. " |")
    end
  end
  add("")
  add(string.format("**Claims (docs/score.md), judged on the pooled numbers of %d seeds: %s**", #seeds,
    o.reproduce and "reproduced / not reproduced" or "consistent / inconsistent (\"reproduced\" needs the paper preset with at least 3 seeds)"))
  add("")
  local cl = R.claims(P, cfg, { reproduce = o.reproduce })
  for _, c in ipairs(cl) do add(string.format("- %s: %s. %s", c.id, c.verdict, c.text or "")) end
  add("")
  return table.concat(md, "\n") .. "\n", prows, drows, cl
end

return R
