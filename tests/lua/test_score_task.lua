-- tests/lua/test_score_task.lua: the SCoRe task (repro.score_task): transcript
-- format, rewards, metrics on hand-made cases, split disjointness, the noisy
-- solver's error rate and its lack of a correction prior, bootstrap intervals.
local A = dofile(arg[0]:match("(.*/)") .. "assert.lua")
local S = require "repro.score_task"

A.test("vocabulary and layout: 15 symbols, 38-token transcripts at n = 8", function()
  A.eq(15, S.VOCAB)
  local L = S.layout(8)
  A.eq(38, L.width); A.eq(18, L.x_len); A.eq(9, L.y_len)
  A.eq(19, L.y[1][1]); A.eq(27, L.y[1][2]); A.eq(30, L.y[2][1]); A.eq(38, L.y[2][2])
  A.eq(30, S.layout(6).width)
  A.eq(49, S.layout(8, 3).width, "a third attempt appends ?= and 9 characters")
  A.raises(function() S.layout(0) end, "n must be")
end)

A.test("transcript: x1 y1 ?= y2 of the design's example", function()
  local p = { n = 8, a = { 4, 7, 1, 8, 0, 2, 9, 3 }, b = { 9, 3, 2, 8, 1, 7, 1, 6 } }
  local full = S.problem(S.rng(1), 8, 0)   -- shape of a problem
  A.truthy(full.sum and #full.sum == 9)
  p.sum = { 1, 4, 0, 4, 6, 2, 0, 0, 9 }
  local ids = S.transcript(p, { p.sum, p.sum })
  A.eq("47180293+93281716=140462009?=140462009", S.decode(ids))
  A.eq(38, #ids)
  A.eq("47180293+93281716=", S.decode(S.prompt(p)))
  A.eq(S.decode(S.encode("12?=")), "12?=")
  A.raises(function() S.encode("12x") end, "not in the vocabulary")
end)

A.test("problems: sums are right, p9 = 1 gives 9-pairs only", function()
  local rng = S.rng(7)
  for _ = 1, 200 do
    local p = S.problem(rng, 6, 0.35)
    local a, b, s = tonumber(table.concat(p.a)), tonumber(table.concat(p.b)), tonumber(table.concat(p.sum))
    A.eq(a + b, s, "sum of " .. p.key)
    A.eq(7, #p.sum)
  end
  local p = S.problem(rng, 8, 1.0)
  for i = 1, 8 do A.eq(9, p.a[i] + p.b[i]) end
end)

A.test("reward: exact zero-padded sum only; malformed scores 0", function()
  local p = S.problem(S.rng(3), 4, 0.5)
  local ids = {}
  for i, d in ipairs(p.sum) do ids[i] = d + 1 end
  A.eq(1, S.reward(p, ids))
  local wrong = { table.unpack(ids) }; wrong[3] = (wrong[3] % 10) + 1
  A.eq(0, S.reward(p, wrong))
  local bad = { table.unpack(ids) }; bad[2] = S.Q
  A.eq(0, S.reward(p, bad)); A.truthy(S.parse(bad) == nil, "malformed parses to nil")
  A.eq(0, S.reward(p, { table.unpack(ids, 1, 4) }), "short answer")
end)

A.test("splits: seeded, disjoint, distinct, the requested sizes", function()
  local sp = S.splits { n = 6, p9 = 0.35, seed = 5, train = 400, val = 50, test = 100 }
  A.eq(400, #sp.train); A.eq(50, #sp.val); A.eq(100, #sp.test)
  local seen = {}
  for _, name in ipairs { "train", "val", "test" } do
    for _, p in ipairs(sp[name]) do
      A.truthy(not seen[p.key], "problem " .. p.key .. " appears once")
      seen[p.key] = name
      A.eq(name, S.split_of(p), "hash bucket")
    end
  end
  local again = S.splits { n = 6, p9 = 0.35, seed = 5, train = 400, val = 50, test = 100 }
  A.eq(sp.test[17].key, again.test[17].key, "same seed, same split")
  local stream = S.train_stream { n = 6, p9 = 0.35, seed = 9 }
  for _ = 1, 300 do A.eq("train", S.split_of(stream()), "pretraining stream stays in the train bucket") end
end)

A.test("noisy solver: 30% wrong attempts, y2 independent of y1's correctness", function()
  local rng = S.rng(11)
  local N, wrong1 = 20000, 0
  local c2_given_c1, n_c1, c2_given_w1, n_w1 = 0, 0, 0, 0
  local L = S.layout(6)
  for _ = 1, N do
    local p = S.problem(rng, 6, 0.35)
    local ids, y1, y2 = S.solver_transcript(p, rng)
    A.eq(L.width, #ids)
    local ok1 = table.concat(y1) == table.concat(p.sum)
    local ok2 = table.concat(y2) == table.concat(p.sum)
    if ok1 then n_c1 = n_c1 + 1; c2_given_c1 = c2_given_c1 + (ok2 and 1 or 0)
    else wrong1 = wrong1 + 1; n_w1 = n_w1 + 1; c2_given_w1 = c2_given_w1 + (ok2 and 1 or 0) end
  end
  A.near(0.3, wrong1 / N, 0.015, "error rate of an attempt")
  -- P(y2 right | y1 right) = 0.5 + 0.5*0.7 = 0.85; P(y2 right | y1 wrong) = 0.5*0.7 = 0.35:
  -- copying links y2 to y1, but a wrong y1 is never fixed more often than a fresh attempt
  A.near(0.85, c2_given_c1 / n_c1, 0.015)
  A.near(0.35, c2_given_w1 / n_w1, 0.02)
  -- chain slips: lookahead 1 fails on 5+5 after 4+5 (a 9-pair then a carry)
  local p = { n = 3, a = { 0, 4, 5 }, b = { 0, 5, 5 } }
  p.sum = { 0, 1, 0, 0 }
  A.eq("0000", table.concat(S.chain_slip(p, 1)))
  A.eq("0100", table.concat(S.chain_slip(p, 2)))
end)

A.test("metrics on hand-made cases", function()
  local y = function(s) return S.encode(s) end
  local recs = {
    { r1 = 1, r2 = 1, y1 = y "123", y2 = y "123" },       -- c -> c, unchanged
    { r1 = 0, r2 = 1, y1 = y "124", y2 = y "123" },       -- i -> c, one substitution
    { r1 = 1, r2 = 0, y1 = y "555", y2 = y "556" },       -- c -> i
    { r1 = 0, r2 = 0, y1 = y "9?9", y2 = y "999", m1 = true },  -- i -> i, malformed y1
  }
  local m = S.metrics(recs)
  A.near(0.5, m.acc1); A.near(0.5, m.acc2); A.near(0, m.delta)
  A.near(0.25, m.i2c); A.near(0.25, m.c2i)
  A.near(0.75, m.change)
  A.near((0 + 1 / 6 + 1 / 6 + 1 / 6) / 4, m.edit)
  A.near(0.125, m.malformed)
  A.eq(3, S.levenshtein("kitten", "sitting"))
  A.near(0, S.edit_ratio({}, {}))
  A.raises(function() S.metrics({}) end, "no records")
end)

A.test("paired bootstrap: interval brackets the mean, excludes 0 for a clear effect", function()
  local recs = {}
  for i = 1, 400 do recs[i] = { r1 = (i % 4 == 0) and 1 or 0, r2 = (i % 2 == 0) and 1 or 0 } end
  local mean, lo, hi = S.bootstrap(S.delta_values(recs), { B = 500, seed = 1 })
  A.near(0.25, mean, 1e-12)
  A.truthy(lo > 0 and lo < mean and hi > mean, string.format("CI [%g, %g]", lo, hi))
  local same_mean, slo, shi = S.bootstrap(S.delta_values(recs, recs), { B = 200 })
  A.eq(0, same_mean); A.eq(0, slo); A.eq(0, shi)
end)

A.done("test_score_task")
