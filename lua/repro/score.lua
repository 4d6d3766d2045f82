-- repro.score: the model side of the SCoRe reproduction (arXiv 2409.12917):
-- rollouts of fixed-width two-attempt transcripts, per-token log-probs, the
-- REINFORCE/RLOO loss with an exact KL over the vocabulary, SFT on masked
-- tokens, greedy evaluation. The task itself is repro.score_task.
--
-- Generation uses the kit's nn.Llama:generate (key/value cache, T.sample)
-- when present; this file's own cached decoder (a re-composition of
-- nn.Llama's forward, written before generate landed) and a cache-free path
-- are kept as references, and the tests check all three agree. Sampling is
-- seeded from a score_task generator (T.sample's per-row Philox streams, or
-- this file's draw from softmax(logits / T)), so the same seed gives the
-- same rollouts at any thread count.
local T = require "repro.tensor"
local nn = require "repro.nn"
local S = require "repro.score_task"
local optim = require "repro.optim"

local M = {}

-- ---- models ----------------------------------------------------------------------

-- A Llama for the task: o.dim, o.layers, o.heads, o.ffn_dim (optional),
-- o.n (digits), o.seed; seq_len fits o.attempts (default 2) answers.
function M.model(o)
  local L = S.layout(o.n, math.max(o.attempts or 2, 2))
  return nn.Llama{ vocab = S.VOCAB, dim = o.dim, layers = o.layers, heads = o.heads, ffn_dim = o.ffn_dim,
                   seq_len = L.width + 1, seed = o.seed or 0 }
end

-- A copy of a Llama with its own parameters (same config, same values).
function M.clone(model)
  local c = {}
  for k, v in pairs(model.config) do c[k] = v end
  c.seed = 0
  local m = nn.Llama(c)
  m:load_state_dict(model:state_dict())
  return m
end

-- Values of every parameter, copied (a snapshot to restore with M.restore).
function M.snapshot(model)
  local snap = {}
  T.no_grad(function()
    for k, p in pairs(model:state_dict()) do snap[k] = p:clone() end
  end)
  return snap
end

function M.restore(model, snap) model:load_state_dict(snap) end

-- ---- rollouts -----------------------------------------------------------------

local function to_i32(rows) return T.tensor(rows, { dtype = "i32" }) end

-- ---- cached decoding -----------------------------------------------------------
-- The Llama forward of repro.nn, re-composed with a key/value cache: a
-- prefill runs the prompt once, then each new token runs at length 1 with
-- RoPE at its position and attention over the cached keys and values. All
-- rows share one length (fixed-width transcripts), so one offset serves the
-- batch. Same function as model:forward (tests check logits and outputs).

local function attn_cached(att, x, cache, li, offset)
  local s = x:shape()
  local B, Tn, H, D = s[1], s[2], att.heads, att.head_dim
  local function heads(t) return t:view(B, Tn, H, D):transpose(2, 3) end
  local ropt = { base = att.rope_base, offset = offset }
  local q = T.rope(heads(att.wq(x)), ropt)
  local k = T.rope(heads(att.wk(x)), ropt)
  local v = heads(att.wv(x))
  local c = cache[li]
  if c then k = T.cat({ c.k, k }, 3); v = T.cat({ c.v, v }, 3) end
  cache[li] = { k = k, v = v }
  local y
  if Tn == 1 then
    y = (q:matmul(k:transpose(3, 4)) * (1 / math.sqrt(D))):softmax(4):matmul(v)
  elseif not c then
    y = T.attention(q, k, v)
  else
    error("score: a chunk of several tokens after a prefill is not supported", 2)
  end
  return att.wo(y:transpose(2, 3):contiguous():view(B, Tn, att.dim))
end

-- Logits (B, t, V) of ids (B, t) i32 at positions offset+1.., updating cache.
function M.forward_cached(model, ids, cache, offset)
  local x = model.tok_emb(ids)
  for li, b in ipairs(model.blocks) do
    x = x + attn_cached(b.attn, b.attn_norm(x), cache, li, offset)
    x = x + b.mlp(b.mlp_norm(x))
  end
  x = model.norm(x)
  if model.config.tie_embeddings then return x:matmul(model.tok_emb.weight:t()) end
  return model.lm_head(x)
end

local function choose(logits, rows, t, temp, rng)
  local B = #rows
  if temp == 0 then
    local am = logits:argmax(2):totable()
    for b = 1, B do rows[b][t] = am[b] end
  else
    local pr = (logits * (1 / temp)):softmax(2):totable()
    for b = 1, B do
      local u, acc, row = rng:uniform(), 0, pr[b]
      local pick = #row
      for v = 1, #row do
        acc = acc + row[v]
        if u < acc then pick = v; break end
      end
      rows[b][t] = pick
    end
  end
end

-- Extend every row of `rows` (B lists of ids, equal lengths) by a plan: a
-- list of {gen = k} (k sampled tokens) and {force = {ids}} items. o.temperature
-- 0 is greedy (argmax); o.rng: a score_task generator (temperature > 0).
-- Uses nn.Llama:generate when the kit has it (its sampler seeded from
-- o.rng); o.impl = "own" uses this file's cached decoder instead, and
-- o.cache = false runs the whole prefix for every token. Rows are extended
-- in place and returned.
function M.extend(model, rows, plan, o)
  o = o or {}
  local temp = o.temperature or 0
  if temp > 0 and not o.rng then error("score.extend: temperature > 0 needs o.rng", 2) end
  local B = #rows
  if B == 0 then return rows end
  if model.generate and o.impl ~= "own" and o.cache ~= false then
    -- the kit's generator (nn.Llama:generate, preallocated cache, T.sample);
    -- its sampler is seeded from o.rng, so runs stay reproducible
    local T0, forced, steps = #rows[1], {}, 0
    for _, item in ipairs(plan) do
      if item.force then
        for _, id in ipairs(item.force) do steps = steps + 1; forced[T0 + steps] = id end
      else steps = steps + item.gen end
    end
    local gopt = { steps = steps, temperature = temp, forced = forced }
    if temp > 0 then gopt.generator = T.Generator(o.rng:int(2147483647)) end
    local out = model:generate(to_i32(rows), gopt):totable()
    for b = 1, B do
      local r, ob = rows[b], out[b]
      for t = T0 + 1, T0 + steps do r[t] = ob[t] end
    end
    return rows
  end
  T.no_grad(function()
    if o.cache == false then
      for _, item in ipairs(plan) do
        if item.force then
          for b = 1, B do for _, id in ipairs(item.force) do rows[b][#rows[b] + 1] = id end end
        else
          for _ = 1, item.gen do
            local t = #rows[1]
            choose(model:forward(to_i32(rows)):select(2, t), rows, t + 1, temp, o.rng)
          end
        end
      end
      return
    end
    local cache, pos = {}, #rows[1]
    local logits = M.forward_cached(model, to_i32(rows), cache, 0):select(2, pos)
    local function feed()          -- run the token just appended at position pos
      local col = {}
      for b = 1, B do col[b] = { rows[b][pos] } end
      logits = M.forward_cached(model, to_i32(col), cache, pos - 1):select(2, 1)
    end
    local total = 0
    for _, item in ipairs(plan) do total = total + (item.force and #item.force or item.gen) end
    local done = 0
    for _, item in ipairs(plan) do
      local n = item.force and #item.force or item.gen
      for j = 1, n do
        pos = pos + 1
        if item.force then
          for b = 1, B do rows[b][pos] = item.force[j] end
        else
          choose(logits, rows, pos, temp, o.rng)
        end
        done = done + 1
        if done < total then feed() end
      end
    end
  end)
  return rows
end

local function slice(t, i, j) local o = {} for k = i, j do o[#o + 1] = t[k] end return o end

-- Records of full transcripts against their problems: {r1, r2, y1, y2, m1,
-- m2} (r2/y2 only when the transcript has a second answer).
function M.records(problems, rows, L)
  local recs = {}
  for i, p in ipairs(problems) do
    local row = rows[i]
    local y1 = slice(row, L.y[1][1], L.y[1][2])
    local r = { r1 = S.reward(p, y1), y1 = y1, m1 = S.parse(y1) == nil }
    if L.y[2] and #row >= L.y[2][2] then
      r.y2 = slice(row, L.y[2][1], L.y[2][2]); r.r2 = S.reward(p, r.y2); r.m2 = S.parse(r.y2) == nil
    end
    recs[i] = r
  end
  return recs
end

-- The plan that writes answers 1..attempts after the prompt.
function M.plan(L, attempts, from)
  local plan = {}
  for k = from or 1, attempts do
    if k > 1 then plan[#plan + 1] = { force = { S.Q, S.EQ } } end
    plan[#plan + 1] = { gen = L.y_len }
  end
  return plan
end

-- Greedy two-attempt evaluation of problems: returns records, metrics.
-- o.first: optional list of fixed y1 id lists (then only y2 is generated);
-- o.batch: rows per forward (default 500).
function M.evaluate(model, problems, L, o)
  o = o or {}
  local bs = o.batch or 500
  local all = {}
  for s = 1, #problems, bs do
    local e = math.min(#problems, s + bs - 1)
    local rows, probs = {}, {}
    for i = s, e do
      local r = S.prompt(problems[i])
      if o.first then for _, id in ipairs(o.first[i]) do r[#r + 1] = id end end
      rows[#rows + 1] = r; probs[#probs + 1] = problems[i]
    end
    M.extend(model, rows, M.plan(L, o.attempts or 2, o.first and 2 or 1), { temperature = 0 })
    for _, rec in ipairs(M.records(probs, rows, L)) do all[#all + 1] = rec end
  end
  return all, S.metrics(all)
end

-- Greedy answers over `attempts` rounds: acc[k] = fraction right at attempt k.
function M.accuracy_over_attempts(model, problems, n, attempts)
  local L = S.layout(n, attempts)
  local rows = {}
  for i, p in ipairs(problems) do rows[i] = S.prompt(p) end
  M.extend(model, rows, M.plan(L, attempts), { temperature = 0 })
  local acc = {}
  for k = 1, attempts do
    local c = 0
    for i, p in ipairs(problems) do c = c + S.reward(p, slice(rows[i], L.y[k][1], L.y[k][2])) end
    acc[k] = c / #problems
  end
  return acc
end

-- ---- log-probs, losses ------------------------------------------------------------

-- Log-probs of next tokens: rows (B lists of width W) -> logp (B, W-1, V)
-- (with autograd when grad is on) and the chosen-token log-probs (B, W-1).
function M.logprobs(model, rows)
  local W = #rows[1]
  local ids = to_i32(rows)
  local lp = model:forward(ids:narrow(2, 1, W - 1)):log_softmax(3)
  local tg = {}
  for b = 1, #rows do
    local r = {}
    for t = 1, W - 1 do r[t] = { rows[b][t + 1] } end
    tg[b] = r
  end
  local tok = lp:gather(3, to_i32(tg)):view(#rows, W - 1)
  return lp, tok
end

-- Weight matrix (B, W-1): value f(b, k) on the targets of answer k.
local function turn_weights(B, W, L, f)
  local w = {}
  for b = 1, B do
    local r = {}
    for t = 1, W - 1 do r[t] = 0 end
    for k = 1, #L.y do
      local v = f(b, k)
      if v ~= 0 and L.y[k][2] <= W then
        for pos = L.y[k][1], L.y[k][2] do r[pos - 1] = v end
      end
    end
    w[b] = r
  end
  return T.tensor(w)
end

-- Global gradient-norm clipping; returns the norm before clipping.
function M.clip_grad(params, clip)
  local sq = 0.0
  for _, p in ipairs(params) do
    local g = p.grad
    if g then sq = sq + (g * g):sum():item() end
  end
  local norm = math.sqrt(sq)
  if clip and clip > 0 and norm > clip and norm == norm then
    local s = clip / (norm + 1e-6)
    T.no_grad(function()
      for _, p in ipairs(params) do local g = p.grad if g then p.grad = g * s end end
    end)
  end
  return norm
end

-- One SFT step on rows with a target mask: mask(b, pos) -> true for every
-- transcript position pos whose token is trained. Mean loss per trained token.
function M.sft_step(model, opt, rows, mask, clip)
  local B, W = #rows, #rows[1]
  local w, count = {}, 0
  for b = 1, B do
    local r = {}
    for t = 1, W - 1 do
      local on = mask(b, t + 1)
      r[t] = on and 1 or 0
      if on then count = count + 1 end
    end
    w[b] = r
  end
  opt:zero_grad()
  local _, tok = M.logprobs(model, rows)
  local loss = (tok * T.tensor(w)):sum() * (-1 / math.max(count, 1))
  loss:backward()
  M.clip_grad(model:parameters(), clip)
  opt:step()
  return loss:item()
end

-- RLOO advantages: R (list, groups of k consecutive entries) -> A_j = R_j -
-- mean of the other k-1 rewards of its group.
function M.rloo(R, k)
  if k < 2 then error("score.rloo: k must be >= 2, got " .. tostring(k), 2) end
  local A = {}
  for g = 0, #R // k - 1 do
    local s = 0
    for j = 1, k do s = s + R[g * k + j] end
    for j = 1, k do local i = g * k + j; A[i] = R[i] - (s - R[i]) / (k - 1) end
  end
  return A
end

-- Returns (R1, R2) per row for a mode: "stage1" (0, r2), "stage2" (r1,
-- r2 + α(r2 − r1)), "diag" (r1, (1+α) r2), "single" (r1, nil).
function M.returns(mode, r1, r2, alpha)
  if mode == "stage1" then return 0, r2
  elseif mode == "stage2" then return r1, r2 + alpha * (r2 - r1)
  elseif mode == "diag" then return r1, (1 + alpha) * r2
  elseif mode == "single" then return r1, nil end
  error("score.returns: unknown mode " .. tostring(mode), 2)
end

-- One REINFORCE step with RLOO baselines and an exact KL to ref.
-- o: mode, k, alpha, beta_t1 (KL weight on y1), beta_t2 (on y2), clip,
-- temperature (1), rng, L (layout with 2 answers). Returns stats: r1, r2
-- (mean training rewards), change (y2 ≠ y1), kl1, kl2 (mean KL summed over a
-- turn's tokens), loss, grad_norm.
function M.rl_step(policy, ref, opt, problems, o)
  local L, k = o.L, o.k
  local single = o.mode == "single"
  local rows, probs = {}, {}
  for _, p in ipairs(problems) do
    for _ = 1, k do rows[#rows + 1] = S.prompt(p); probs[#probs + 1] = p end
  end
  M.extend(policy, rows, M.plan(L, single and 1 or 2), { temperature = o.temperature or 1, rng = o.rng })
  local recs = M.records(probs, rows, L)
  local R1, R2 = {}, {}
  local st = { r1 = 0, r2 = 0, change = 0 }
  for i, r in ipairs(recs) do
    R1[i], R2[i] = M.returns(o.mode, r.r1, r.r2, o.alpha)
    st.r1 = st.r1 + r.r1
    if r.r2 then
      st.r2 = st.r2 + r.r2
      if S.levenshtein(r.y1, r.y2) > 0 then st.change = st.change + 1 end
    end
  end
  local B = #rows
  local A1 = M.rloo(R1, k)
  local A2 = (not single) and M.rloo(R2, k) or nil
  local W = #rows[1]
  opt:zero_grad()
  local lp, tok = M.logprobs(policy, rows)
  local lpref
  T.no_grad(function() lpref = M.logprobs(ref, rows) end)
  local wpg = turn_weights(B, W, L, function(b, t) if t == 1 then return A1[b] end return A2 and A2[b] or 0 end)
  local kl_pos = (lp:exp() * (lp - lpref)):sum(3)          -- (B, W-1), exact over the vocabulary
  local m1 = turn_weights(B, W, L, function(_, t) return t == 1 and 1 or 0 end)
  local m2 = single and nil or turn_weights(B, W, L, function(_, t) return t == 2 and 1 or 0 end)
  local kl1 = (kl_pos * m1):sum() * (1 / B)
  local loss = (tok * wpg):sum() * (-1 / B) + kl1 * o.beta_t1
  local kl2
  if m2 then
    kl2 = (kl_pos * m2):sum() * (1 / B)
    loss = loss + kl2 * o.beta_t2
  end
  loss:backward()
  st.grad_norm = M.clip_grad(policy:parameters(), o.clip)
  opt:step()
  st.r1, st.r2, st.change = st.r1 / B, st.r2 / B, st.change / B
  st.kl1 = kl1:item(); st.kl2 = kl2 and kl2:item() or 0
  st.loss = loss:item()
  if single then st.r2, st.change = 0 / 0, 0 / 0 end
  return st
end

-- Samples `per` two-attempt transcripts (temperature 1) for each problem:
-- list of {p = problem, row = ids, rec = record}.
function M.sample_traces(model, problems, L, per, rng, batch)
  local out = {}
  local bs = batch or 512
  local rows, probs = {}, {}
  local function flush()
    if #rows == 0 then return end
    M.extend(model, rows, M.plan(L, 2), { temperature = 1, rng = rng })
    local recs = M.records(probs, rows, L)
    for i = 1, #rows do out[#out + 1] = { p = probs[i], row = rows[i], rec = recs[i] } end
    rows, probs = {}, {}
  end
  for _, p in ipairs(problems) do
    for _ = 1, per do
      rows[#rows + 1] = S.prompt(p); probs[#probs + 1] = p
      if #rows >= bs then flush() end
    end
  end
  flush()
  return out
end

-- ---- training phases ---------------------------------------------------------------

-- Masks of transcript positions: the answer tokens of turn k, or every
-- token after the prompt (y1, p1, y2: the pretraining loss).
function M.mask_turn(L, k) return function(_, pos) return pos >= L.y[k][1] and pos <= L.y[k][2] end end
-- Both answers, y1 and y2 (SFT on both turns).
function M.mask_answers(L)
  local m1, m2 = M.mask_turn(L, 1), M.mask_turn(L, 2)
  return function(b, pos) return m1(b, pos) or m2(b, pos) end
end
function M.mask_after_prompt(L) return function(_, pos) return pos > L.x_len end end

local function cosine_lr(lr, step, steps, warmup)
  local w = math.min(1, step / math.max(warmup, 1))
  return lr * w * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - 1) / math.max(steps - 1, 1))))
end

-- Pretrain a base model on the noisy solver's transcripts. o: n, p9, seed,
-- steps, batch, lr, warmup, clip, weight_decay, solver (score_task.attempt
-- options), on_step(step, loss) (optional). AdamW, cosine to 10% of lr.
function M.pretrain(model, o)
  local L = S.layout(o.n)
  local opt = optim.adamw(model:parameters(), { lr = o.lr, weight_decay = o.weight_decay or 0.01 })
  local stream = S.train_stream { n = o.n, p9 = o.p9, seed = o.seed * 1000 + 17 }
  local rng = S.rng(o.seed * 1000 + 29)
  local mask = M.mask_after_prompt(L)
  local last
  for step = 1, o.steps do
    opt:set_lr(cosine_lr(o.lr, step, o.steps, o.warmup or 50))
    local rows = {}
    for b = 1, o.batch do rows[b] = S.solver_transcript(stream(), rng, o.solver) end
    last = M.sft_step(model, opt, rows, mask, o.clip or 1.0)
    if o.on_step then o.on_step(step, last) end
  end
  return last
end

-- SFT of model on rows (lists of ids) for o.steps steps of o.batch rows
-- drawn with o.rng; loss on the positions of o.mask; Adam (no decay) at
-- o.lr. Returns the list of losses. o.on_step(step) is called after each.
function M.sft(model, rows, o)
  local opt = optim.adamw(model:parameters(), { lr = o.lr, weight_decay = 0 })
  local losses = {}
  if #rows == 0 then return losses end
  for step = 1, o.steps do
    local batch = {}
    for b = 1, math.min(o.batch, math.max(#rows, 1)) do batch[b] = rows[1 + o.rng:int(#rows)] end
    losses[step] = M.sft_step(model, opt, batch, o.mask, o.clip or 1.0)
    if o.on_step then o.on_step(step) end
  end
  return losses
end

-- An RL arm: o.steps REINFORCE/RLOO steps from policy (trained in place)
-- against the frozen ref, o.prompts problems of `train` per step with k
-- samples each; mode/alpha/beta_t1/beta_t2/clip as M.rl_step; o.lr; o.seed;
-- greedy evaluation on o.eval_problems every o.eval_every steps. Keeps a
-- snapshot of the evaluation point with the highest training reward (mean
-- r1 + r2 over the steps since the previous evaluation). Returns {log =
-- per-step stats, evals = {step, train_reward, metrics}, best = snapshot,
-- best_step, diverged = message or nil}. o.on_step(step, stats) (optional)
-- is called after each step that did not diverge.
function M.run_rl(policy, ref, train, o)
  local opt = optim.adamw(policy:parameters(), { lr = o.lr, weight_decay = 0 })
  local rng = S.rng(o.seed)
  local res = { log = {}, evals = {}, best_reward = -math.huge }
  local win, nwin = 0, 0
  for step = 1, o.steps do
    local probs = {}
    for j = 1, o.prompts do probs[j] = train[1 + rng:int(#train)] end
    local ok, st = pcall(M.rl_step, policy, ref, opt, probs, {
      mode = o.mode, k = o.k, alpha = o.alpha, beta_t1 = o.beta_t1, beta_t2 = o.beta_t2,
      clip = o.clip, L = o.L, rng = rng })
    if not ok then res.diverged = string.format("step %d: %s", step, tostring(st)); break end
    if st.loss ~= st.loss then res.diverged = string.format("step %d: loss is NaN", step); break end
    st.step = step
    res.log[#res.log + 1] = st
    if o.on_step then o.on_step(step, st) end
    win = win + st.r1 + (st.r2 == st.r2 and st.r2 or 0); nwin = nwin + 1
    if step % o.eval_every == 0 or step == o.steps then
      local tr = win / nwin
      win, nwin = 0, 0
      local _, met = M.evaluate(policy, o.eval_problems, o.L)
      res.evals[#res.evals + 1] = { step = step, train_reward = tr, m = met }
      if tr > res.best_reward then
        res.best_reward, res.best_step, res.best = tr, step, M.snapshot(policy)
      end
      if o.on_eval then o.on_eval(step, tr, met) end
    end
  end
  if not res.best then res.best, res.best_step = M.snapshot(policy), 0 end
  return res
end

-- STaR's filter: appends to data the rows of traces whose y2 is right and
-- whose y1 is wrong (D) or, with plus, any y1 (D⁺), skipping rows already in
-- seen (a set of row keys, updated).
function M.star_keep(traces, plus, data, seen)
  for _, tr in ipairs(traces) do
    local r = tr.rec
    if r.r2 == 1 and (r.r1 == 0 or plus) then
      local key = table.concat(tr.row, ",")
      if not seen[key] then seen[key] = true; data[#data + 1] = tr.row end
    end
  end
  return data
end

-- STaR for self-correction: o.iters rounds; each samples o.per two-attempt
-- traces per problem of `problems` with the current model, keeps the traces
-- that turn a wrong y1 into a right y2 (D) or, with o.plus, also right →
-- right (D⁺), adds them to the data (deduplicated) and fine-tunes a fresh
-- copy of base on y2 of all kept traces (o.sft: steps, batch, lr, clip).
-- o.first_traces: traces of base to use in round 1 (shared with Pair-SFT).
-- o.turns = "both" fine-tunes on y1 and y2 of the kept traces instead of y2
-- only: the paper's Table 4 ablation "STaR instead of REINFORCE in Stage II",
-- where both attempts are trained (Stage II's objective covers both turns).
-- o.on_step(step) (optional): after each SFT step, counted over the rounds.
-- Returns the model and per-round data sizes.
function M.star(base, problems, o)
  local L = o.L
  local turns = o.turns or "y2"
  if turns ~= "y2" and turns ~= "both" then
    error(string.format("score.star: turns must be 'y2' or 'both', got %s", tostring(turns)), 2)
  end
  local mask = turns == "both" and M.mask_answers(L) or M.mask_turn(L, 2)
  local model, data, seen, sizes = base, {}, {}, {}
  for it = 1, o.iters do
    local traces = (it == 1 and o.first_traces) or M.sample_traces(model, problems, L, o.per, o.rng)
    M.star_keep(traces, o.plus, data, seen)
    sizes[it] = #data
    model = M.clone(base)
    M.sft(model, data, { steps = o.sft.steps, batch = o.sft.batch, lr = o.sft.lr, clip = o.sft.clip,
                         rng = o.rng, mask = mask,
                         on_step = o.on_step and function(step) o.on_step((it - 1) * o.sft.steps + step) end })
  end
  return model, sizes
end

-- Pair-SFT: for each base trace with a wrong y1, the transcript (x1, y1, ?=,
-- the right sum); with o.plus, right y1 too (paired with the right sum).
-- Fine-tunes a copy of base on y2; o.on_step(step, model) for probes.
function M.pair_sft(base, traces, o)
  local L = o.L
  local rows, seen = {}, {}
  for _, tr in ipairs(traces) do
    if tr.rec.r1 == 0 or o.plus then
      local row = S.transcript(tr.p, { tr.rec.y1, S.encode(table.concat(tr.p.sum)) }, true)
      local key = table.concat(row, ",")
      if not seen[key] then seen[key] = true; rows[#rows + 1] = row end
    end
  end
  local model = M.clone(base)
  M.sft(model, rows, { steps = o.sft.steps, batch = o.sft.batch, lr = o.sft.lr, clip = o.sft.clip, rng = o.rng,
                       mask = M.mask_turn(L, 2), on_step = o.on_step and function(step) o.on_step(step, model) end })
  return model, #rows
end

return M
