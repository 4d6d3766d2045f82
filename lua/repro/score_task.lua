-- repro.score_task: the SCoRe task at CPU scale, in plain Lua (no tensors).
--
-- Addition written most-significant digit first, as fixed-width two-attempt
-- transcripts `x1 y1 ?= y2` over a 15-symbol vocabulary:
--
--   47180293+93281716=140462009?=140462009     (n = 8 digits: 38 tokens)
--   └──────── x1 ────┘└── y1 ──┘p1└── y2 ──┘
--
-- With probability p9 a digit pair sums to 9 (long carry chains). Splits are
-- seeded and disjoint by a hash of the problem. The noisy two-attempt solver
-- writes the base model's pretraining transcripts: an attempt is right with
-- probability p_correct, else it has a carry-chain slip (carries guessed 0
-- beyond a lookahead of 1-3 digits) or a digit slip; y2 copies y1 with
-- probability p_copy, otherwise it is an independent attempt, so nothing
-- links y1's correctness to y2. Metrics follow the paper (Acc@t1, Acc@t2,
-- Δ, Δi→c, Δc→i) plus change rate, edit-distance ratio and malformed rate;
-- paired-bootstrap intervals resample problems.
local U = require "repro.util"

local S = {}

-- ---- vocabulary ---------------------------------------------------------------

S.SYMBOLS = { "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "+", "=", "?", "^", "." }
S.VOCAB = #S.SYMBOLS                       -- 15
S.PLUS, S.EQ, S.Q, S.BOS, S.PAD = 11, 12, 13, 14, 15
local ID = {}
for i, c in ipairs(S.SYMBOLS) do ID[c] = i end

-- Token id (1-based) of a digit 0-9.
function S.digit_id(d) return d + 1 end

-- String -> list of ids; error on a character outside the vocabulary.
function S.encode(s)
  local out = {}
  for i = 1, #s do
    local id = ID[s:sub(i, i)]
    if not id then error(string.format("score_task.encode: '%s' at %d is not in the vocabulary", s:sub(i, i), i), 2) end
    out[i] = id
  end
  return out
end

-- List of ids -> string; ids outside 1..15 become '#'.
function S.decode(ids, i0, i1)
  local t = {}
  for i = i0 or 1, i1 or #ids do t[#t + 1] = S.SYMBOLS[ids[i]] or "#" end
  return table.concat(t)
end

-- ---- layout -------------------------------------------------------------------

-- Positions (1-based, inclusive) of each part of a transcript with n-digit
-- operands and `attempts` answers: x1 = 1..2n+2, y_k, p_k; width = 4n+6 for 2.
function S.layout(n, attempts)
  if math.type(n) ~= "integer" or n < 1 or n > 18 then
    error("score_task.layout: n must be an integer in 1..18, got " .. tostring(n), 2)
  end
  attempts = attempts or 2
  local L = { n = n, x_len = 2 * n + 2, y_len = n + 1, attempts = attempts, y = {} }
  local pos = L.x_len
  for k = 1, attempts do
    if k > 1 then pos = pos + 2 end        -- the instruction "?="
    L.y[k] = { pos + 1, pos + L.y_len }
    pos = pos + L.y_len
  end
  L.width = pos
  L.prompt_len = L.x_len
  return L
end

-- ---- random numbers (splitmix64 on Lua integers: same seed, same stream) -------

local Rng = {}
Rng.__index = Rng

-- A generator seeded by an integer.
function S.rng(seed)
  if math.type(seed) ~= "integer" then error("score_task.rng: seed must be an integer, got " .. tostring(seed), 2) end
  return setmetatable({ s = seed }, Rng)
end

function Rng:next()
  self.s = self.s + 0x9E3779B97F4A7C15
  local z = self.s
  z = (z ~ (z >> 30)) * -4658895280553007687    -- 0xBF58476D1CE4E5B9
  z = (z ~ (z >> 27)) * -7723592293110705685    -- 0x94D049BB133111EB
  return z ~ (z >> 31)
end

-- Uniform float in [0, 1).
function Rng:uniform() return (self:next() >> 11) * (1.0 / 9007199254740992.0) end

-- Uniform integer in 0..m-1.
function Rng:int(m) return (self:next() >> 1) % m end

-- ---- problems -----------------------------------------------------------------

-- Digits of a + b, MSB first, n+1 digits (zero-padded).
local function add_digits(a, b, n)
  local s, carry = {}, 0
  for i = n, 1, -1 do
    local v = a[i] + b[i] + carry
    s[i + 1] = v % 10
    carry = v // 10
  end
  s[1] = carry
  return s
end

local function key_of(a, b) return table.concat(a) .. "+" .. table.concat(b) end

-- FNV-1a of a string (64-bit integer arithmetic), mixed with a salt.
local function hash(s, salt)
  local h = -3750763034362895579 ~ salt   -- 0xcbf29ce484222325
  for i = 1, #s do h = (h ~ s:byte(i)) * 1099511628211 end
  h = h ~ (h >> 29)
  return h
end

-- A random problem: {a = digits, b = digits, sum = digits, key = "a+b"}.
function S.problem(rng, n, p9)
  local a, b = {}, {}
  for i = 1, n do
    if rng:uniform() < p9 then
      a[i] = rng:int(10); b[i] = 9 - a[i]
    else
      a[i] = rng:int(10); b[i] = rng:int(10)
    end
  end
  return { a = a, b = b, sum = add_digits(a, b, n), key = key_of(a, b), n = n }
end

-- Split of a problem by hash: "test" (1 in 10), "val" (1 in 10), else "train".
function S.split_of(p, salt)
  local h = (hash(p.key, salt or 0) >> 1) % 10
  if h == 0 then return "test" elseif h == 1 then return "val" end
  return "train"
end

-- Disjoint seeded splits: {train = {...}, val = {...}, test = {...}}, each a
-- list of distinct problems of its hash bucket. o: n, p9, seed, train, val, test.
function S.splits(o)
  local rng = S.rng(o.seed or 1)
  local want = { train = o.train or 4096, val = o.val or 500, test = o.test or 2000 }
  local out, seen = { train = {}, val = {}, test = {} }, {}
  local tries, limit = 0, 200 * (want.train + want.val + want.test) + 1000
  while #out.train < want.train or #out.val < want.val or #out.test < want.test do
    tries = tries + 1
    if tries > limit then error("score_task.splits: could not draw enough distinct problems (n too small?)", 2) end
    local p = S.problem(rng, o.n, o.p9)
    if not seen[p.key] then
      local sp = S.split_of(p, o.salt)
      if #out[sp] < want[sp] then seen[p.key] = true; out[sp][#out[sp] + 1] = p end
    end
  end
  return out
end

-- A stream of training-bucket problems (never in val/test), for pretraining.
function S.train_stream(o)
  local rng = S.rng(o.seed or 1)
  return function()
    while true do
      local p = S.problem(rng, o.n, o.p9)
      if S.split_of(p, o.salt) == "train" then return p end
    end
  end
end

-- ---- the noisy solver -----------------------------------------------------------

-- Sum digits when each carry is looked ahead at most w positions (beyond, 0).
function S.chain_slip(p, w)
  local n, a, b = p.n, p.a, p.b
  local s = {}
  local function carry_into(i)          -- carry into digit i (1..n) from i+1..n
    for j = i + 1, math.min(n, i + w) do
      local v = a[j] + b[j]
      if v >= 10 then return 1 elseif v <= 8 then return 0 end
    end
    return 0
  end
  for i = 1, n do s[i + 1] = (a[i] + b[i] + carry_into(i)) % 10 end
  s[1] = (a[1] + b[1] + carry_into(1)) >= 10 and 1 or 0
  return s
end

local function copy(t) local c = {} for i = 1, #t do c[i] = t[i] end return c end
local function same(x, y)
  if #x ~= #y then return false end
  for i = 1, #x do if x[i] ~= y[i] then return false end end
  return true
end

-- One attempt of the noisy solver: (digits, kind) with kind "correct",
-- "chain" or "digit". o: p_correct (0.7), p_chain (0.5 of the wrong ones).
function S.attempt(p, rng, o)
  o = o or {}
  if rng:uniform() < (o.p_correct or 0.7) then return copy(p.sum), "correct" end
  if rng:uniform() < (o.p_chain or 0.5) then
    local s = S.chain_slip(p, 1 + rng:int(3))
    if not same(s, p.sum) then return s, "chain" end
  end
  local s = copy(p.sum)
  local i = 1 + rng:int(#s)
  s[i] = (s[i] + 1 + rng:int(9)) % 10
  return s, "digit"
end

-- A two-attempt transcript of the noisy solver: ids (list of 4n+6), y1, y2.
function S.solver_transcript(p, rng, o)
  o = o or {}
  local y1 = S.attempt(p, rng, o)
  local y2
  if rng:uniform() < (o.p_copy or 0.5) then y2 = copy(y1) else y2 = S.attempt(p, rng, o) end
  return S.transcript(p, { y1, y2 }), y1, y2
end

-- Ids of the prompt x1 (2n+2 tokens).
function S.prompt(p)
  local ids = {}
  for i = 1, p.n do ids[#ids + 1] = p.a[i] + 1 end
  ids[#ids + 1] = S.PLUS
  for i = 1, p.n do ids[#ids + 1] = p.b[i] + 1 end
  ids[#ids + 1] = S.EQ
  return ids
end

-- Ids of a full transcript: prompt, then each answer (digit lists or id
-- lists via opts.ids) separated by the instruction "?=".
function S.transcript(p, answers, as_ids)
  local ids = S.prompt(p)
  for k, y in ipairs(answers) do
    if k > 1 then ids[#ids + 1] = S.Q; ids[#ids + 1] = S.EQ end
    for i = 1, #y do ids[#ids + 1] = as_ids and y[i] or (y[i] + 1) end
  end
  return ids
end

-- ---- rewards and metrics ----------------------------------------------------------

-- Answer ids (n+1 tokens) -> digits, or nil when malformed (any non-digit).
function S.parse(ids)
  local d = {}
  for i = 1, #ids do
    local v = ids[i]
    if type(v) ~= "number" or v < 1 or v > 10 then return nil end
    d[i] = v - 1
  end
  return d
end

-- Binary reward of answer ids against a problem: 1 exact sum, else 0.
function S.reward(p, ids)
  if #ids ~= p.n + 1 then return 0 end
  local d = S.parse(ids)
  if not d then return 0 end
  return same(d, p.sum) and 1 or 0
end

-- Levenshtein distance of two lists (or strings).
function S.levenshtein(x, y)
  if type(x) == "string" then x = { x:byte(1, -1) } end
  if type(y) == "string" then y = { y:byte(1, -1) } end
  local m, n = #x, #y
  local prev, cur = {}, {}
  for j = 0, n do prev[j] = j end
  for i = 1, m do
    cur[0] = i
    for j = 1, n do
      local c = prev[j - 1] + ((x[i] == y[j]) and 0 or 1)
      local d1, d2 = prev[j] + 1, cur[j - 1] + 1
      if d1 < c then c = d1 end
      if d2 < c then c = d2 end
      cur[j] = c
    end
    prev, cur = cur, prev
  end
  return prev[n]
end

-- Edit-distance ratio Lev(y1, y2) / (|y1| + |y2|) (0 when both are empty).
function S.edit_ratio(x, y)
  local tot = #x + #y
  if tot == 0 then return 0 end
  return S.levenshtein(x, y) / tot
end

-- Per-problem records -> metrics. rec[i] = {r1 = 0/1, r2 = 0/1, y1 = ids,
-- y2 = ids, m1 = malformed?, m2 = malformed?}. Fractions in [0, 1].
function S.metrics(recs)
  local N = #recs
  if N == 0 then error("score_task.metrics: no records", 2) end
  local m = { n = N, acc1 = 0, acc2 = 0, i2c = 0, c2i = 0, change = 0, edit = 0, malformed = 0 }
  for _, r in ipairs(recs) do
    m.acc1 = m.acc1 + r.r1; m.acc2 = m.acc2 + r.r2
    if r.r1 == 0 and r.r2 == 1 then m.i2c = m.i2c + 1 end
    if r.r1 == 1 and r.r2 == 0 then m.c2i = m.c2i + 1 end
    if r.y1 and r.y2 then
      if not same(r.y1, r.y2) then m.change = m.change + 1 end
      m.edit = m.edit + S.edit_ratio(r.y1, r.y2)
    end
    m.malformed = m.malformed + ((r.m1 and 1 or 0) + (r.m2 and 1 or 0)) / 2
  end
  for _, k in ipairs { "acc1", "acc2", "i2c", "c2i", "change", "edit", "malformed" } do m[k] = m[k] / N end
  m.delta = m.acc2 - m.acc1
  return m
end

-- Paired bootstrap of a per-problem statistic's mean: values[i] numbers;
-- returns mean, lo, hi (95% percentile interval), B resamples, seeded.
function S.bootstrap(values, o)
  o = o or {}
  local N = #values
  if N == 0 then error("score_task.bootstrap: no values", 2) end
  local B, rng = o.B or 1000, S.rng(o.seed or 12345)
  local mean = 0
  for i = 1, N do mean = mean + values[i] end
  mean = mean / N
  local ms = {}
  for b = 1, B do
    local s = 0
    for _ = 1, N do s = s + values[1 + rng:int(N)] end
    ms[b] = s / N
  end
  table.sort(ms)
  local lo = ms[math.max(1, math.floor(0.025 * B + 0.5))]
  local hi = ms[math.min(B, math.ceil(0.975 * B))]
  return mean, lo, hi
end

-- Per-problem Δ values (r2 − r1) of records; with a second list, the paired
-- difference of Δ (first minus second, same problems in the same order).
function S.delta_values(recs, other)
  local v = {}
  for i, r in ipairs(recs) do
    v[i] = r.r2 - r.r1
    if other then v[i] = v[i] - (other[i].r2 - other[i].r1) end
  end
  return v
end

-- Mean and sample standard deviation (n - 1 in the denominator; 0 for a
-- single value) of a list of numbers: the spread of a metric over seeds
-- (util.mean_sd; an empty list is an error here: a metric pooled over no seed
-- is a bug of the caller).
function S.mean_sd(xs)
  if #xs == 0 then error("score_task.mean_sd: no values", 2) end
  return U.mean_sd(xs)
end

-- Records of several seeds on the same problems (list[s][i]: seed s,
-- problem i) pooled per problem: r1, r2 the mean over seeds, change the
-- fraction of seeds whose y2 differs from y1, seeds the count. Bootstrapping
-- these per-problem means (score_task.bootstrap of score_task.delta_values)
-- resamples problems with the same index set for every seed: the mean over
-- seeds of each seed's resampled Δ is the resampled mean of the pooled values.
function S.pool_records(list)
  if type(list) ~= "table" or #list == 0 then error("score_task.pool_records: expected a non-empty list of record lists", 2) end
  local n = #list[1]
  for s, recs in ipairs(list) do
    if type(recs) ~= "table" or #recs ~= n then
      error(string.format("score_task.pool_records: seed %d has %s records, seed 1 has %d (the same problems are needed)",
        s, type(recs) == "table" and tostring(#recs) or "no", n), 2)
    end
  end
  if n == 0 then error("score_task.pool_records: no records", 2) end
  local k = #list
  local out = {}
  for i = 1, n do
    local r1, r2, ch = 0, 0, 0
    for s = 1, k do
      local r = list[s][i]
      r1 = r1 + r.r1; r2 = r2 + r.r2
      if r.y1 and r.y2 and not same(r.y1, r.y2) then ch = ch + 1 end
    end
    out[i] = { r1 = r1 / k, r2 = r2 / k, change = ch / k, seeds = k }
  end
  return out
end

return S
