-- tests/lua/test_generate.lua: nn.Llama:generate with the K/V cache against
-- full recomputation (greedy ids identical, logits within 1e-5) over prefix
-- lengths and batches, with and without left padding; forced tokens; stop;
-- clone / freeze / forward_no_grad; thread-count determinism; bad input.
local A = dofile(arg[0]:match("(.*/)") .. "assert.lua")
local repro = require "repro"
local T, nn = repro.tensor, repro.nn

local V = 17

-- A small model with weights large enough that its logits are far from uniform.
local function model(seed, extra)
  local o = { vocab = V, dim = 32, layers = 2, heads = 4, seq_len = 48, seed = seed or 1 }
  for k, v in pairs(extra or {}) do o[k] = v end
  local m = nn.Llama(o)
  T.no_grad(function()
    for _, p in ipairs(m:parameters()) do if p:dim() == 2 then p:copy_(p * 12) end end
  end)
  return m
end

local function prompts(B, Tn, seed)
  return T.randint(1, V + 1, { B, Tn }, { dtype = "i32", generator = T.Generator(seed or 1) })
end

local function maxdiff(a, b) return (a - b):abs():max():item() end

A.test("cached == uncached: greedy ids and logits, every prefix length and batch", function()
  local m = model(1)
  for _, B in ipairs { 1, 3 } do
    for _, T0 in ipairs { 1, 2, 5, 9 } do
      local ids = prompts(B, T0, 10 * B + T0)
      local a, ia = m:generate(ids, { steps = 12, temperature = 0, logits = true })
      local b, ib = m:generate(ids, { steps = 12, temperature = 0, logits = true, cache = false })
      A.eq(B .. "," .. (T0 + 12), table.concat(a:shape(), ","), "shape")
      A.truthy(a:bytes() == b:bytes(), string.format("ids B=%d T0=%d", B, T0))
      A.truthy(maxdiff(ia.logits, ib.logits) < 1e-5, string.format("logits B=%d T0=%d", B, T0))
      A.truthy(a:narrow(2, 1, T0):bytes() == ids:bytes(), "the prompt is kept")
      -- the logits are those of a plain forward over the generated sequence
      local full = m:forward_no_grad(a:narrow(2, 1, T0 + 11))
      A.truthy(maxdiff(ia.logits, full:narrow(2, T0, 12)) < 1e-5, "vs forward")
    end
  end
end)

A.test("left padding: cached == uncached, and a padded row == its prompt alone", function()
  local m = model(2)
  local ids = prompts(4, 7, 3)
  local lengths = { 7, 3, 1, 5 }
  local pad = ids:clone()
  local t = pad:totable()
  for b, n in ipairs(lengths) do for i = 1, 7 - n do t[b][i] = 0 end end   -- any value in the padding
  pad = T.tensor(t, { dtype = "i32" })
  local a, ia = m:generate(pad, { steps = 10, temperature = 0, lengths = lengths, logits = true })
  local b, ib = m:generate(pad, { steps = 10, temperature = 0, lengths = lengths, logits = true, cache = false })
  A.truthy(a:bytes() == b:bytes(), "ids")
  A.truthy(maxdiff(ia.logits, ib.logits) < 1e-5, "logits")
  A.truthy(a:narrow(2, 1, 7):bytes() == pad:bytes(), "padding kept as given")
  for r, n in ipairs(lengths) do
    local alone, il = m:generate(ids:narrow(1, r, 1):narrow(2, 8 - n, n), { steps = 10, temperature = 0, logits = true })
    A.truthy(alone:narrow(2, n + 1, 10):bytes() == a:narrow(1, r, 1):narrow(2, 8, 10):bytes(), "row " .. r .. " ids")
    A.truthy(maxdiff(il.logits[1], ia.logits[r]) < 1e-4, "row " .. r .. " logits")
  end
  -- sampled (not greedy) generation: the same draws with and without the cache
  local s1 = m:generate(pad, { steps = 10, lengths = lengths, seed = 9 })
  local s2 = m:generate(pad, { steps = 10, lengths = lengths, seed = 9, cache = false })
  A.truthy(s1:bytes() == s2:bytes(), "sampled")
  -- forward_masked with the padding mask: real positions as the row alone
  local mask = T.tensor{ { 1, 1, 1, 1, 1, 1, 1 }, { 0, 0, 0, 0, 1, 1, 1 }, { 0, 0, 0, 0, 0, 0, 1 }, { 0, 0, 1, 1, 1, 1, 1 } }
  local lg = m:forward_masked(a:narrow(2, 1, 7):clamp(1, V):int(), mask)
  local lone = m:forward(ids:narrow(1, 2, 1):narrow(2, 5, 3))
  A.truthy(maxdiff(lg[2]:narrow(1, 5, 3), lone[1]) < 1e-4, "forward_masked")
end)

A.test("forced tokens and stop", function()
  local m = model(3)
  local ids = prompts(3, 4, 5)
  local forced = { [7] = 2, [8] = { 5, 6, 7 } }
  local a, ia = m:generate(ids, { steps = 8, temperature = 0, forced = forced, logits = true })
  local b, ib = m:generate(ids, { steps = 8, temperature = 0, forced = forced, logits = true, cache = false })
  A.truthy(a:bytes() == b:bytes(), "cached == uncached with forced tokens")
  A.truthy(maxdiff(ia.logits, ib.logits) < 1e-5, "logits")
  local t = a:totable()
  for r = 1, 3 do A.eq(2, t[r][7], "forced[7]"); A.eq(({ 5, 6, 7 })[r], t[r][8], "forced[8]") end
  -- stop: choose the id row 1 greedily emits first as the stop id
  local g = m:generate(ids, { steps = 8, temperature = 0 }):totable()
  local stop = g[1][5]
  local s, info = m:generate(ids, { steps = 8, temperature = 0, stop = stop })
  local st = s:totable()
  A.eq(1, info.stopped[1], "row 1 stops at once")
  for r = 1, 3 do
    local k = info.stopped[r] or 9
    for j = 1, 8 do
      if j < k then A.eq(g[r][4 + j], st[r][4 + j], "before stop") end
      if j >= k then A.eq(stop, st[r][4 + j], "at and after stop") end
    end
  end
end)

A.test("clone, freeze, forward_no_grad", function()
  local m = model(4)
  local r = m:clone():freeze()
  local ids = prompts(2, 5, 1)
  A.truthy(maxdiff(m:forward_no_grad(ids), r:forward_no_grad(ids)) == 0, "same function")
  for _, p in ipairs(r:parameters()) do A.eq(false, p.requires_grad, "frozen") end
  for _, p in ipairs(m:parameters()) do A.eq(true, p.requires_grad, "original untouched") end
  local out = r(ids)
  A.eq(nil, out.grad_fn, "a frozen model records no graph")
  A.eq(nil, m:forward_no_grad(ids).grad_fn, "no graph under forward_no_grad")
  A.truthy(m(ids).grad_fn ~= nil, "the trainable model does")
  T.no_grad(function() m.tok_emb.weight:copy_(m.tok_emb.weight + 1) end)
  A.truthy(maxdiff(m:forward_no_grad(ids), r:forward_no_grad(ids)) > 0, "independent storage")
  r:freeze(false)
  A.eq(true, r.lm_head.weight.requires_grad, "unfrozen")
  A.truthy(r.blocks[1] == r._children["layers.1"], "shared references stay shared")
end)

A.test("same ids at 1 and 2 threads", function()
  local m = model(5, { dim = 64, layers = 1 })
  local ids = prompts(16, 6, 2)
  local function run(th)
    repro.set_threads(th)
    local r = m:generate(ids, { steps = 10, seed = 4, top_k = 5 })
    repro.set_threads(2)
    return r:bytes()
  end
  A.truthy(run(1) == run(2))
end)

A.test("bad input", function()
  local m = model(6)
  local ids = prompts(2, 4, 1)
  A.raises(function() m:generate(ids, { steps = 0 }) end, "generate: steps must be a positive integer, got 0")
  A.raises(function() m:generate(ids, {}) end, "steps must be a positive integer")
  A.raises(function() m:generate(ids, { steps = 1.5 }) end, "steps must be a positive integer")
  A.raises(function() m:generate(prompts(1, 49), { steps = 1 }) end,
    "the prompt (49 tokens) is longer than the context (seq_len 48)")
  A.raises(function() m:generate(ids, { steps = 45 }) end, "prompt 4 + steps 45 = 49 exceeds the context")
  A.raises(function() m:generate(T.tensor{ { 1, 2 } }, { steps = 2 }) end, "ids must be an i32 tensor (B, T), got f32")
  A.raises(function() m:generate(T.tensor({ 1, 2 }, { dtype = "i32" }), { steps = 2 }) end, "got i32 {2}")
  A.raises(function() m:generate(T.tensor({ { 1, 18 } }, { dtype = "i32" }), { steps = 2 }) end,
    "ids must lie in [1, 17], got values in [1, 18]")
  A.raises(function() m:generate(T.tensor({ { 0, 3 } }, { dtype = "i32" }), { steps = 2 }) end, "ids must lie in [1, 17]")
  A.raises(function() m:generate(ids, { steps = 2, forced = { [4] = 1 } }) end, "forced position 4 outside the generated range [5, 6]")
  A.raises(function() m:generate(ids, { steps = 2, forced = { [5] = 18 } }) end, "forced[5] id 18 outside [1, 17]")
  A.raises(function() m:generate(ids, { steps = 2, forced = { [5] = { 1 } } }) end, "forced[5] must be an id or 2 ids")
  A.raises(function() m:generate(ids, { steps = 2, stop = 0 }) end, "stop must be an id in [1, 17]")
  A.raises(function() m:generate(ids, { steps = 2, lengths = { 4 } }) end, "lengths must list 2 prompt lengths")
  A.raises(function() m:generate(ids, { steps = 2, lengths = { 4, 5 } }) end, "lengths[2] = 5 must be an integer in [1, 4]")
  A.raises(function() m:generate(ids, { steps = 2, temprature = 1 }) end, "unknown option 'temprature'")
  A.raises(function() m:generate(ids, { steps = 2, temperature = -1 }) end, "temperature must be finite and >= 0")
  A.raises(function() m:forward_masked(ids, T.ones(3, 4)) end, "key_mask must be a (B, T) = {2,4} tensor")
end)

A.done()
