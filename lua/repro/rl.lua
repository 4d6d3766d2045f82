-- repro.rl: policy-gradient training of a sequence model on its own samples.
--
-- The parts: advantages (rl.rloo, rl.baseline, rl.RunningMean, rl.returns for
-- per-turn credit), sequence scoring (rl.score, rl.turn_mask), the loss
-- (rl.policy_loss: REINFORCE per turn with per-token KL penalties to a frozen
-- reference) and a small resumable loop (rl.run): rollout -> rewards ->
-- advantages -> loss -> optimizer step, logged as TSV, with every episode
-- written as one JSON line.
--
-- Conventions: a batch holds transcripts ids (B, L) i32; the model scores
-- ids[:, 1..L-1] and position j predicts ids[:, j + 1], so per-token tensors
-- (log-probs, KL, turn masks) are (B, L - 1). With RLOO the B = P·k episodes
-- are grouped prompt-major: k consecutive episodes share a prompt.
local T = require "repro.tensor"
local checkpoint = require "repro.checkpoint"
local U = require "repro.util"
local signal = require("repro.core").signal

local rl = {}

local function tolist(v, what)
  if T.is_tensor(v) then return v:reshape(-1):totable() end
  if type(v) ~= "table" then error(string.format("rl: %s must be a table or tensor of numbers, got %s", what, type(v)), 3) end
  for i = 1, #v do
    if type(v[i]) ~= "number" then error(string.format("rl: %s[%d] is not a number (%s)", what, i, type(v[i])), 3) end
  end
  return v
end

-- ---- advantages ------------------------------------------------------------------

-- RLOO (Ahmadian et al. 2024): A_j = r_j - mean of the other k - 1 rewards of
-- the same prompt. rewards: B = P·k numbers (prompt-major) -> f32 tensor (B).
function rl.rloo(rewards, k)
  local r = tolist(rewards, "rewards")
  if math.type(k) ~= "integer" or k < 2 then error("rl.rloo: k must be an integer >= 2, got " .. tostring(k), 2) end
  if #r % k ~= 0 then error(string.format("rl.rloo: %d rewards are not groups of k = %d", #r, k), 2) end
  local a = {}
  for g0 = 0, #r - k, k do
    local s = 0
    for i = 1, k do s = s + r[g0 + i] end
    for i = 1, k do a[g0 + i] = r[g0 + i] - (s - r[g0 + i]) / (k - 1) end
  end
  return T.tensor(a)
end

-- REINFORCE with a baseline: r - b (b a number; nil: the batch mean) -> f32 (B).
function rl.baseline(rewards, b)
  local r = tolist(rewards, "rewards")
  if b == nil then
    b = 0
    for i = 1, #r do b = b + r[i] end
    b = #r > 0 and b / #r or 0
  end
  local a = {}
  for i = 1, #r do a[i] = r[i] - b end
  return T.tensor(a)
end

-- An exponential moving average of batch-mean rewards, as a baseline:
-- rm:value() (nil before the first update), rm:update(rewards).
local RunningMean = {}
RunningMean.__index = RunningMean
function rl.RunningMean(o)
  o = o or {}
  local d = o.decay or 0.9
  if type(d) ~= "number" or d < 0 or d >= 1 then error("rl.RunningMean: decay must be in [0, 1), got " .. tostring(d), 2) end
  return setmetatable({ decay = d, mean = o.value }, RunningMean)
end
function RunningMean:value() return self.mean end
function RunningMean:update(rewards)
  local r = tolist(rewards, "rewards")
  local s = 0
  for i = 1, #r do s = s + r[i] end
  local m = s / math.max(#r, 1)
  self.mean = self.mean and (self.decay * self.mean + (1 - self.decay) * m) or m
  return self.mean
end

-- Per-turn credit: R_t = Σ_{u >= t} γ^(u - t) r_u for turn rewards
-- {r_1, ..., r_n} (each B numbers). γ = 0 credits each turn with its own
-- reward only. Returns n tables.
function rl.returns(turn_rewards, gamma)
  gamma = gamma or 0
  local n, R = #turn_rewards, {}
  local lists = {}
  for t = 1, n do lists[t] = tolist(turn_rewards[t], "rewards[" .. t .. "]") end
  for t = n, 1, -1 do
    local r = {}
    for b = 1, #lists[t] do r[b] = lists[t][b] + (t < n and gamma ~= 0 and gamma * R[t + 1][b] or 0) end
    R[t] = r
  end
  return R
end

-- ---- scoring -----------------------------------------------------------------------

-- logits (B, L - 1, V) of the transcripts ids (B, L) and the targets ids[:, 2..L].
-- key_mask (B, L) hides left padding (Llama:forward_masked).
function rl.score(model, ids, key_mask)
  local L = ids:size(2)
  if L < 2 then error("rl.score: transcripts need at least 2 tokens, got " .. L, 2) end
  local inp = ids:narrow(2, 1, L - 1)
  local logits
  if key_mask then logits = model:forward_masked(inp, key_mask:narrow(2, 1, L - 1))
  else logits = model(inp) end
  return logits, ids:narrow(2, 2, L - 1)
end

-- (B, L - 1) f32: 1 where the predicted token's index in the transcript (1..L)
-- lies in [from, to] (the tokens of one turn).
function rl.turn_mask(B, L, from, to)
  local row = {}
  for j = 1, L - 1 do row[j] = (j + 1 >= from and j + 1 <= to) and 1 or 0 end
  return T.tensor{ row }:expand(B, L - 1):contiguous()
end

-- ---- the loss ----------------------------------------------------------------------

-- o = {logprobs = (B, N) log π of the taken tokens (differentiable),
--      masks = {(B, N) per turn}, advantages = {(B) per turn},
--      kl = (B, N) per-token KL(π || π_ref) or nil, kl_coef = β or {β per turn}}
-- loss = mean_b Σ_t [-A_t,b Σ_{turn t} log π + β_t Σ_{turn t} KL].
-- Returns loss (0-d) and {pg = number, kl = {per-turn mean of Σ KL}}.
function rl.policy_loss(o)
  local lp, masks, adv = o.logprobs, o.masks, o.advantages
  if not T.is_tensor(lp) or lp:dim() ~= 2 then error("rl.policy_loss: logprobs must be a (B, N) tensor", 2) end
  if type(masks) ~= "table" or type(adv) ~= "table" or #masks ~= #adv or #masks == 0 then
    error("rl.policy_loss: masks and advantages must be lists with one entry per turn", 2)
  end
  local B = lp:size(1)
  local coef = o.kl_coef or 0
  local loss, stats = nil, { kl = {} }
  local pg = nil
  for t = 1, #masks do
    local m, a = masks[t], adv[t]
    if not T.is_tensor(a) then a = T.tensor(tolist(a, "advantages")) end
    if a:numel() ~= B then error(string.format("rl.policy_loss: advantages[%d] has %d entries, batch %d", t, a:numel(), B), 2) end
    local term = -((lp * m):sum(2) * a:view(B))
    pg = pg and (pg + term) or term
    local beta = type(coef) == "table" and (coef[t] or 0) or coef
    if o.kl then
      local klt = (o.kl * m):sum(2)
      stats.kl[t] = T.no_grad(function() return klt:mean():item() end)
      if beta ~= 0 then term = term + klt * beta end
    end
    loss = loss and (loss + term) or term
  end
  stats.pg = T.no_grad(function() return pg:mean():item() end)
  return loss:mean(), stats
end

-- ---- JSON lines ---------------------------------------------------------------------

local function json_string(s)
  return '"' .. s:gsub('[%c"\\\128-\255]', function(c)
    local m = { ['"'] = '\\"', ['\\'] = '\\\\', ['\n'] = '\\n', ['\t'] = '\\t', ['\r'] = '\\r' }
    if m[c] then return m[c] end
    if c:byte() < 32 then return string.format("\\u%04x", c:byte()) end
    return c                                   -- UTF-8 bytes pass through
  end) .. '"'
end

local function json_value(v)
  local tv = type(v)
  if tv == "number" then
    if math.type(v) == "integer" then return tostring(v) end
    if v ~= v or v == math.huge or v == -math.huge then return "null" end
    return string.format("%.9g", v)
  elseif tv == "string" then return json_string(v)
  elseif tv == "boolean" then return tostring(v)
  elseif tv == "table" then
    local parts = {}
    if #v > 0 or next(v) == nil then
      for i = 1, #v do parts[i] = json_value(v[i]) end
      return "[" .. table.concat(parts, ",") .. "]"
    end
    for _, k in ipairs(U.sorted_keys(v)) do parts[#parts + 1] = json_string(tostring(k)) .. ":" .. json_value(v[k]) end
    return "{" .. table.concat(parts, ",") .. "}"
  end
  return "null"
end
rl.json = json_value

-- Keep the lines of a log whose step (found by `pat`) is <= step; header kept.
local function truncate(path, step, pat, header)
  local s = U.read_file(path)
  if not s then return false end
  local keep = {}
  for line in s:gmatch("[^\n]+") do
    local st = tonumber(line:match(pat))
    if (header and #keep == 0 and not st) or (st and st <= step) then keep[#keep + 1] = line end
  end
  U.write_file_atomic(path, #keep > 0 and table.concat(keep, "\n") .. "\n" or "")
  return #keep > 0
end

-- ---- the loop -------------------------------------------------------------------------

local RUN_OPTS = { policy = 1, reference = 1, optimizer = 1, steps = 1, rollout = 1, k = 1, advantage = 1, gamma = 1,
                   kl_coef = 1, grad_clip = 1, log = 1, episodes = 1, checkpoint = 1, checkpoint_every = 1,
                   checkpoint_keep = 1, resume = 1, on_step = 1, baseline_decay = 1 }

-- rl.run{policy, optimizer, steps, rollout = fn(step) -> batch, reference =,
--        advantage = "rloo" | "baseline" | "none", k =, gamma = 0, kl_coef =,
--        grad_clip =, log = "run.tsv", episodes = "episodes.jsonl",
--        checkpoint = dir, checkpoint_every =, checkpoint_keep = 3, resume =, on_step = fn(step, row)}
-- batch = {ids = (B, L) i32, turns = {(B, L - 1) mask per turn},
--          rewards = {B numbers per turn}, key_mask = (B, L) or nil,
--          info = {per-episode table of numbers / strings} or nil}
-- Returns {rows = {per-step stats}, resumed_from =, interrupted = "SIGINT" | nil}.
function rl.run(o)
  if type(o) ~= "table" then error("rl.run: expected a table of options", 2) end
  for k in pairs(o) do if not RUN_OPTS[k] then error("rl.run: unknown option '" .. tostring(k) .. "'", 2) end end
  for _, k in ipairs { "policy", "optimizer", "steps", "rollout" } do
    if o[k] == nil then error("rl.run: '" .. k .. "' is required", 2) end
  end
  local adv_kind = o.advantage or "rloo"
  if adv_kind ~= "rloo" and adv_kind ~= "baseline" and adv_kind ~= "none" then
    error("rl.run: advantage must be 'rloo', 'baseline' or 'none', got " .. tostring(adv_kind), 2)
  end
  if adv_kind == "rloo" and (math.type(o.k) ~= "integer" or o.k < 2) then
    error("rl.run: advantage 'rloo' needs k (samples per prompt) >= 2, got " .. tostring(o.k), 2)
  end
  local policy, opt = o.policy, o.optimizer
  local params = policy:parameters()
  local running = rl.RunningMean{ decay = o.baseline_decay or 0.9 }
  local start, result = 0, { rows = {} }
  if o.resume and o.checkpoint then
    local st = checkpoint.load_state(o.checkpoint)
    if st then
      policy:load_state_dict(st.model)
      opt:load_state_dict(st.optimizer)
      T.set_rng_state(st.rng)
      running.mean = st.baseline
      start, result.resumed_from = st.step, st.step
    end
  end
  local logf, epf
  if o.log then
    U.mkdir_p(U.dirname(o.log))
    local had = start > 0 and truncate(o.log, start, "^(%d+)\t", true)
    logf = assert(io.open(o.log, had and "a" or "w"))
    if not had then logf:write("step\tloss\tpg\tgrad_norm\tstep_time\treward\tkl\n") end
  end
  if o.episodes then
    U.mkdir_p(U.dirname(o.episodes))
    local had = start > 0 and truncate(o.episodes, start, '^{"step":(%d+)', false)
    epf = assert(io.open(o.episodes, had and "a" or "w"))
  end
  if o.checkpoint then signal.install() end
  local function save(step)
    checkpoint.save_state(o.checkpoint, { step = step, model = policy:state_dict(), optimizer = opt:state_dict(),
      rng = T.get_rng_state(), baseline = running.mean }, { keep = o.checkpoint_keep or 3 })
  end

  for step = start + 1, o.steps do
    local t0 = U.now()
    local batch = o.rollout(step)
    local ids, turns = batch.ids, batch.turns
    if type(turns) ~= "table" or type(batch.rewards) ~= "table" or #turns ~= #batch.rewards then
      error("rl.run: rollout must return turns and rewards with one entry per turn", 2)
    end
    local R = rl.returns(batch.rewards, o.gamma or 0)
    local adv = {}
    for t = 1, #R do
      if adv_kind == "rloo" then adv[t] = rl.rloo(R[t], o.k)
      elseif adv_kind == "baseline" then adv[t] = rl.baseline(R[t], running:value() or nil)
      else adv[t] = T.tensor(R[t]) end
    end
    local any = turns[1]
    for t = 2, #turns do any = T.maximum(any, turns[t]) end
    local logits, targets = rl.score(policy, ids, batch.key_mask)
    local lp = T.token_logprobs(logits, targets, any)
    local kl
    if o.reference then
      local ref = T.no_grad(function() return (rl.score(o.reference, ids, batch.key_mask)) end)
      kl = T.kl_categorical(logits, ref, any)
    end
    local loss, st = rl.policy_loss{ logprobs = lp, masks = turns, advantages = adv, kl = kl, kl_coef = o.kl_coef }
    opt:zero_grad()
    loss:backward()
    local sq = 0.0
    for _, p in ipairs(params) do if p.grad then sq = sq + (p.grad * p.grad):sum():item() end end
    local gn = math.sqrt(sq)
    if o.grad_clip and o.grad_clip > 0 and gn > o.grad_clip then
      local s = o.grad_clip / (gn + 1e-6)
      T.no_grad(function() for _, p in ipairs(params) do if p.grad then p.grad = p.grad * s end end end)
    end
    opt:step()
    if adv_kind == "baseline" then
      local all = {}
      for _, x in ipairs(R[#R]) do all[#all + 1] = x end
      running:update(all)
    end
    local row = { step = step, loss = loss:item(), pg = st.pg, grad_norm = gn, step_time = U.now() - t0,
                  reward = {}, kl = st.kl }
    for t = 1, #batch.rewards do
      local r, s = tolist(batch.rewards[t], "rewards"), 0
      for i = 1, #r do s = s + r[i] end
      row.reward[t] = s / math.max(#r, 1)
    end
    result.rows[#result.rows + 1] = row
    if logf then
      local kls = {}
      for t = 1, #row.reward do kls[t] = string.format("%.6g", row.kl[t] or 0) end
      local rws = {}
      for t = 1, #row.reward do rws[t] = string.format("%.6g", row.reward[t]) end
      logf:write(string.format("%d\t%.6g\t%.6g\t%.6g\t%.4f\t%s\t%s\n", step, row.loss, row.pg, gn, row.step_time,
        table.concat(rws, ","), table.concat(kls, ",")))
      logf:flush()
    end
    if epf then
      local idt = ids:totable()
      local rs = {}
      for t = 1, #batch.rewards do rs[t] = tolist(batch.rewards[t], "rewards") end
      local as = {}
      for t = 1, #adv do as[t] = adv[t]:totable() end
      for b = 1, #idt do
        local e = { step = step, episode = b, ids = idt[b], rewards = {}, advantages = {} }
        for t = 1, #rs do e.rewards[t] = rs[t][b]; e.advantages[t] = as[t][b] end
        if batch.info and batch.info[b] then for k, v in pairs(batch.info[b]) do if e[k] == nil then e[k] = v end end end
        -- "step" first so a resumed run can cut the file at its checkpoint
        local rest = {}
        for k, v in pairs(e) do if k ~= "step" then rest[k] = v end end
        local body = json_value(rest)
        epf:write('{"step":', step, body == "{}" and "}" or ("," .. body:sub(2)), "\n")
      end
      epf:flush()
    end
    if o.on_step then o.on_step(step, row) end
    local sig = o.checkpoint and signal.pending()
    if o.checkpoint and ((o.checkpoint_every and step % o.checkpoint_every == 0) or step == o.steps or sig) then
      save(step)
    end
    if sig then
      result.interrupted = sig
      io.stderr:write(string.format("rl: %s at step %d/%d: checkpoint written to %s; resume with resume = true\n",
        sig, step, o.steps, o.checkpoint))
      break
    end
  end
  if o.checkpoint then signal.uninstall() end
  if logf then logf:close() end
  if epf then epf:close() end
  return result
end

return rl
