-- repro.optim: trajectories, parameter groups, state_dict round trips, FP8
-- moment memory, schedules, bad input.
local A = dofile(arg[0]:match("(.*/)") .. "assert.lua")
local repro = require "repro"
local T, optim = repro.tensor, repro.optim

A.test("adamw matches a hand-computed 3-step trajectory", function()
  local p = T.tensor{1.0, -2.0}
  local opt = optim.adamw({p}, {lr = 0.1, betas = {0.9, 0.999}, eps = 1e-8, weight_decay = 0.01})
  local gs = {{0.1, -0.2}, {0.3, 0.1}, {-0.2, 0.4}}
  local expect = {{0.8990000100, -1.8980000050}, {0.8063229022, -1.8694683027}, {0.7797262000, -1.9133320117}}
  for t = 1, 3 do
    p.grad = T.tensor(gs[t])
    opt:step()
    A.allclose(expect[t], p:totable(), 1e-6, "step " .. t)
  end
  A.eq(16, opt:memory_bytes(), "two f32 moments of 2 elements")
end)

A.test("training through autograd; parameters without .grad are skipped", function()
  repro.manual_seed(1)
  local target = T.randn{4, 3}
  local w = T.zeros({4, 3}, {requires_grad = true})
  local unused = T.zeros({2}, {requires_grad = true})
  for _, kind in ipairs{"sgd", "adamw", "adafactor", "shampoo", "soap"} do
    w = T.zeros({4, 3}, {requires_grad = true})
    local cfg = {lr = kind == "sgd" and 0.3 or 0.05}
    if kind == "sgd" then cfg.momentum = 0.5 end
    local opt = optim[kind]({w, unused}, cfg)
    local first, last
    for _ = 1, 150 do
      opt:zero_grad()
      local d = w - target
      local loss = (d * d):sum()
      first = first or loss:item()
      last = loss:item()
      loss:backward()
      opt:step()
    end
    A.truthy(last < 0.05 * first, kind .. " converges (" .. first .. " -> " .. last .. ")")
    A.allclose({0, 0}, unused:totable(), 0, kind .. ": untouched parameter")
    A.truthy(w.grad ~= nil, "grad kept after step")
    opt:zero_grad()
    A.eq(nil, w.grad, kind .. ": zero_grad clears .grad")
  end
end)

A.test("parameter groups: per-group options", function()
  local a, b = T.tensor{1, 1}, T.tensor{1, 1}
  local opt = optim.adamw({{params = {a}}, {params = {b}, weight_decay = 0}}, {lr = 0.1, weight_decay = 0.5})
  a.grad, b.grad = T.zeros(2), T.zeros(2)
  opt:step()
  A.allclose({0.95, 0.95}, a:totable(), 1e-6, "decayed")
  A.allclose({1, 1}, b:totable(), 0, "no decay in group 2")
  local groups = opt:param_groups()
  A.eq(0.5, groups[1].weight_decay); A.eq(0, groups[2].weight_decay)
  opt:set_lr(0.01)
  A.eq(0.01, opt:get_lr())
end)

local function run(opt, p, seed, n)
  repro.manual_seed(seed)
  for _ = 1, n do
    p.grad = T.randn(p:shape())
    opt:step()
  end
end

A.test("state_dict round trip continues bit for bit (memory and file)", function()
  for _, kind in ipairs{"sgd", "adamw", "adafactor", "shampoo", "soap"} do
    for _, fmt in ipairs{"fp32", "e4m3fn"} do
      if fmt == "fp32" or kind == "adamw" or kind == "soap" then
        repro.manual_seed(5)
        local p = T.randn{6, 4}
        local cfg = {lr = 0.01, precondition_frequency = 3}
        if kind == "sgd" then cfg = {lr = 0.01, momentum = 0.9} end
        if kind == "adafactor" then cfg = {lr = 0.01, beta1 = 0.9} end
        if kind == "adamw" then cfg = {lr = 0.01} end
        if fmt ~= "fp32" then cfg.m_format, cfg.v_format = "e4m3fn", "e5m2" end
        local opt = optim[kind]({p}, cfg)
        run(opt, p, 10, 7)
        local sd = opt:state_dict()
        local path = os.tmpname()
        optim.save(path, sd)
        local p2 = p:clone()
        local opt2 = optim[kind]({p2}, cfg)
        opt2:load_state_dict(optim.load(path))
        os.remove(path)
        local p3 = p:clone()
        local opt3 = optim[kind]({p3}, cfg)
        opt3:load_state_dict(sd)
        run(opt, p, 20, 8)
        run(opt2, p2, 20, 8)
        run(opt3, p3, 20, 8)
        A.allclose(p:totable(), p2:totable(), 0, kind .. "/" .. fmt .. " after file round trip")
        A.allclose(p:totable(), p3:totable(), 0, kind .. "/" .. fmt .. " after in-memory round trip")
      end
    end
  end
end)

A.test("state_dict from another optimizer or of another shape is refused", function()
  local p = T.randn{3, 3}
  local a = optim.adamw({p}); p.grad = T.randn{3, 3}; a:step()
  local s = optim.soap({p})
  A.raises(function() s:load_state_dict(a:state_dict()) end, "from a adamw optimizer")
  local q = T.randn{2, 2}
  local a2 = optim.adamw({q})
  A.raises(function() a2:load_state_dict(a:state_dict()) end, "shape")
end)

A.test("FP8 moments: 1 byte per element per moment plus a scale, and convergence", function()
  repro.manual_seed(7)
  local X, wt = T.randn{32, 8}, T.randn{8, 2}
  local Y = X:matmul(wt)
  for _, case in ipairs{{"adamw", "e4m3fn", "e4m3fn"}, {"adamw", "e4m3fn", "e5m2"}, {"soap", "e4m3fn", "e5m2"},
                        {"adamw", "bf16", "bf16"}} do
    local w = T.zeros({8, 2}, {requires_grad = true})
    local opt = optim[case[1]]({w}, {lr = 0.02, weight_decay = 0, m_format = case[2], v_format = case[3]})
    local first, last
    for _ = 1, 300 do
      opt:zero_grad()
      local r = X:matmul(w) - Y
      local loss = (r * r):mean()
      first = first or loss:item(); last = loss:item()
      loss:backward()
      opt:step()
    end
    local name = table.concat(case, "/")
    A.truthy(last < 1e-2 * first, name .. " converges (" .. first .. " -> " .. last .. ")")
    local per = (case[2] == "bf16" and 2 or 1) + (case[3] == "bf16" and 2 or 1)
    local scales = case[2] == "bf16" and 0 or 8
    local precond = case[1] == "soap" and (2 * (8 * 8 + 2 * 2) * 4) or 0
    A.eq(16 * per + scales + precond, opt:memory_bytes(), name .. " memory")
  end
end)

A.test("a NaN gradient raises and changes nothing", function()
  for _, kind in ipairs{"sgd", "adamw", "adafactor", "shampoo", "soap"} do
    local p, q = T.tensor{{1, 2}, {3, 4}}, T.tensor{5, 6}
    local opt = optim[kind]({p, q}, {lr = 0.1})
    p.grad, q.grad = T.ones(2, 2), T.ones(2)
    opt:step()
    local before_p, before_q = p:totable(), q:totable()
    local sd = opt:state_dict()
    p.grad, q.grad = T.ones(2, 2), T.tensor{1, 0/0}
    A.raises(function() opt:step() end, "non-finite gradient in parameter 2 of group 1")
    A.allclose(before_p, p:totable(), 0, kind .. ": p unchanged")
    A.allclose(before_q, q:totable(), 0, kind .. ": q unchanged")
    local sd2 = opt:state_dict()
    for k, v in pairs(sd) do
      if type(v) == "number" then A.eq(v, sd2[k], k) else A.allclose(v:totable(), sd2[k]:totable(), 0, k) end
    end
  end
end)

-- The gradient scan runs in chunks over the threads: Inf, -Inf and NaN
-- anywhere in a large gradient are found, and the message names the first.
A.test("Inf or NaN deep in a large gradient raises and changes nothing", function()
  for _, bad in ipairs{ math.huge, -math.huge, 0/0 } do
    for _, pos in ipairs{ 1, 40000, 100000 } do
      local p = T.zeros(100000)
      local opt = optim.adamw({p}, {lr = 0.1})
      local g = T.ones(100000)
      g[pos] = bad
      if pos < 100000 then g[100000] = bad end
      p.grad = g
      A.raises(function() opt:step() end, "non-finite gradient in parameter 1")
      A.eq(0, p:abs():sum():item(), "p unchanged")
      p.grad = g
      local ok, err = pcall(repro.core.optim.step, opt.groups[1].config, repro.core.optim.state(opt.groups[1].config, p), p)
      A.truthy(not ok and err:find("element " .. (pos - 1) .. " is", 1, true), "first bad element named: " .. tostring(err))
    end
  end
end)

A.test("bad options", function()
  local p = T.zeros(2)
  A.raises(function() optim.soap({p}, {lr = 1e-3, betas = {0.9, 0.95}, weight_decy = 0}) end,
    "soap: unknown option 'weight_decy' (valid: lr, betas, shampoo_beta")
  A.raises(function() optim.adamw({p}, {lr = -1}) end, "lr must be")
  A.raises(function() optim.adamw({p}, {betas = {0.9, 1.0}}) end, "betas[2] must be in [0, 1)")
  A.raises(function() optim.soap({p}, {betas = {-0.1, 0.9}}) end, "betas[1] must be in [0, 1)")
  A.raises(function() optim.adamw({p}, {m_format = "e3m2"}) end, "m_format must be fp32, bf16 or a format with codes")
  A.raises(function() optim.adamw({p}, {v_format = "fp16"}) end, "v_format must be fp32, bf16 or a format with codes")
  -- any format with codes stores moments (one descriptor, no moment-format list)
  do
    local q = T.tensor({{0.5, -1.0}, {2.0, 0.25}}, {requires_grad = true})
    local o = optim.adamw({q}, {lr = 0.1, m_format = "e2m1fn", v_format = "e3m2fn"})
    q.grad = T.tensor({{1, -1}, {0.5, 2}})
    o:step()
    for _, v in ipairs(q:view(-1):totable()) do A.truthy(v == v and math.abs(v) < 3) end
  end
  A.raises(function() optim.sgd({p}, {m_format = "bf16"}) end, "unknown option 'm_format'")
  A.raises(function() optim.sgd({p}, {nesterov = true}) end, "nesterov")
  A.raises(function() optim.adamw({{params = {p}, lr = "x"}}) end, "lr must be a number")
  A.raises(function() optim.adamw("p") end, "params must be")
  local opt = optim.adamw({p})
  A.raises(function() opt:set_lr(-1) end, "lr must be")
  A.raises(function() opt:load_state_dict({optimizer = 5, ngroups = 1}) end, "from a soap optimizer")
end)

A.test("shampoo as DistributedShampoo: options, grafted AdamW before the first preconditioning", function()
  local p = T.zeros(2)
  A.raises(function() optim.shampoo({p}, {start_preconditioning_step = 0}) end,
    "start_preconditioning_step must be >= 1 or -1")
  A.raises(function() optim.shampoo({p}, {matrix_eps_relative = 1}) end, "matrix_eps_relative must be a boolean")
  A.raises(function() optim.shampoo({p}, {matrix_eps = -1}) end, "matrix_eps must be")
  A.raises(function() optim.soap({p}, {start_preconditioning_step = 1}) end, "unknown option 'start_preconditioning_step'")
  local c = optim.shampoo({p}):param_groups()[1]
  A.eq(1, c.start_preconditioning_step); A.eq(true, c.matrix_eps_relative); A.eq(-0.25, c.exponent)
  -- before step f (start -1 = f) the update is AdamW's (to rounding), at f Shampoo's
  local function pair()
    local a = T.tensor({{0.5, -1.0, 0.25}, {2.0, 0.25, -0.75}}, {requires_grad = true})
    local b = T.tensor({{0.5, -1.0, 0.25}, {2.0, 0.25, -0.75}}, {requires_grad = true})
    local sh = optim.shampoo({a}, {lr = 0.1, betas = {0.9, 0.99}, weight_decay = 0.1, precondition_frequency = 3,
      start_preconditioning_step = -1, exponent = -1 / 2.5, matrix_eps = 1e-12, matrix_eps_relative = false})
    local ad = optim.adamw({b}, {lr = 0.1, betas = {0.9, 0.99}, weight_decay = 0.1, eps = 1e-8})
    return a, b, sh, ad
  end
  local a, b, sh, ad = pair()
  local grads = {{{1, -2, 0.5}, {0.25, 3, -1}}, {{-1, 0.5, 2}, {1, -0.5, 0.25}}, {{0.3, 0.2, -0.1}, {2, 1, -3}}}
  for t = 1, 3 do
    a.grad, b.grad = T.tensor(grads[t]), T.tensor(grads[t])
    sh:step(); ad:step()
    local d = 0
    local x, y = a:view(-1):totable(), b:view(-1):totable()
    for i = 1, #x do d = math.max(d, math.abs(x[i] - y[i])) end
    if t < 3 then A.truthy(d < 1e-6, "step " .. t .. ": AdamW's update (max diff " .. d .. ")")
    else A.truthy(d > 1e-2, "step 3: preconditioned, differs from AdamW (max diff " .. d .. ")") end
  end
end)

A.test("schedules", function()
  local c = optim.schedule.constant(0.1)
  A.eq(0.1, c(0)); A.eq(0.1, c(1000))
  local w = optim.schedule.linear_warmup{lr = 1, warmup = 4}
  A.near(0.25, w(1)); A.near(1, w(4)); A.near(1, w(100))
  local s = optim.schedule.warmup_cosine{lr = 1, warmup = 10, total = 110, min_lr = 0.1}
  A.near(0.1, s(1)); A.near(1, s(10)); A.near(0.55, s(60), 1e-12); A.near(0.1, s(110)); A.near(0.1, s(500))
  A.raises(function() optim.schedule.warmup_cosine{lr = 1, warmup = 10, total = 5} end, "total must be > warmup")
  A.raises(function() optim.schedule.warmup_cosine{lr = 1, total = 5, min = 0} end, "unknown option 'min'")
end)

A.done("test_optim")
