-- repro.fp8 from Lua: formats, casts, codes, quantized tensors, scaling
-- recipes, the FP8 linear and SwiGLU ops, and bad input.
local A = dofile(arg[0]:match("(.*/)") .. "assert.lua")
local repro = require "repro"
local T, fp8 = repro.tensor, repro.fp8

A.test("formats and info", function()
  local names = fp8.formats()
  A.eq(12, #names)
  for _, n in ipairs(names) do A.eq(n, fp8.info(n).name) end
  local f4 = fp8.info("e2m1fn")
  A.eq(4, f4.bits); A.eq(6, f4.max); A.eq("none", f4.nan); A.eq(false, f4.inf); A.eq(0.5, f4.min_subnormal)
  A.eq(28, fp8.info("e3m2fn").max); A.eq(7.5, fp8.info("e2m3fn").max)
  A.eq("e4m3fn", names[1])
  local i = fp8.info("e4m3fn")
  A.eq(4, i.ebits); A.eq(3, i.mbits); A.eq(7, i.bias); A.eq(448, i.max)
  A.eq(2 ^ -6, i.min_normal); A.eq(2 ^ -9, i.min_subnormal); A.eq(false, i.inf)
  local z = fp8.info("e4m3fnuz")
  A.eq(8, z.bias); A.eq(240, z.max); A.eq(false, z.negative_zero); A.eq("0x80", z.nan)
  A.eq(16, fp8.info("e5m2fnuz").bias)
  A.eq(true, fp8.info("e5m2").inf); A.eq(57344, fp8.info("e5m2").max)
  A.eq(2 ^ 127, fp8.info("e8m0fnu").max)
  A.eq(65504, fp8.info("fp16").max)
end)

A.test("cast, encode, decode goldens", function()
  local x = T.tensor{448, 464, 465, 2 ^ -9, 2 ^ -10, -0.0, 1e9}
  A.allclose({0x7E, 0x7E, 0x7F, 0x01, 0x00, 0x80, 0x7F}, fp8.encode(x, "e4m3fn"):int():totable())
  A.allclose({0x7E, 0x7E, 0x7E, 0x01, 0x00, 0x80, 0x7E},
    fp8.encode(x, "e4m3fn", {saturate = true}):int():totable())
  local c = fp8.cast(x, "e4m3fn")
  local ct = c:totable()
  A.eq(448, ct[1]); A.eq(448, ct[2]); A.truthy(ct[3] ~= ct[3], "465 -> NaN"); A.eq(0, ct[5])
  local y = T.tensor{57344, 61439, 61440, -61440}
  A.allclose({0x7B, 0x7B, 0x7C, 0xFC}, fp8.encode(y, "e5m2"):int():totable())
  A.allclose({0x7B, 0x7B, 0x7B, 0xFB}, fp8.encode(y, "e5m2", {saturate = true}):int():totable())
  A.eq(math.huge, fp8.cast(y, "e5m2"):totable()[3])
  -- decode every code and re-encode (non-NaN round trip)
  local codes = T.arange(256):byte()
  for _, f in ipairs{"e4m3fn", "e5m2", "e4m3fnuz", "e5m2fnuz", "e4m3", "e3m4", "e8m0fnu"} do
    local v = fp8.decode(codes, f)
    local back = fp8.encode(v, f):int():totable()
    local vt = v:totable()
    for k = 1, 256 do
      if vt[k] == vt[k] then A.eq(k - 1, back[k], f .. " code " .. (k - 1)) end
    end
  end
  -- decode with scale, encode with scale
  A.allclose({0.5}, fp8.decode(fp8.encode(T.tensor{1}, "e4m3fn", {scale = 4}), "e4m3fn", {scale = 8}):totable())
  -- bf16 / fp16 casts
  A.allclose({1, 1.0078125}, fp8.cast(T.tensor{1.00390625, 1.0078125}, "bf16"):totable(), 0)
  A.allclose({65504}, fp8.cast(T.tensor{65519}, "fp16"):totable(), 0)
  A.eq(65504, fp8.cast(T.tensor{1e6}, "fp16", {saturate = true}):item())
end)

A.test("stochastic rounding", function()
  local x = T.full({20000}, 0.3)
  local a = fp8.cast(x, "e4m3fn", {rounding = "stochastic", generator = 7})
  local b = fp8.cast(x, "e4m3fn", {rounding = "stochastic", generator = 7})
  A.allclose(a:totable(), b:totable(), 0)
  -- 0.3 lies between 0.28125 and 0.3125: sd of the mean <= 0.03125/2/sqrt(n)
  A.near(0.3, a:mean():item(), 5 * 0.03125 / 2 / math.sqrt(20000))
  local g = T.Generator(11)
  local c = fp8.cast(x, "e4m3fn", {rounding = "stochastic", generator = g})
  local d = fp8.cast(x, "e4m3fn", {rounding = "stochastic", generator = g})
  A.truthy(c:totable()[1] ~= nil)
  local same = true
  local ct, dt = c:totable(), d:totable()
  for i = 1, #ct do if ct[i] ~= dt[i] then same = false end end
  A.eq(false, same, "a generator advances between draws")
  repro.manual_seed(3)
  local e = fp8.encode(x, "e5m2", {rounding = "stochastic"})
  repro.manual_seed(3)
  local f = fp8.encode(x, "e5m2", {rounding = "stochastic"})
  A.allclose(e:int():totable(), f:int():totable(), 0)
end)

A.test("quantized tensors", function()
  local x = T.tensor{{1, -2, 1000}, {1e-6, 0, -600}}
  local q = fp8.quantize(x, "e4m3fn", {scale = 1, saturate = true})
  A.eq(1000, q:amax()); A.eq(2, q.saturated); A.eq(1, q.flushed); A.eq(6, q.numel)
  A.eq("u8", q:codes():dtype()); A.eq(1, q:scale())
  A.allclose({{1, -2, 448}, {0, 0, -448}}, q:dequantize():totable())
  local q2 = fp8.quantize(x, "e5m2", {scale = 0.5})
  A.allclose({{1, -2, 1024}, {0, 0, -640}}, q2:dequantize():totable(), 1e-6)
  A.truthy(tostring(q2):find("e5m2", 1, true))
  local pt = fp8.quantize_per_token(T.tensor{{1, -8}, {0.5, 0.25}}, "e4m3fn")
  A.allclose({56, 896}, pt:scale():totable())
  A.allclose({{1, -8}, {0.5, 0.25}}, pt:dequantize():totable())
  local pc = fp8.quantize_per_channel(T.tensor{{1, -8}, {0.5, 0.25}}, "e4m3fn", {pow2 = true})
  A.allclose({256, 32}, pc:scale():totable())
  A.allclose({{1, -8}, {0.5, 0.25}}, pc:dequantize():totable())
  do local q3 <close> = fp8.quantize(x, "e4m3fn") end
end)

A.test("scaling recipes", function()
  A.near(448 / 3, fp8.current_scale(3, "e4m3fn"), 1e-4)
  A.near(448 / 3 / 2, fp8.current_scale(3, "e4m3fn", {margin = 1}), 1e-4)
  A.eq(128, fp8.current_scale(3, "e4m3fn", {pow2 = true}))
  A.eq(1, fp8.current_scale(0, "e4m3fn"))
  -- TE DelayedScaling on a scripted amax sequence, history 3, algo max, margin 0
  local d = fp8.delayed_scaling{history = 3, algo = "max", fmt = "e4m3fn"}
  A.eq(1, d:scale())
  local seq = {2, 8, 1, 0.5, 0.25, 0, 4}
  local want = {448 / 2, 448 / 8, 448 / 8, 448 / 8, 448 / 1, 448 / 0.5, 448 / 4}
  for i, a in ipairs(seq) do A.near(want[i], d:update(a), 1e-3, "step " .. i) end
  local st = d:state()
  A.eq(3, #st.amax_history); A.eq(4, st.amax_history[3]); A.eq(0, st.amax_history[1])
  local d2 = fp8.delayed_scaling{history = 3}
  d2:load_state(st)
  A.eq(d:scale(), d2:scale())
  A.near(d:update(1), d2:update(1), 0)
  local m = fp8.delayed_scaling{history = 4, algo = "most_recent", margin = 2, fmt = "e5m2"}
  A.near(57344 / 8 / 4, m:update(8), 1e-3)
  A.near(57344 / 2 / 4, m:update(2), 1e-3)
  A.near(57344 / 2 / 4, m:update(0 / 0), 1e-3) -- NaN keeps the old scale
  A.near(57344 / 2 / 4, m:update(math.huge), 1e-3)
end)

A.test("MX block formats", function()
  repro.manual_seed(9)
  local x = T.randn{3, 40} * 4
  for _, name in ipairs{"mxfp8_e4m3", "mxfp8_e5m2", "mxfp6_e3m2", "mxfp6_e2m3", "mxfp4"} do
    local q = fp8.quantize(x, name)
    A.eq(name, q:format())
    A.eq("3x2", table.concat(q:scale():shape(), "x"))
    A.eq("3x" .. (name == "mxfp4" and 20 or 40), table.concat(q:codes():shape(), "x"))
    local y = q:dequantize()
    A.eq("3x40", table.concat(y:shape(), "x"))
    -- by hand: per block, X = 2^(floor(log2 amax) - emax), element = cast(x / X) saturating
    local elem = ({mxfp8_e4m3 = "e4m3fn", mxfp8_e5m2 = "e5m2", mxfp6_e3m2 = "e3m2fn", mxfp6_e2m3 = "e2m3fn", mxfp4 = "e2m1fn"})[name]
    local emax = math.floor(math.log(fp8.info(elem).max, 2))
    local xt, yt, st = x:totable(), y:totable(), q:scale():totable()
    for r = 1, 3 do
      for b = 0, 1 do
        local amax = 0
        for i = b * 32 + 1, math.min(40, b * 32 + 32) do amax = math.max(amax, math.abs(xt[r][i])) end
        local E = math.floor(math.log(amax, 2)) - emax
        A.eq(E + 127, st[r][b + 1])
        local blk = {}
        for i = b * 32 + 1, math.min(40, b * 32 + 32) do blk[#blk + 1] = xt[r][i] / 2 ^ E end
        local c = fp8.cast(T.tensor(blk), elem, {saturate = true}):totable()
        for i = 1, #blk do A.eq(c[i] * 2 ^ E, yt[r][b * 32 + i]) end
      end
    end
  end
  local p = fp8.quantize(T.tensor{{1, -2, 0.5}}, "mxfp4"):codes():totable()[1]
  -- amax 2: X = 2^(1 - 2); 1/X = 2 -> 0x4, -2/X = -4 -> 0xE, 0.5/X = 1 -> 0x2; low nibble first
  A.eq(0x4 | (0xE << 4), p[1]); A.eq(0x2, p[2])
  A.raises(function() fp8.quantize(x, "mxfp5") end, "unknown format 'mxfp5'")
  A.raises(function() fp8.quantize(x, "mxfp4", {scale = 2}) end, "unknown option 'scale'")
  A.raises(function() fp8.quantize(T.tensor(1), "mxfp4") end, "at least one dimension")
end)

A.test("fp8 linear formats are options", function()
  repro.manual_seed(6)
  local x, w = T.randn{4, 6}, T.randn{3, 6} * 0.1
  local y0 = fp8.linear(x, w, fp8.linear_recipe{scaling = "current"})
  local y1 = fp8.linear(x, w, fp8.linear_recipe{scaling = "current", forward_format = "e4m3fn", backward_format = "e5m2"})
  A.eq(0, (y0 - y1):abs():max():item())
  local r6 = fp8.linear_recipe{scaling = "current", forward_format = "e2m3fn"}
  local y6 = fp8.linear(x, w, r6)
  local sx = fp8.current_scale(x:abs():max():item(), "e2m3fn")
  local sw = fp8.current_scale(w:abs():max():item(), "e2m3fn")
  local qx = fp8.quantize(x, "e2m3fn", {scale = sx, saturate = true}):dequantize()
  local qw = fp8.quantize(w, "e2m3fn", {scale = sw, saturate = true}):dequantize()
  A.allclose(qx:matmul(qw:transpose(1, 2)):totable(), y6:totable(), 1e-5)
  A.raises(function() fp8.linear_recipe{forward_format = "bf16"} end, "forward_format must be a format with codes")
  A.raises(function() fp8.linear_recipe{backward_format = "nope"} end, "backward_format must be a format with codes")
  A.raises(function() fp8.linear_recipe{numerics = "fp4"} end, "unknown numerics 'fp4' (valid: fp32, bf16, fp8)")
end)

A.test("fp8 linear equals casts and matmuls by hand", function()
  repro.manual_seed(5)
  local x = T.randn({4, 6}, {requires_grad = true})
  local w = (T.randn{3, 6} * 0.1):requires_grad_()
  local r = fp8.linear_recipe{numerics = "fp8", scaling = "current"}
  local y = fp8.linear(x, w, r)
  local sx = fp8.current_scale(x:detach():abs():max():item(), "e4m3fn")
  local sw = fp8.current_scale(w:detach():abs():max():item(), "e4m3fn")
  local qx = fp8.quantize(x:detach(), "e4m3fn", {scale = sx, saturate = true}):dequantize()
  local qw = fp8.quantize(w:detach(), "e4m3fn", {scale = sw, saturate = true}):dequantize()
  A.allclose(qx:matmul(qw:t()):totable(), y:detach():totable(), 1e-5)
  local g = T.randn{4, 3} * 1e-3
  y:backward(g)
  local sg = fp8.current_scale(g:abs():max():item(), "e5m2")
  local qg = fp8.quantize(g, "e5m2", {scale = sg, saturate = true}):dequantize()
  A.allclose(qg:matmul(qw):totable(), x.grad:totable(), 1e-5)
  A.allclose(qg:t():matmul(qx):totable(), w.grad:totable(), 1e-5)
  local s = r:stats()
  A.near(sx, s.input.scale, 0); A.near(sg, s.grad_output.scale, 0)
  A.eq(1, s.weight.calls); A.eq(24, s.input.numel)
  -- delayed: state round trip
  local rd = fp8.linear_recipe{numerics = "fp8", scaling = "delayed", history = 4}
  fp8.linear(x:detach(), w:detach(), rd)
  local state = rd:state()
  A.near(448 / x:detach():abs():max():item(), state.input.scale, 1e-3)
  local rd2 = fp8.linear_recipe{numerics = "fp8", scaling = "delayed", history = 4}
  rd2:load_state(state)
  A.eq(state.weight.scale, rd2:state().weight.scale)
  -- fp32 and bf16
  local y32 = fp8.linear(x:detach(), w:detach())
  A.allclose(x:detach():matmul(w:detach():t()):totable(), y32:totable(), 1e-5)
  local yb = fp8.linear(x:detach(), w:detach(), fp8.linear_recipe{numerics = "bf16"})
  A.allclose(fp8.cast(x:detach(), "bf16"):matmul(fp8.cast(w:detach(), "bf16"):t()):totable(), yb:totable(), 1e-5)
end)

A.test("swiglu", function()
  repro.manual_seed(9)
  local x = T.randn{2, 3, 4}
  local w1, w2, w3 = T.randn{6, 4}, T.randn{6, 4}, T.randn{4, 6}
  local y0, info = fp8.swiglu(x, w1, w2, w3)
  local a, b = x:matmul(w1:t()), x:matmul(w2:t())
  local h = a * a:sigmoid() * b
  A.allclose(h:matmul(w3:t()):totable(), y0:totable(), 1e-4)
  A.near(h:abs():max():item(), info.h_amax, 1e-5)
  for _, sm in ipairs{"channel", "token"} do
    A.allclose(y0:totable(), fp8.swiglu(x, w1, w2, w3, {smooth = sm}):totable(), 1e-4)
  end
  local rs = {}
  for i = 1, 3 do rs[i] = fp8.linear_recipe{numerics = "fp8", scaling = "delayed"} end
  local xr = x:detach():requires_grad_()
  local y = fp8.swiglu(xr, w1, w2, w3, {recipes = rs, smooth = "channel"})
  y:sum():backward()
  A.eq(24, rs[1]:stats().input.numel)
  A.eq(1, rs[3]:stats().grad_output.calls)
  A.truthy(xr.grad ~= nil)
end)

A.test("bad input", function()
  local t = T.ones(2, 3)
  local e = A.raises(function() fp8.cast(t, "e4m3x") end, "unknown format 'e4m3x'")
  A.truthy(e:find("e4m3fn, e5m2", 1, true), "the error lists the valid formats")
  A.raises(function() fp8.info("nope") end, "valid: e4m3fn")
  for _, s in ipairs{0, -1, math.huge, 0 / 0, 1e-60} do
    A.raises(function() fp8.quantize(t, "e4m3fn", {scale = s}) end, "scale must be positive and finite")
    A.raises(function() fp8.encode(t, "e4m3fn", {scale = s}) end, "scale must be positive and finite")
  end
  A.raises(function() fp8.delayed_scaling{history = 0} end, "history must be an integer >= 1")
  A.raises(function() fp8.delayed_scaling{history = 2.5} end, "history")
  A.raises(function() fp8.linear_recipe{history = 0} end, "history")
  A.raises(function() fp8.delayed_scaling{algo = "mean"} end, "unknown algo 'mean'")
  A.raises(function() fp8.decode(t, "e4m3fn") end, "codes must be a u8 tensor, got f32")
  A.raises(function() fp8.decode(T.zeros(2, {dtype = "i32"}), "e5m2") end, "u8")
  A.raises(function() fp8.encode(T.zeros(2, {dtype = "i32"}), "e5m2") end, "expected a f32 tensor")
  A.raises(function() fp8.encode(t, "bf16") end, "16-bit format")
  A.raises(function() fp8.decode(T.zeros(2, {dtype = "u8"}), "fp16") end, "16-bit format")
  A.raises(function() fp8.cast(t, "e4m3fn", {rounding = "up"}) end, "unknown rounding 'up'")
  A.raises(function() fp8.cast(t, "e4m3fn", {bogus = 1}) end, "unknown option 'bogus'")
  A.raises(function() fp8.cast(t, "e4m3fn", {rounding = "stochastic", generator = "x"}) end, "generator")
  A.raises(function() fp8.linear(T.ones(2, 3), T.ones(4, 5)) end, "do not match")
  A.raises(function() fp8.linear(T.ones(2, 3), T.ones(4, 3), {}) end, "LinearRecipe")
  A.raises(function() fp8.linear_recipe{numerics = "fp4"} end, "unknown numerics 'fp4'")
  A.raises(function() fp8.linear_recipe{scaling = "lazy"} end, "unknown scaling 'lazy'")
  A.raises(function() fp8.swiglu(T.ones(2, 4), T.ones(6, 4), T.ones(6, 4), T.ones(4, 6), {smooth = "x"}) end,
    "unknown smooth 'x'")
  A.raises(function() fp8.swiglu(T.ones(2, 4), T.ones(6, 4), T.ones(6, 4), T.ones(6, 4)) end, "W3")
  A.raises(function() fp8.current_scale(-1, "e4m3fn") end, "negative")
  local d = fp8.delayed_scaling{history = 2}
  A.raises(function() d:load_state{scale = -1, amax_history = {0, 0}} end, "scale must be positive")
  A.raises(function() d:load_state{scale = 1, amax_history = {0}} end, "table of 2 numbers")
  local keep
  do local q <close> = fp8.quantize(t, "e4m3fn"); keep = q end
  A.raises(function() keep:dequantize() end, "closed")
  A.raises(function() return keep.saturated end, "closed")
end)

A.done("test_fp8")
