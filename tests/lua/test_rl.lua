-- tests/lua/test_rl.lua: repro.rl: RLOO / baseline / per-turn returns,
-- the policy loss against a hand computation, RLOO on a multi-armed bandit
-- converging to the best arm, resuming from a checkpoint giving the same
-- run, the episode JSONL, and bad input.
local A = dofile(arg[0]:match("(.*/)") .. "assert.lua")
local repro = require "repro"
local T, nn, rl, optim, U = repro.tensor, repro.nn, repro.rl, repro.optim, repro.util

A.test("advantages and returns", function()
  A.allclose({ 1 - 2.5, 2 - 2, 3 - 1.5, 4 - 3, 6 - 2 }, rl.rloo({ 1, 2, 3, 4, 6, 0 }, 3):narrow(1, 1, 5):totable(), 1e-6)
  A.allclose({ 0, 0 }, rl.rloo(T.tensor{ 5, 5 }, 2):totable(), 0)
  A.allclose({ -1, 1 }, rl.baseline({ 1, 3 }):totable(), 0)
  A.allclose({ 0.5, 2.5 }, rl.baseline({ 1, 3 }, 0.5):totable(), 0)
  local R = rl.returns({ { 1, 0 }, { 0, 1 } }, 0)
  A.allclose({ { 1, 0 }, { 0, 1 } }, R, 0, "gamma 0: own reward")
  R = rl.returns({ { 1, 0 }, { 0, 1 } }, 0.5)
  A.allclose({ { 1, 0.5 }, { 0, 1 } }, R, 0, "gamma 0.5")
  local rm = rl.RunningMean{ decay = 0.5 }
  A.eq(nil, rm:value()); rm:update{ 2, 4 }; A.eq(3, rm:value()); rm:update{ 1 }; A.eq(2, rm:value())
  A.raises(function() rl.rloo({ 1, 2, 3 }, 2) end, "3 rewards are not groups of k = 2")
  A.raises(function() rl.rloo({ 1, 2 }, 1) end, "k must be an integer >= 2")
  A.raises(function() rl.rloo({ 1, "x" }, 2) end, "rewards[2] is not a number")
  A.allclose({ { 0, 1, 1, 0 } }, rl.turn_mask(1, 5, 3, 4):totable(), 0, "turn mask: tokens 3..4 of 5")
end)

A.test("policy loss = hand computation, and its gradient", function()
  local g = T.Generator(1)
  local lp = T.randn({ 2, 4 }, { generator = g }):requires_grad_(true)
  local kl = T.rand({ 2, 4 }, { generator = g })
  local m1, m2 = T.tensor{ { 1, 1, 0, 0 }, { 1, 1, 0, 0 } }, T.tensor{ { 0, 0, 1, 1 }, { 0, 0, 0, 1 } }
  local loss, st = rl.policy_loss{ logprobs = lp, masks = { m1, m2 }, advantages = { { 1, -2 }, T.tensor{ 0.5, 3 } },
                                   kl = kl, kl_coef = { 0.1, 0.01 } }
  local l, k = lp:totable(), kl:totable()
  local want = 0
  local a1, a2 = { 1, -2 }, { 0.5, 3 }
  local mm1, mm2 = m1:totable(), m2:totable()
  for b = 1, 2 do
    for j = 1, 4 do
      want = want - a1[b] * mm1[b][j] * l[b][j] - a2[b] * mm2[b][j] * l[b][j]
        + 0.1 * mm1[b][j] * k[b][j] + 0.01 * mm2[b][j] * k[b][j]
    end
  end
  A.near(want / 2, loss:item(), 1e-5, "loss")
  A.eq(2, #st.kl)
  loss:backward()
  A.near(-(a1[2] * 1) / 2, lp.grad:totable()[2][1], 1e-6, "d loss / d logp")
  A.near(-(a2[2] * 1) / 2, lp.grad:totable()[2][4], 1e-6, "d loss / d logp")
end)

-- A bandit of 5 arms as a one-step "language model": the context is token 1,
-- the action the next token; the policy is one row of logits.
local MEANS = { 0.2, 0.5, 0.8, 0.35, 0.1 }
local Bandit = nn.class("Bandit")
local function bandit()
  local self = nn.Module.init(setmetatable({}, Bandit))
  self:param("logits", T.zeros(1, #MEANS):requires_grad_(true))
  return self
end
function Bandit:forward(ids)   -- (B, 1) -> logits (B, 1, arms)
  return self.logits:view(1, 1, #MEANS):expand(ids:size(1), 1, #MEANS)
end
Bandit.__call = Bandit.forward

local function bandit_run(o)
  repro.manual_seed(5)
  local P, k = 8, 4
  local pol = bandit()
  local opt = optim.adamw(pol:parameters(), { lr = 0.05, weight_decay = 0 })
  local opts = {
    policy = pol, optimizer = opt, steps = o.steps, k = k, advantage = o.advantage or "rloo",
    checkpoint = o.checkpoint, checkpoint_every = o.checkpoint_every, resume = o.resume,
    episodes = o.episodes, log = o.log,
    rollout = function()
      local arms = T.no_grad(function() return T.sample(pol.logits:expand(P * k, #MEANS)) end)
      local u = T.rand(P * k):totable()
      local a, r = arms:totable(), {}
      for i = 1, P * k do r[i] = u[i] < MEANS[a[i]] and 1 or 0 end
      local ids = T.cat({ T.ones({ P * k, 1 }, { dtype = "i32" }), arms:view(P * k, 1) }, 2)
      local info = {}
      for i = 1, P * k do info[i] = { arm = a[i], label = "arm" .. a[i] } end
      return { ids = ids, turns = { T.ones(P * k, 1) }, rewards = { r }, info = info }
    end,
  }
  return rl.run(opts), pol
end

A.test("RLOO on a bandit converges to the best arm", function()
  local res, pol = bandit_run{ steps = 150 }
  local p = pol.logits:softmax(2):totable()[1]
  A.truthy(p[3] > 0.9, string.format("best arm probability %.3f", p[3]))
  local first, last = res.rows[1].reward[1], 0
  for i = #res.rows - 19, #res.rows do last = last + res.rows[i].reward[1] / 20 end
  A.truthy(last > 0.7 and last > first, string.format("mean reward %.3f -> %.3f", first, last))
  local _, pb = bandit_run{ steps = 150, advantage = "baseline" }
  A.truthy(pb.logits:softmax(2):totable()[1][3] > 0.8, "REINFORCE with a running-mean baseline")
end)

A.test("resume from a checkpoint: the same run; episodes as JSON lines", function()
  local dir = os.tmpname(); os.remove(dir)
  local full = select(2, bandit_run{ steps = 30 })
  local ep, log = dir .. "/episodes.jsonl", dir .. "/run.tsv"
  bandit_run{ steps = 20, checkpoint = dir .. "/ck", checkpoint_every = 10, episodes = ep, log = log }
  local res, pol = bandit_run{ steps = 30, checkpoint = dir .. "/ck", resume = true, episodes = ep, log = log }
  A.eq(20, res.resumed_from)
  A.truthy(pol.logits:bytes() == full.logits:bytes(), "resumed == uninterrupted")
  local n, last = 0, nil
  for line in io.lines(ep) do
    n = n + 1
    A.truthy(line:match('^{"step":%d+,"advantages":%[[-0-9.e]+%],"arm":%d,"episode":%d+,"ids":%[1,%d%],"label":"arm%d","rewards":%[[01]%]}$'),
      "episode line " .. line)
    last = tonumber(line:match('^{"step":(%d+)'))
  end
  A.eq(30 * 32, n, "one line per episode, no duplicates after the resume")
  A.eq(30, last)
  local rows = 0
  for line in io.lines(log) do rows = rows + 1 end
  A.eq(31, rows, "header + 30 rows")
  U.run("rm -rf " .. U.shell_quote(dir))
end)

A.test("a Llama policy with a frozen reference, padding and two turns", function()
  repro.manual_seed(3)
  local V = 9
  local pol = nn.Llama{ vocab = V, dim = 16, layers = 1, heads = 2, seq_len = 16, seed = 2 }
  local ref = pol:clone():freeze()
  local opt = optim.adamw(pol:parameters(), { lr = 1e-2, weight_decay = 0 })
  local P, k, T0 = 2, 3, 4
  local lengths = { 4, 4, 4, 2, 2, 2 }
  local prompts = T.tensor({ { 1, 2, 3, 4 }, { 1, 2, 3, 4 }, { 1, 2, 3, 4 }, { 9, 9, 5, 6 }, { 9, 9, 5, 6 }, { 9, 9, 5, 6 } },
    { dtype = "i32" })
  local key_mask = T.tensor{ { 1, 1, 1, 1, 1, 1, 1, 1, 1 }, { 1, 1, 1, 1, 1, 1, 1, 1, 1 }, { 1, 1, 1, 1, 1, 1, 1, 1, 1 },
                             { 0, 0, 1, 1, 1, 1, 1, 1, 1 }, { 0, 0, 1, 1, 1, 1, 1, 1, 1 }, { 0, 0, 1, 1, 1, 1, 1, 1, 1 } }
  local res = rl.run{
    policy = pol, reference = ref, optimizer = opt, steps = 3, k = k, kl_coef = { 0.1, 0.01 }, grad_clip = 1,
    rollout = function()
      local ids = pol:generate(prompts, { steps = 5, lengths = lengths, forced = { [T0 + 3] = 7 } })
      local t = ids:totable()
      local r1, r2 = {}, {}
      for b = 1, P * k do r1[b] = t[b][T0 + 2] == 3 and 1 or 0; r2[b] = t[b][T0 + 5] == 3 and 1 or 0 end
      return { ids = ids, key_mask = key_mask, rewards = { r1, r2 },
               turns = { rl.turn_mask(P * k, T0 + 5, T0 + 1, T0 + 2), rl.turn_mask(P * k, T0 + 5, T0 + 4, T0 + 5) } }
    end,
  }
  A.eq(3, #res.rows)
  for _, row in ipairs(res.rows) do A.truthy(row.loss == row.loss and row.grad_norm > 0, "finite loss, a gradient") end
  A.eq(0, res.rows[1].kl[1], "KL is 0 before the first update")
  A.truthy(res.rows[3].kl[1] > 0 and res.rows[3].kl[2] > 0, "KL to the frozen reference grows")
  for _, p in ipairs(ref:parameters()) do A.eq(false, p.requires_grad) end
end)

A.test("json escaping", function()
  A.eq('{"a":[1,2.5,"x\\"y\\n"],"b":true,"c":null}', rl.json{ a = { 1, 2.5, 'x"y\n' }, b = true, c = 0 / 0 })
end)

A.test("bad input", function()
  local pol = bandit()
  local opt = optim.adamw(pol:parameters(), { lr = 0.1 })
  A.raises(function() rl.run{ policy = pol, optimizer = opt, steps = 1 } end, "'rollout' is required")
  A.raises(function() rl.run{ policy = pol, optimizer = opt, steps = 1, rollout = print, k = 1 } end, "k (samples per prompt) >= 2")
  A.raises(function() rl.run{ policy = pol, optimizer = opt, steps = 1, rollout = print, advantage = "ppo" } end, "advantage must be")
  A.raises(function() rl.run{ policy = pol, optimizer = opt, steps = 1, rollout = print, stpes = 1 } end, "unknown option 'stpes'")
  A.raises(function() rl.policy_loss{ logprobs = T.zeros(2), masks = {}, advantages = {} } end, "logprobs must be a (B, N) tensor")
  A.raises(function() rl.policy_loss{ logprobs = T.zeros(2, 2), masks = { T.ones(2, 2) }, advantages = { { 1 } } } end,
    "advantages[1] has 1 entries, batch 2")
end)

A.done()
