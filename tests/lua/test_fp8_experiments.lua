-- tests/lua/test_fp8_experiments.lua: the FP8 experiments (experiments/fp8_*.lua)
-- and their statistics (repro.fp8exp): cosine, amax, overflow counts and the
-- delayed-scaling surprise against hand computation on a tiny model; then a
-- smoke run of every configuration for a few steps on a tiny model.
local A = dofile(arg[0]:match("(.*/)") .. "assert.lua")
local repro = require "repro"
local T, nn, fp8 = repro.tensor, repro.nn, repro.fp8
local U = repro.util
local X = require "repro.fp8exp"

local tmp = A.tmpdir()

A.test("cosine of W1/W2 rows by hand", function()
  local w1 = { { 1, 0, 0 }, { 1, 1, 0 }, { 0, 0, 0 }, { 3, 4, 0 } }
  local w2 = { { 2, 0, 0 }, { -1, -1, 0 }, { 1, 2, 3 }, { 4, -3, 0 } }
  A.allclose({ 1, -1, 0, 0 }, X.cosines(w1, w2), 1e-12)
  -- tensors give the same as tables
  local c = X.cosines(T.tensor(w1), T.tensor(w2))
  A.allclose({ 1, -1, 0, 0 }, c, 1e-6)
  A.raises(function() X.cosines({ { 1 } }, { { 1 }, { 2 } }) end, "1 rows against 2 rows")
  -- and nn's own alignment agrees on a tiny model
  local m = nn.Llama{ vocab = 5, dim = 4, layers = 1, heads = 1, ffn_dim = 6, seq_len = 4, seed = 3 }
  local a = m:swiglu_alignment(1)
  local w1t, w2t = m.blocks[1].mlp.w1.weight:totable(), m.blocks[1].mlp.w2.weight:totable()
  for i = 1, 6 do
    local d, n1, n2 = 0, 0, 0
    for j = 1, 4 do d = d + w1t[i][j] * w2t[i][j]; n1 = n1 + w1t[i][j] ^ 2; n2 = n2 + w2t[i][j] ^ 2 end
    A.near(d / math.sqrt(n1 * n2), a[i], 1e-9, "nn alignment channel " .. i)
    A.near(a[i], X.cosines(m.blocks[1].mlp.w1.weight, m.blocks[1].mlp.w2.weight)[i], 1e-12)
  end
end)

A.test("top channels, counts, amax", function()
  A.allclose({ 3, 1, 2 }, X.top_channels({ 0.5, -0.2, -0.9, 0.1 }, 3), 0)
  A.allclose({ 1, 2 }, X.top_channels({ 0.5, -0.5 }, 2), 0)   -- ties: lower index first
  A.eq(2, X.count_above({ 0.5, -0.6, 0.51, 0.2 }, 0.5))
  A.eq(3, X.list_amax({ 1, -3, 2 }))
  local nan = X.list_amax({ 1, 0 / 0 })
  A.truthy(nan ~= nan, "NaN propagates")
end)

A.test("overflow counts by hand (RNE boundaries)", function()
  -- e4m3fn: max 448; 464 is the tie between 448 and (non-existent) 480 and stays 448
  A.eq(0, X.count_overflow({ 448, 464, -464 }, 1, "e4m3fn"))
  A.eq(2, X.count_overflow({ 464.0001, -500, 1 }, 1, "e4m3fn"))
  A.eq(1, X.count_overflow({ 100, 200 }, 2.5, "e4m3fn"))            -- 500 overflows, 250 does not
  A.eq(0, X.count_overflow({ 0 / 0 }, 1, "e4m3fn"))                 -- NaN is not an overflow
  -- e5m2: max 57344; the tie 61440 rounds to the even neighbour 65536 = inf
  A.eq(1, X.count_overflow({ 61440, 61439 }, 1, "e5m2"))
  A.eq(1, X.count_overflow(T.tensor{ { 1, 2 }, { 3, 1000 } }, 0.5, "e4m3fn"))
  A.raises(function() X.overflow_bound("e3m4") end, "e4m3fn or e5m2")
  -- the hand boundaries agree with the FP8 module's casts
  local x = T.tensor{ 448, 464, 464.5, 470, -470 }
  local c = fp8.cast(x, "e4m3fn"):totable()
  A.eq(448, c[1]); A.eq(448, c[2]); A.truthy(c[3] ~= c[3], "464.5 -> NaN"); A.truthy(c[5] ~= c[5], "-470 -> NaN")
  local e = fp8.cast(T.tensor{ 61439, 61440 }, "e5m2"):totable()
  A.eq(57344, e[1]); A.eq(math.huge, e[2])
  A.eq(3, X.count_overflow(x, 1, "e4m3fn"))
end)

A.test("delayed-scaling surprise", function()
  A.near(1.0, X.surprise({}, 5, 16), 0)
  A.near(2.0, X.surprise({ 1, 3, 2 }, 6, 16), 1e-12)
  A.near(3.0, X.surprise({ 10, 1, 2 }, 6, 2), 1e-12)   -- only the last 2 entries count
end)

A.test("amax, overflows and h of a tiny FP8 model against hand computation", function()
  -- one SwiGLU by hand, fp32: h and its amax; the model's statistics hook must agree
  local m = nn.Llama{ vocab = 7, dim = 8, layers = 1, heads = 2, ffn_dim = 8, seq_len = 4, seed = 5 }
  local ids = T.tensor({ { 1, 2, 3, 4 } }):int()
  m:collect_stats(true)
  m:forward(ids)
  m:collect_stats(false)
  local probe = X.probe(nn, m.config)
  local p = probe:run(m, ids)
  A.near(m.blocks[1].mlp.h_amax, p[1].amax, 1e-6, "probe amax = forward amax (fp32)")
  A.near(X.list_amax(p[1].channel_amax), p[1].amax, 0, "amax = max of channel amaxes")
  A.allclose(X.cosines(m.blocks[1].mlp.w1.weight, m.blocks[1].mlp.w2.weight), p[1].cos, 1e-12)
  -- the same statistic through the FP8 path's fp8.swiglu (numerics bf16: h_amax from its info)
  local mb = nn.Llama{ vocab = 7, dim = 8, layers = 1, heads = 2, ffn_dim = 8, seq_len = 4, seed = 5, numerics = "bf16" }
  mb:collect_stats(true)
  mb:forward(ids)
  mb:collect_stats(false)
  A.truthy(mb.blocks[1].mlp.h_amax > 0, "h_amax recorded through fp8.swiglu")
  A.near(m.blocks[1].mlp.h_amax, mb.blocks[1].mlp.h_amax, 0.05 * m.blocks[1].mlp.h_amax, "bf16 h_amax near the fp32 one")
  -- h by hand from the probe's normalised input would need the attention; instead check the
  -- fp8 recipe's saturation count against the hand count on a crafted input
  local r = fp8.linear_recipe{ numerics = "fp8", scaling = "delayed", history = 4, margin = 0, saturate = true }
  local w = T.tensor{ { 1, 0 }, { 0, 1 } }
  local x1 = T.tensor{ { 1, 2 } }
  fp8.linear(x1, w, r)                  -- scale 1 on the first use; amax 2 enters the history
  local x2 = T.tensor{ { 3, 1.9 } }     -- delayed scale 448/2 = 224: 3*224 = 672 overflows, 1.9*224 does not
  fp8.linear(x2, w, r)
  local st = r:stats()
  A.near(224, st.input.scale, 1e-4, "delayed scale")
  A.eq(X.count_overflow(x2, st.input.scale, "e4m3fn"), st.input.saturated, "saturated count = hand count")
  A.eq(1, st.input.saturated)
  A.near(3, st.input.amax, 1e-6)
end)

local function run_script(script, args)
  local exe = os.getenv("REPRO_BINARY") or arg[-1] or "repro"
  if exe:find("/", 1, true) and exe:sub(1, 1) ~= "/" then exe = (os.getenv("PWD") or ".") .. "/" .. exe end
  local cmd = string.format("cd %s && REPRO_THREADS=1 REPRO_GNUPLOT=true %s %s %s >%s/out.txt 2>%s/err.txt", U.shell_quote(U.source_dir()),
    U.shell_quote(exe), script, args, tmp, tmp)
  local ok = U.run(cmd)
  local out, err = U.read_file(tmp .. "/out.txt") or "", U.read_file(tmp .. "/err.txt") or ""
  if not ok then error(script .. " failed:\n" .. out .. "\n" .. err, 0) end
  return out
end

-- The smoke presets (seconds); gnuplot stubbed by `true`: the figures' data
-- and scripts are written, nothing is drawn.
local SMOKE = "--preset smoke"

A.test("smoke: fp8_instability, every configuration, a few steps", function()
  local out = run_script("experiments/fp8_instability.lua", SMOKE .. " --out " .. tmp .. "/inst")
  for _, run in ipairs { "bf16", "fp8_swiglu", "fp8_smooth_token", "fp8_smooth_channel", "fp8_smooth_output",
                         "fp8_h_bf16", "fp8_te", "fp8_moments", "fp8_current", "fp8_nonsat_switch" } do
    A.truthy(out:find("\n" .. run .. " ", 1, true), "summary names " .. run)
    local dir = tmp .. "/inst/" .. run .. ".s1/"
    A.truthy(U.exists(dir .. "log.tsv") and U.exists(dir .. "probe.tsv"), run .. " log and probe")
    local L = X.read_columns(dir .. "log.tsv")
    for _, c in ipairs { "h_amax.1", "jump_h.1", "clamp_h.1", "flush_h.1", "clamp_w3w.1", "clamp_in", "clamp_w",
                         "clamp_g", "clamp_bwd", "flush_in" } do
      A.truthy(L[c], run .. " column " .. c)
    end
    local fp8run = run ~= "bf16"
    local any = 0
    for i = 1, L._n do any = any + L.clamp_in[i] + L.clamp_w[i] + L.clamp_g[i] + L.flush_in[i] end
    if not fp8run then A.eq(0, any, "bf16 has no FP8 casts to count") end
    local P = X.read_columns(dir .. "probe.tsv")
    A.truthy(P._n >= 2 and P.kurt_max[1] >= 1, run .. " probe: channel kurtosis of h (>= 1 always)")
  end
  -- h in bf16: the W3 input is never an FP8 cast
  local H = X.read_columns(tmp .. "/inst/fp8_h_bf16.s1/log.tsv")
  for i = 1, H._n do A.eq(0, H["clamp_h.1"][i] + H["flush_h.1"][i], "h_bf16: no FP8 cast of h") end
  A.truthy(out:find("fp8_instability [smoke]", 1, true), "summary names the preset")
  A.truthy(out:find("revision: ", 1, true), "summary names the git revision")
  A.truthy(out:find("No arm diverged or degraded.", 1, true) or out:find("Arms that diverged or degraded:", 1, true),
    "summary states the verdict")
  for _, f in ipairs { "loss", "diagnostics", "alignment" } do
    A.truthy(U.exists(tmp .. "/inst/figures/" .. f .. ".tsv") and U.exists(tmp .. "/inst/figures/" .. f .. ".gp"), f .. " figure data")
  end
  A.truthy(not U.exists(U.join(U.source_dir(), "figures/fp8_instability/smoke")), "the smoke preset never publishes")
  -- figures redraw from the saved TSVs alone
  out = run_script("experiments/fp8_instability.lua", SMOKE .. " --figures_only true --out " .. tmp .. "/inst")
  A.truthy(out:find("fp8_smooth_token", 1, true), "redraw prints the summary")
  -- a setting that differs from the preset is named in the titles; a sweep draws lr_sweep
  run_script("experiments/fp8_instability.lua", SMOKE .. " --steps 3 --runs bf16 --lr_factors 1,2 --out " .. tmp .. "/inst3")
  local gp = U.read_file(tmp .. "/inst3/figures/loss.gp")
  A.truthy(gp:find("preset smoke, changed: lr_factors=1,2, runs=bf16, steps=3", 1, true), "title names the changed settings")
  A.truthy(U.exists(tmp .. "/inst3/figures/lr_sweep.gp") and U.exists(tmp .. "/inst3/bf16@lr0.02.s1/log.tsv"), "lr sweep")
end)

A.test("fp8exp: seed statistics and the pre-registered verdict", function()
  local m, sd = X.mean_sd { 1, 2, 3 }
  A.near(2, m, 1e-12); A.near(1, sd, 1e-12)
  A.eq("ok", (X.verdict({ 2.02 }, { 1.99, 2.0, 2.01 })), "within 3 sd")
  A.eq("degraded", (X.verdict({ 2.04 }, { 1.99, 2.0, 2.01 })), "above 3 sd")
  A.eq("diverged", (X.verdict({ 2.0, 0 / 0 }, { 2.0 })), "a NaN")
  local k = X.channel_kurtosis(repro.tensor.tensor{ { 1, 5 }, { -1, 5 }, { 1, 5 }, { -1, 5 } })
  A.near(1, k[1], 1e-6, "a symmetric two-point channel has kurtosis 1")
  A.eq(0, k[2], "a constant channel")
end)

A.test("smoke: fp8_adam_moments and fp8_mechanism", function()
  local out = run_script("experiments/fp8_adam_moments.lua", SMOKE .. " --out " .. tmp .. "/mom")
  A.truthy(out:find("e4m3fn", 1, true) and out:find("on par with BF16", 1, true), "table with the paper's claim")
  A.truthy(out:find("1 layer,", 1, true), "singular for one layer")
  local t = X.read_columns(tmp .. "/mom/moments.tsv")
  A.eq(9, t._n, "nine (m, v) pairs")
  out = run_script("experiments/fp8_mechanism.lua", SMOKE .. " --out " .. tmp .. "/mech")
  A.truthy(out:find("slope", 1, true), "mechanism summary")
  A.truthy(U.exists(tmp .. "/mech/figures/mechanism.tsv"), "mechanism figure data")
  local L = X.read_columns(tmp .. "/mech/mechanism_log.tsv")
  A.eq(2 * (20 / 5 + 1), L._n, "both runs recorded at steps 0, 5, ..., 20")
end)

U.run("rm -rf " .. U.shell_quote(tmp))
A.done("test_fp8_experiments")
