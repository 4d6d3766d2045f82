-- tests/lua/test_score_rl.lua: the model side of the SCoRe experiment
-- (repro.score): cached decoding equals the full forward, seeded sampling is
-- reproducible, RLOO advantages, the returns of each mode, the exact KL is 0
-- against itself, an RL step moves a bandit-like reward, SFT lowers its loss.
local A = dofile(arg[0]:match("(.*/)") .. "assert.lua")
local repro = require "repro"
local T, S, SC = repro.tensor, repro.score_task, repro.score

local n = 3
local L = S.layout(n)
local function model(seed) return SC.model { n = n, dim = 16, layers = 2, heads = 2, ffn_dim = 32, seed = seed } end
local sp = S.splits { n = n, p9 = 0.35, seed = 2, train = 64, val = 8, test = 32 }

A.test("cached decoding: same logits as the full forward, same greedy and sampled rows", function()
  local m = model(1)
  local rows = {}
  for i = 1, 6 do rows[i] = S.prompt(sp.test[i]) end
  local a, b, c, d = {}, {}, {}, {}
  for i = 1, 6 do a[i] = { table.unpack(rows[i]) }; b[i] = { table.unpack(rows[i]) }
                  c[i] = { table.unpack(rows[i]) }; d[i] = { table.unpack(rows[i]) } end
  local e, f, g = {}, {}, {}
  for i = 1, 6 do e[i] = { table.unpack(rows[i]) }; f[i] = { table.unpack(rows[i]) }; g[i] = { table.unpack(rows[i]) } end
  SC.extend(m, a, SC.plan(L, 2), { temperature = 0, impl = "own" })
  SC.extend(m, b, SC.plan(L, 2), { temperature = 0, cache = false })
  SC.extend(m, e, SC.plan(L, 2), { temperature = 0 })            -- nn.Llama:generate when present
  SC.extend(m, c, SC.plan(L, 2), { temperature = 1, rng = S.rng(4), impl = "own" })
  SC.extend(m, d, SC.plan(L, 2), { temperature = 1, rng = S.rng(4), cache = false })
  SC.extend(m, f, SC.plan(L, 2), { temperature = 1, rng = S.rng(4) })
  SC.extend(m, g, SC.plan(L, 2), { temperature = 1, rng = S.rng(4) })
  for i = 1, 6 do
    A.eq(table.concat(a[i], ","), table.concat(e[i], ","), "greedy row " .. i .. " (generate)")
    A.eq(table.concat(f[i], ","), table.concat(g[i], ","), "same seed, same sampled row " .. i)
    A.eq(S.EQ, f[i][L.y[1][2] + 2], "forced instruction (generate)")
  end
  for i = 1, 6 do
    A.eq(L.width, #a[i])
    A.eq(table.concat(a[i], ","), table.concat(b[i], ","), "greedy row " .. i)
    A.eq(table.concat(c[i], ","), table.concat(d[i], ","), "sampled row " .. i)
    A.eq(S.Q, a[i][L.y[1][2] + 1], "forced instruction")
  end
  local full = m:forward(T.tensor(c, { dtype = "i32" }))
  local cache, pre = {}, {}
  for i = 1, 6 do pre[i] = { table.unpack(c[i], 1, L.x_len) } end
  SC.forward_cached(m, T.tensor(pre, { dtype = "i32" }), cache, 0)
  local maxd = 0
  for pos = L.x_len + 1, L.width do
    local col = {}
    for i = 1, 6 do col[i] = { c[i][pos] } end
    local lg = SC.forward_cached(m, T.tensor(col, { dtype = "i32" }), cache, pos - 1):select(2, 1)
    maxd = math.max(maxd, (lg - full:select(2, pos)):abs():amax():item())
  end
  A.truthy(maxd <= 1e-5, "cached logits within 1e-5 of the full forward: " .. maxd)
  A.raises(function() SC.extend(m, { S.prompt(sp.test[1]) }, SC.plan(L, 1), { temperature = 1 }) end, "needs o.rng")
end)

A.test("RLOO advantages and the returns of each mode", function()
  local Aa = SC.rloo({ 1, 0, 0, 1, 1, 1, 0, 0 }, 4)
  A.near(1 - 1 / 3, Aa[1]); A.near(-2 / 3, Aa[2]); A.near(2 / 3, Aa[5]); A.near(-2 / 3, Aa[7])
  local Ab = SC.rloo({ 1, 1, 1, 0, 0, 0 }, 3); A.near(0, Ab[1]); A.near(0, Ab[6])
  A.raises(function() SC.rloo({ 1 }, 1) end, "k must be")
  local r1, r2 = SC.returns("stage1", 1, 0, 10); A.eq(0, r1); A.eq(0, r2)
  r1, r2 = SC.returns("stage2", 0, 1, 10); A.eq(0, r1); A.eq(11, r2)
  r1, r2 = SC.returns("stage2", 1, 0, 10); A.eq(1, r1); A.eq(-10, r2)
  r1, r2 = SC.returns("diag", 1, 1, 10); A.eq(1, r1); A.eq(11, r2)
  r1, r2 = SC.returns("single", 1, nil, 10); A.eq(1, r1); A.eq(nil, r2)
  A.raises(function() SC.returns("nope", 0, 0, 1) end, "unknown mode")
end)

A.test("RL step: KL to an identical reference is 0; stats are fractions", function()
  local m = model(3)
  local ref = SC.clone(m)
  local opt = repro.optim.adamw(m:parameters(), { lr = 1e-3, weight_decay = 0 })
  local probs = { sp.train[1], sp.train[2], sp.train[3], sp.train[4] }
  local st = SC.rl_step(m, ref, opt, probs, { mode = "stage2", k = 2, alpha = 10, beta_t1 = 0.01, beta_t2 = 0.01,
    clip = 1, L = L, rng = S.rng(1) })
  A.near(0, st.kl1, 1e-6, "turn-1 KL before the update"); A.near(0, st.kl2, 1e-6)
  A.truthy(st.r1 >= 0 and st.r1 <= 1 and st.change >= 0 and st.change <= 1)
  local st2 = SC.rl_step(m, model(99), opt, probs, { mode = "single", k = 2, alpha = 10, beta_t1 = 0.01, beta_t2 = 0.01,
    clip = 1, L = L, rng = S.rng(2) })
  A.truthy(st2.kl1 > 0, "KL to another model is positive: " .. st2.kl1)
  A.truthy(st2.r2 ~= st2.r2, "single turn has no r2")
end)

A.test("REINFORCE/RLOO on a bandit: rewarding one first digit raises its probability", function()
  -- reward: 1 when the first answer token is '0' (a stand-in for the exact-sum reward)
  local m = model(5)
  local ref = SC.clone(m)
  local opt = repro.optim.adamw(m:parameters(), { lr = 3e-3, weight_decay = 0 })
  local probs = {}
  for i = 1, 8 do probs[i] = sp.train[i] end
  local function p0()
    local rows = {}
    for i, p in ipairs(probs) do rows[i] = S.prompt(p) end
    local lp
    T.no_grad(function() lp = SC.logprobs(m, (function() for i = 1, #rows do rows[i][#rows[i] + 1] = 1 end return rows end)()) end)
    return lp:select(2, L.x_len):exp():select(2, 1):mean():item()
  end
  local before = p0()
  local rng = S.rng(9)
  for _ = 1, 15 do
    local rows = {}
    for _, p in ipairs(probs) do for _ = 1, 4 do rows[#rows + 1] = S.prompt(p) end end
    SC.extend(m, rows, SC.plan(L, 1), { temperature = 1, rng = rng })
    local R = {}
    for i, r in ipairs(rows) do R[i] = r[L.y[1][1]] == 1 and 1 or 0 end
    local Aa = SC.rloo(R, 4)
    opt:zero_grad()
    local _, tok = SC.logprobs(m, rows)
    local w = {}
    for i = 1, #rows do
      local r = {}
      for t = 1, #rows[1] - 1 do r[t] = (t == L.x_len) and Aa[i] or 0 end
      w[i] = r
    end
    local loss = (tok * T.tensor(w)):sum() * (-1 / #rows)
    loss:backward(); opt:step()
  end
  local after = p0()
  A.truthy(after > before + 0.05, string.format("P(first digit 0): %.3f -> %.3f", before, after))
end)

A.test("SFT on answers lowers the loss; pretraining and evaluation run", function()
  local m = model(7)
  local first = SC.pretrain(m, { n = n, p9 = 0.35, seed = 1, steps = 2, batch = 8, lr = 3e-3, warmup = 1 })
  A.truthy(first == first and first > 0, "pretraining loss")
  local rows = {}
  for i = 1, 16 do rows[i] = S.transcript(sp.train[i], { sp.train[i].sum, sp.train[i].sum }) end
  local losses = SC.sft(m, rows, { steps = 30, batch = 16, lr = 3e-3, rng = S.rng(1), mask = SC.mask_turn(L, 2) })
  A.truthy(losses[30] < losses[1] - 0.2, string.format("SFT loss %.3f -> %.3f", losses[1], losses[30]))
  local recs, met = SC.evaluate(m, sp.test, L, { batch = 10 })
  A.eq(#sp.test, #recs); A.truthy(met.acc1 >= 0 and met.acc1 <= 1)
  local fixed = {}
  for i = 1, #sp.test do fixed[i] = recs[i].y1 end
  local recs2 = SC.evaluate(m, sp.test, L, { first = fixed })
  for i = 1, #sp.test do A.eq(table.concat(recs[i].y1, ","), table.concat(recs2[i].y1, ","), "fixed y1 kept") end
  local acc = SC.accuracy_over_attempts(m, { sp.test[1], sp.test[2] }, n, 2)
  A.eq(2, #acc)
  local snap = SC.snapshot(m)
  local c = SC.clone(m)
  SC.sft(m, rows, { steps = 2, batch = 4, lr = 1e-2, rng = S.rng(2), mask = SC.mask_turn(L, 2) })
  SC.restore(m, snap)
  local a1 = m:forward(T.tensor({ rows[1] }, { dtype = "i32" }))
  local a2 = c:forward(T.tensor({ rows[1] }, { dtype = "i32" }))
  A.near(0, (a1 - a2):abs():amax():item(), 0, "snapshot restores the parameters")
end)

A.test("STaR on both turns (Stage II ablation) fits y1 as well as y2; y2-only leaves y1 to the shared weights", function()
  -- Kept traces (D+, given as round-1 traces) whose first answer is a fixed
  -- string of zeros: only training on turn 1 can make it likely there.
  local traces, zeros = {}, {}
  for i = 1, n + 1 do zeros[i] = 0 end
  for i = 1, 16 do
    local p = sp.train[i]
    traces[i] = { p = p, row = S.transcript(p, { zeros, p.sum }), rec = { r1 = 1, r2 = 1, y1 = zeros, y2 = p.sum } }
  end
  local function turn_logprob(m, k)
    local rows = {}
    for i, tr in ipairs(traces) do rows[i] = tr.row end
    local _, t = SC.logprobs(m, rows)
    local tok = t:totable()
    local s, c = 0, 0
    for b = 1, #rows do
      for pos = L.y[k][1], L.y[k][2] do s = s + tok[b][pos - 1]; c = c + 1 end
    end
    return s / c
  end
  local base = model(11)
  local o = { L = L, iters = 1, per = 1, plus = true, first_traces = traces,
              sft = { steps = 40, batch = 16, lr = 3e-3, clip = 1.0 } }
  local function run(turns)
    local oo = {}
    for k, v in pairs(o) do oo[k] = v end
    oo.turns, oo.rng = turns, S.rng(5)
    local m, sizes = SC.star(base, {}, oo)
    A.eq(16, sizes[1], "every D+ trace kept")
    return m
  end
  local both, y2 = run("both"), run(nil)
  local b1, y1 = turn_logprob(both, 1), turn_logprob(y2, 1)
  A.truthy(b1 > y1 + 1.0 and b1 > -1.0, string.format("turn-1 log-prob: both turns %.3f, y2 only %.3f", b1, y1))
  A.truthy(turn_logprob(both, 2) > turn_logprob(base, 2) + 0.3, "turn 2 is trained too")
  A.raises(function() SC.star(base, {}, { L = L, iters = 1, turns = "y1" }) end, "turns must be 'y2' or 'both'")
end)

A.test("same seed, same RL steps at 1 and 2 threads", function()
  local function run(threads)
    repro.set_threads(threads)
    local m = SC.model { n = n, dim = 32, layers = 2, heads = 2, ffn_dim = 64, seed = 11 }
    local ref = SC.clone(m)
    local res = SC.run_rl(m, ref, sp.train, { mode = "stage2", steps = 3, prompts = 8, k = 4, alpha = 10, beta_t1 = 0.01,
      beta_t2 = 0.01, clip = 1, L = L, lr = 1e-3, seed = 5, eval_every = 3, eval_problems = sp.test })
    local out = {}
    for _, st in ipairs(res.log) do out[#out + 1] = string.format("%.9g %.9g %.9g %.9g", st.loss, st.kl1, st.r1, st.grad_norm) end
    out[#out + 1] = string.format("%.9g", res.evals[1].m.acc1)
    return table.concat(out, "|")
  end
  local a, b = run(1), run(2)
  repro.set_threads(2)
  A.eq(a, b, "RL step statistics")
end)

A.done("test_score_rl")
