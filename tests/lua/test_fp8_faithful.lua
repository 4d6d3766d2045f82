-- tests/lua/test_fp8_faithful.lua: the options of the paper's FP8 recipe
-- (Fishman et al. 2024, arXiv 2409.12517) in fp8.linear / fp8.swiglu:
-- power-of-two delayed scales, frozen recipes (evaluation forwards), saturating
-- casts with clamp and underflow counts, stochastic E5M2 gradient rounding
-- (unbiased, deterministic at any thread count), E5M2 backward operands,
-- W3's input in bf16, and the Smooth-SwiGLU linear-branch statistic against a
-- Lua computation of the same thing.
local A = dofile(arg[0]:match("(.*/)") .. "assert.lua")
local repro = require "repro"
local T, fp8, nn = repro.tensor, repro.fp8, repro.nn

local function flat(t)
  local out = {}
  local function walk(v) if type(v) == "table" then for _, x in ipairs(v) do walk(x) end else out[#out + 1] = v end end
  walk(t:totable())
  return out
end

local function paper(o)
  local p = { numerics = "fp8", scaling = "delayed", history = 1, margin = 0, pow2 = true, saturate = true }
  for k, v in pairs(o or {}) do p[k] = v end
  return fp8.linear_recipe(p)
end

A.test("delayed scales are powers of two, 2^floor(log2(max/amax)), from the last step only", function()
  local r = paper()
  local w = T.eye(4)
  fp8.linear(T.full({ 2, 4 }, 3.0), w, r)
  A.eq(128, r:state().input.scale, "448/3 -> 128")
  A.eq(256, r:state().weight.scale, "448/1 -> 256")
  fp8.linear(T.full({ 2, 4 }, 0.5), w, r)
  A.eq(512, r:state().input.scale, "history 1: only the last amax counts (448/0.5 -> 512)")
end)

A.test("a frozen recipe neither records statistics nor moves its histories", function()
  local r = paper()
  local w = T.eye(4)
  fp8.linear(T.full({ 2, 4 }, 3.0), w, r)
  local st, calls = r:state().input.scale, r:stats().input.calls
  A.eq(false, r:freeze(true))
  fp8.linear(T.full({ 2, 4 }, 100.0), w, r)
  A.eq(st, r:state().input.scale, "scale kept")
  A.eq(calls, r:stats().input.calls, "no statistics")
  A.eq(true, r:freeze(false))
  fp8.linear(T.full({ 2, 4 }, 100.0), w, r)
  A.eq(4, r:state().input.scale, "moves again: 448/100 -> 4")
end)

A.test("code by code: the input copy is the saturating E4M3 cast at the delayed scale; clamps and underflows counted", function()
  local r = paper()
  local w = T.eye(4)
  fp8.linear(T.full({ 1, 4 }, 1.0), w, r)      -- input scale 256 from now on
  local x = T.tensor{ { 10.0, -1.5, 1e-6, 0.3 } }
  local y = fp8.linear(x, w, r)
  local ref = fp8.cast(x * 256, "e4m3fn", { saturate = true }) / 256
  A.allclose(flat(ref), flat(y), 0, "y = Q(x) with W = I")
  A.eq(1.75, flat(y)[1], "10 clamps to 448/256")
  local st = r:stats().input
  A.eq(1, st.saturated, "one clamp (10 * 256 > 448)")
  A.eq(1, st.flushed, "1e-6 * 256 flushes to zero")
  A.eq(0, r:stats().weight.saturated)
end)

local function sr_grad(seed, G)
  local r = paper{ grad_rounding = "stochastic" }
  r:reseed(seed)
  local n = G:shape()[1]
  local x = T.zeros({ n, n }, { requires_grad = true })
  local y = fp8.linear(x, T.eye(n), r)
  ;(y * G):sum():backward()
  return x.grad, r
end

A.test("stochastic E5M2 gradient rounding: each value a neighbour, unbiased, deterministic at any thread count", function()
  local n = 64
  local G = T.full({ n, n }, 0.3)
  local g1 = flat((sr_grad(7, G)))
  local s, up = 0.0, 0
  for _, v in ipairs(g1) do
    A.truthy(v == 0.25 or v == 0.3125, "a neighbour of 0.3 in E5M2: " .. v)
    s = s + v
    if v == 0.3125 then up = up + 1 end
  end
  A.near(0.3, s / #g1, 0.002, "mean of the stochastic copies")
  A.truthy(up > 0 and up < #g1, "both neighbours occur")
  local rne = fp8.linear_recipe{ numerics = "fp8", scaling = "delayed", history = 1, saturate = true }
  local x = T.zeros({ n, n }, { requires_grad = true })
  ;(fp8.linear(x, T.eye(n), rne) * G):sum():backward()
  A.eq(0.3125, flat(x.grad)[1], "round to nearest is biased")
  local prev = repro.get_threads and repro.get_threads() or 2
  repro.set_threads(1)
  local a = flat((sr_grad(7, G)))
  repro.set_threads(2)
  local b = flat((sr_grad(7, G)))
  repro.set_threads(prev)
  A.allclose(a, b, 0, "1 and 2 threads")
  A.allclose(g1, a, 0, "same seed, same bits")
  local c = flat((sr_grad(8, G)))
  local diff = 0
  for i = 1, #a do if a[i] ~= c[i] then diff = diff + 1 end end
  A.truthy(diff > 0, "another seed, other bits")
end)

A.test("backward operands in E5M2: dgrad uses the E5M2 copy of W", function()
  local n = 4
  local W = T.eye(n) * 1.1
  local function dgrad(o)
    local r = paper(o)
    local x = T.zeros({ 2, n }, { requires_grad = true })
    ;(fp8.linear(x, W, r)):sum():backward()
    return flat(x.grad)[1], r
  end
  -- first use: the weight scale is the initial 1; E4M3(1.1) = 1.125, E5M2(1.1) = 1.0
  A.eq(1.125, (dgrad{}), "forward copies")
  local v, r = dgrad{ backward_operand_format = "e5m2" }
  A.eq(1.0, v, "E5M2 copies")
  A.truthy(r:stats().weight_bwd and r:stats().weight_bwd.numel == n * n, "statistics of the backward copy")
end)

A.test("input_bf16: the input is rounded to bf16, the weight stays fp8", function()
  local r = paper{ input_bf16 = true }
  local x = T.tensor{ { 1.01, 300.7, -0.123 } }
  local y = fp8.linear(x, T.eye(3), r)
  A.allclose(flat(fp8.cast(x, "bf16")), flat(y), 0)
end)

A.test("Smooth-SwiGLU statistic 'linear' equals the Lua computation with max over x·w2ᵀ", function()
  repro.manual_seed(3)
  local M, D, F = 6, 8, 12
  local x, w1, w2, w3 = T.randn{ M, D }, T.randn{ F, D } * 0.5, T.randn{ F, D } * 0.5, T.randn{ D, F } * 0.3
  local function recs() local t = {} for i = 1, 3 do t[i] = paper{ scaling = "current" } end return t end
  for _, mode in ipairs { "token", "channel" } do
    local y = fp8.swiglu(x, w1, w2, w3, { recipes = recs(), smooth = mode, statistic = "linear" })
    local r = recs()
    local a, b = fp8.linear(x, w1, r[1]), fp8.linear(x, w2, r[2])
    local h = T.silu_mul(a, b)
    local ref
    if mode == "token" then
      local m = b:abs():amax(2, true)          -- (M, 1): one per token
      ref = fp8.linear(h / m, w3, r[3]) * m
    else
      local m = b:abs():amax(1, true)          -- (1, F): one per channel
      ref = fp8.linear(h / m, w3 * m, r[3])
    end
    A.allclose(flat(ref), flat(y), 1e-6, mode)
    local yo = fp8.swiglu(x, w1, w2, w3, { recipes = recs(), smooth = mode, statistic = "output" })
    local same = true
    local fy, fo = flat(y), flat(yo)
    for i = 1, #fy do if fy[i] ~= fo[i] then same = false end end
    A.truthy(not same, mode .. ": the two statistics give different fp8 results")
  end
  A.raises(function() fp8.swiglu(x, w1, w2, w3, { smooth = "token", statistic = "input" }) end, "statistic")
end)

A.test("an fp8 Llama: h_bf16 and the smoothing statistic reach the FFN; freeze_recipes guards the histories", function()
  local m = nn.Llama{ vocab = 11, dim = 8, layers = 1, heads = 2, ffn_dim = 16, seq_len = 4, numerics = "fp8",
    mlp = "smooth_swiglu", seed = 1, fp8 = { history = 1, pow2 = true, h_bf16 = true, smooth = "token",
    smooth_statistic = "linear", grad_rounding = "stochastic" } }
  local mlp = m.blocks[1].mlp
  A.eq("linear", mlp.statistic)
  local ids = T.tensor({ { 1, 2, 3, 4 } }):int()
  m(ids)
  local before = m:recipes()["layers.1.mlp.w1"]:state().input.scale
  m:freeze_recipes(true)
  m(ids * 2)
  A.eq(before, m:recipes()["layers.1.mlp.w1"]:state().input.scale)
  m:freeze_recipes(false)
  A.raises(function() fp8.linear_recipe{ grad_rounding = "up" } end, "grad_rounding")
  A.raises(function() fp8.linear_recipe{ backward_operand_format = "bf16" } end, "format")
  A.raises(function() fp8.linear_recipe{ seed = -1 } end, "seed")
end)

A.done("test_fp8_faithful")
