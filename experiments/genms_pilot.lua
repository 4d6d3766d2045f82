-- experiments/genms_pilot.lua: calibration of the two language models of
-- experiments/genms.lua (the formula LM pi_hi and the CIF-writing LM)
-- before the arms are run: train one model at a given size and step count
-- on K of one seed and measure only what the models themselves produce
-- (never a claim's outcome): the share of formula draws that pass R_hi and
-- the share of CIF bodies that parse. docs/genms.md records what was run.
--
--   repro experiments/genms_pilot.lua formula STEPS BATCH DIM LAYERS [SEED]
--   repro experiments/genms_pilot.lua cif STEPS BATCH DIM LAYERS [SEED] [SHOTS]
local repro = require "repro"
local T, nn, U = repro.tensor, repro.nn, repro.util
local G = require "repro.genms"
local MT = require "repro.materials_train"
local M = assert(loadfile(U.join(U.source_dir(), "experiments/genms.lua")))("genms.module")
local X = M.internal

local kind, steps, batch, dim, layers = arg[1], tonumber(arg[2]), tonumber(arg[3]), tonumber(arg[4]), tonumber(arg[5])
local seed = tonumber(arg[6] or "101") -- a seed the final runs (1, 2, 3) do not use
local shots = {}
for v in (arg[7] or "0,1,2"):gmatch("%d+") do shots[#shots + 1] = tonumber(v) end
if not (kind == "formula" or kind == "cif") or not (steps and batch and dim and layers) then
  io.stderr:write("usage: genms_pilot.lua formula|cif STEPS BATCH DIM LAYERS [SEED] [SHOTS]\n")
  os.exit(2)
end
repro.manual_seed(seed)
local cfg = M.PRESETS.fast
cfg.cif.shots = shots
local D = M.load(seed, 0)
local seq = kind == "formula" and 160 or (shots[#shots] >= 2 and 448 or 300)
local pairs_ = kind == "formula" and X.formula_pairs(D, true, math.min(steps * batch, 20000), seed * 3 + 1, cfg)
  or X.cif_pairs(D, math.min(steps * batch, 20000), seed * 5 + 2, cfg)
local items = {}
for _, p in ipairs(pairs_) do if #p[1] + #p[2] <= seq then items[#items + 1] = p end end
local model = nn.Llama{vocab = G.VOCAB, dim = dim, layers = layers, heads = 4, seq_len = seq, seed = seed}
local fit = MT.fit{model = model, data = MT.Sampler{items = items, seed = seed + 3},
  loss = function(m, b)
    local L = 0
    for _, p in ipairs(b) do L = math.max(L, #p[1] + #p[2]) end
    local ids, tg = G.lm_batch(b, L)
    return T.cross_entropy(m(ids), tg, {ignore_index = G.PAD})
  end, steps = steps, batch = batch, lr = 3e-3, warmup = math.min(50, steps // 10), quiet = true}
local t_eval = U.timer()
-- evaluation requests as the experiment builds them (fast preset, this seed)
local reqs = X.eval_requests(cfg, D, seed)
local line
if kind == "formula" then
  local ok, n, reasons = 0, 0, {}
  for ri, req in ipairs(reqs) do
    local ex = G.retrieve(D.dbK, req, cfg.n_rag, nil, T.Generator(seed * 7 + ri))
    for _, d in ipairs(G.lm_sample(model, G.formula_prompt(req, ex), 25, {steps = 16, generator = T.Generator(seed + ri)})) do
      n = n + 1
      local r = G.r_hi(req, d.text, D.dbK)
      if r.ok then ok = ok + 1 end
      local why = r.ok and "pass" or r.reason:gsub(" .*", "")
      reasons[why] = (reasons[why] or 0) + 1
    end
  end
  local rs = {}
  for k, v in pairs(reasons) do rs[#rs + 1] = k .. " " .. v end
  table.sort(rs)
  line = string.format("R_hi pass %.3f (%d/%d); %s", ok / n, ok, n, table.concat(rs, ", "))
else
  local parts = {}
  for _, k in ipairs(shots) do
    local ok, n = 0, 0
    for ri, req in ipairs(reqs) do
      local p = X.cif_prompt(req, X.cif_examples(D, req, k, nil, T.Generator(seed * 11 + ri)))
      for _, o in ipairs(G.lm_sample(model, p, 10, {steps = 120, stop = "$", generator = T.Generator(seed + ri)})) do
        n = n + 1
        if G.read_body(o.text) then ok = ok + 1 end
        if os.getenv("PILOT_SHOW") and n <= 3 then io.stderr:write(("%q\n"):format(p .. o.text)) end
      end
    end
    parts[#parts + 1] = string.format("%d-shot parse %.3f (%d/%d)", k, ok / n, ok, n)
  end
  line = table.concat(parts, ", ")
end
print(string.format("pilot %s steps=%d batch=%d dim=%d layers=%d seed=%d pairs=%d final_loss=%.3f train=%.0fs eval=%.0fs: %s",
  kind, steps, batch, dim, layers, seed, #items, (function() local l = fit.result.losses; local s, k = 0, 0 for i = math.max(1, #l - 19), #l do s, k = s + l[i], k + 1 end return s / math.max(k, 1) end)(), fit.seconds, t_eval:elapsed(), line))
