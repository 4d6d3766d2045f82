-- tests/lua/test_soap_golden.lua: repro.optim.soap against trajectories of
-- the official soap.py (nikhilvyas/SOAP), recorded in
-- tests/fixtures/soap/*.txt by tests/fixtures/soap/make_goldens.py (see its
-- README for the revision and the format). Non-square 2-D parameters, a 1-D
-- one, a 3-D one with merge_dims, a dimension above max_precond_dim; betas
-- (0.9, 0.99), weight decay 0.1, precondition frequency 3, 12 steps with a
-- fresh gradient each.
local A = dofile(arg[0]:match("(.*/)") .. "assert.lua")
local repro = require "repro"
local T, optim = repro.tensor, repro.optim

local dir = (os.getenv("REPRO_SOURCE_DIR") and (os.getenv("REPRO_SOURCE_DIR") .. "/tests/"))
  or (arg[0]:match("(.*/)") .. "../")
local FIX = dir .. "fixtures/soap/"

-- a %.9g text value back to the float32 it was printed from
local function f32(x) return (string.unpack("f", string.pack("f", x))) end

local function parse(path)
  local f = assert(io.open(path, "r"), "cannot open " .. path)
  local g = { groups = {}, params = {}, byname = {}, q = {}, grad = {}, after = {}, steps = 0 }
  for line in f:lines() do
    if line:sub(1, 1) ~= "#" and line ~= "" then
      local w = {}
      for tok in line:gmatch("%S+") do w[#w + 1] = tok end
      local kind = w[1]
      if kind == "group" then
        local o = {}
        for i = 3, #w, 2 do o[w[i]] = tonumber(w[i + 1]) end
        g.groups[tonumber(w[2])] = o
      elseif kind == "param" then
        local shape = {}
        for i = 1, tonumber(w[4]) do shape[i] = tonumber(w[4 + i]) end
        local p = { name = w[2], group = tonumber(w[3]), shape = shape }
        g.params[#g.params + 1] = p
        g.byname[w[2]] = p
      elseif kind == "init" then
        local v = {}
        for i = 3, #w do v[#v + 1] = f32(tonumber(w[i])) end
        g.byname[w[2]].init = v
      elseif kind == "q" then
        local v = {}
        for i = 5, #w do v[#v + 1] = f32(tonumber(w[i])) end
        g.q[#g.q + 1] = { name = w[2], d = tonumber(w[3]), n = tonumber(w[4]), v = v }
      elseif kind == "grad" or kind == "after" then
        local s = tonumber(w[2])
        local v = {}
        for i = 4, #w do v[#v + 1] = f32(tonumber(w[i])) end
        g[kind][s] = g[kind][s] or {}
        g[kind][s][w[3]] = v
        if s > g.steps then g.steps = s end
      else
        error(path .. ": unknown record " .. kind)
      end
    end
  end
  f:close()
  return g
end

local function numel(shape)
  local n = 1
  for _, d in ipairs(shape) do n = n * d end
  return n
end

local function flat(t) return t:view(t:numel()):totable() end

-- The kit's optimizer over the fixture's parameters, one group per fixture group.
local function build(g)
  local tensors, groups = {}, {}
  for gi, o in ipairs(g.groups) do
    groups[gi] = { params = {}, lr = o.lr, betas = { o.beta1, o.beta2 }, eps = o.eps,
                   weight_decay = o.weight_decay, precondition_frequency = math.tointeger(o.precondition_frequency),
                   shampoo_beta = o.shampoo_beta, max_precond_dim = math.tointeger(o.max_precond_dim),
                   merge_dims = o.merge_dims == 1, precondition_1d = o.precondition_1d == 1,
                   normalize_grads = o.normalize_grads == 1, correct_bias = o.correct_bias == 1 }
  end
  local where = {}
  for _, p in ipairs(g.params) do
    local t = T.tensor(p.init):view(table.unpack(p.shape))
    tensors[p.name] = t
    local gp = groups[p.group].params
    gp[#gp + 1] = t
    where[p.name] = "param." .. p.group .. "." .. #gp .. "."
  end
  return optim.soap(groups), tensors, where
end

local function feed(g, tensors, s)
  for _, p in ipairs(g.params) do
    tensors[p.name].grad = T.tensor(g.grad[s][p.name]):view(table.unpack(p.shape))
  end
end

-- |cos| of each column pair of two n x n row-major bases: 1 when equal up to sign.
local function column_match(a, b, n)
  local worst = 0
  for j = 1, n do
    local d, na, nb = 0, 0, 0
    for i = 1, n do
      local x, y = a[(i - 1) * n + j], b[(i - 1) * n + j]
      d, na, nb = d + x * y, na + x * x, nb + y * y
    end
    worst = math.max(worst, 1 - math.abs(d) / math.sqrt(na * nb))
  end
  return worst
end

-- Runs the fixture; returns the worst relative error per step (max |kit -
-- ref| over the parameter, divided by max |ref - init|: the error relative to
-- how far the reference has moved, so the check does not hide in the size of
-- the initial values).
local function replay(g, check_q)
  local opt, tensors, where = build(g)
  feed(g, tensors, 1)
  opt:step()
  -- step 1 records statistics only; the eigenbasis of a rank-deficient
  -- factor is not unique, so the kit continues from the reference's
  local sd = opt:state_dict()
  for _, q in ipairs(g.q) do
    local p = g.byname[q.name]
    local key = where[q.name] .. "Q" .. q.d
    A.truthy(sd[key] ~= nil, "the kit preconditions " .. q.name .. " dimension " .. (q.d + 1) .. " as soap.py does")
    if sd[key] then
      local other = numel(p.shape) // q.n
      if check_q and other >= q.n then -- full rank: the kit's own basis must match
        A.truthy(column_match(flat(sd[key]), q.v, q.n) < 1e-4, q.name .. ": Q" .. q.d .. " after step 1 matches up to signs")
      end
      sd[key] = T.tensor(q.v):view(q.n, q.n)
    end
  end
  opt:load_state_dict(sd)
  for _, p in ipairs(g.params) do A.allclose(p.init, flat(tensors[p.name]), 0, p.name .. ": no update at step 1") end
  local worst = {}
  for s = 2, g.steps do
    feed(g, tensors, s)
    opt:step()
    for _, p in ipairs(g.params) do
      local got, want = flat(tensors[p.name]), g.after[s][p.name]
      local err, moved = 0, 0
      for i = 1, #want do
        err = math.max(err, math.abs(got[i] - want[i]))
        moved = math.max(moved, math.abs(want[i] - p.init[i]))
      end
      worst[s] = math.max(worst[s] or 0, err / moved)
      worst[p.name] = math.max(worst[p.name] or 0, err / moved)
    end
  end
  return worst
end

A.test("soap matches soap.py step for step", function()
  local g = parse(FIX .. "golden.txt")
  A.eq(12, g.steps)
  local worst = replay(g, true)
  local all = 0
  for s = 2, g.steps do all = math.max(all, worst[s]) end
  local names = {}
  for _, p in ipairs(g.params) do names[#names + 1] = string.format("%s %.2g", p.name, worst[p.name]) end
  print(string.format("soap vs soap.py: worst relative error %.3g (%s)", all, table.concat(names, ", ")))
  -- The tolerance is float32's: soap.py's own float32 trajectory differs
  -- from its float64 run of the same inputs by up to 8.8e-6 of the distance
  -- moved (5e-6 typical); the kit, with other GEMM blockings, another eigh
  -- and QR, and no identity round trip of exp_avg, measured 5.9e-6. 3e-5
  -- leaves room for other BLAS builds; every planted bug is >= 1e-3.
  for s = 2, g.steps do A.truthy(worst[s] < 3e-5, string.format("step %d: relative error %.3g", s, worst[s])) end
end)

A.test("a matrix merged into one dimension is still preconditioned, as in soap.py", function()
  local g = parse(FIX .. "merge1d.txt")
  local worst = replay(g, true)
  local all = 0
  for s = 2, g.steps do all = math.max(all, worst[s]) end
  print(string.format("soap vs soap.py, (2, 2) merged to (4): worst relative error %.3g", all))
  for s = 2, g.steps do A.truthy(worst[s] < 3e-5, string.format("step %d: relative error %.3g", s, worst[s])) end
end)

A.done("test_soap_golden")
