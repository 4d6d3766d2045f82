-- experiments/fp8_instability.lua: FP8 training instability from SwiGLU
-- weight alignment, and the Smooth-SwiGLU fix (Fishman, Chmiel, Banner,
-- Soudry, "Scaling FP8 training to trillion-token LLMs", arXiv 2409.12517).
--
-- Runs, same seed, same initialisation, same batches (a small Llama on
-- character-level Tiny Shakespeare, AdamW with weight decay):
--   bf16                        bf16 numerics, SwiGLU (the reference)
--   fp8_delayed                 FP8 (E4M3 forward, E5M2 gradients), delayed scaling, SwiGLU
--   fp8_delayed_smooth_channel  same, Smooth-SwiGLU with per-channel scales
--   fp8_delayed_smooth_token    same, Smooth-SwiGLU with per-token scales
--   fp8_current                 FP8, current (just-in-time) scaling, SwiGLU
-- The embedding and the output head stay fp32 (nn.Llama's FP8 recipe).
--
-- Casts: `saturate` (default false in both presets) is stated in every figure
-- title and in the summary. Non-saturating is the setting in which an
-- overflow is a failure: E4M3 gives NaN and E5M2 gives inf, as ml_dtypes.
-- A run DIVERGES when its training loss is not finite (forward overflow) or a
-- gradient is not finite (backward overflow; the optimizer refuses the step).
-- Nothing is injected: every overflow comes out of training.
--
-- Why this regime (pilot runs, documented in docs/fp8.md): at this scale,
-- with non-saturating casts, delayed scaling with margin 0 or 1 overflows at
-- step 2 (the first delayed scale comes from one step's amax, and activations
-- grow several-fold per step at the start), and with margin 2 at step 24 of
-- the warm-up, whatever the MLP. The fast preset therefore uses margin 3
-- (headroom 2^3 = 8x over the amax history), a 100-step linear warm-up, a
-- large learning rate (1e-2) and weight decay 0.1, so that growth of the
-- activations after the warm-up, not the start-up transient, decides.
local repro = require "repro"
local T, nn, optim, fp8, plot = repro.tensor, repro.nn, repro.optim, repro.fp8, repro.plot
local U = repro.util
local X = require "repro.fp8exp"
local Logger = require "repro.train.logger"

local RUN_NAMES = { "bf16", "fp8_delayed", "fp8_delayed_smooth_channel", "fp8_delayed_smooth_token", "fp8_current" }
local ALL_RUNS = table.concat(RUN_NAMES, ",")
local function preset(t)
  local p = { lr = 1e-2, warmup = 100, weight_decay = 0.1, beta1 = 0.9, beta2 = 0.95, grad_clip = 1.0,
              margin = 3, history = 16, saturate = false, runs = ALL_RUNS, align_run = "bf16", figdir = "",
              figures_only = false }
  for k, v in pairs(t) do p[k] = v end
  return p
end
local FAST = { steps = 1200, dim = 64, layers = 2, heads = 4, ffn = 176, seq_len = 64, batch = 16,
               eval_every = 200, eval_batches = 4, probe_every = 50 }
local function with(base, t)
  local p = {}
  for k, v in pairs(base) do p[k] = v end
  for k, v in pairs(t) do p[k] = v end
  return preset(p)
end
local exp = repro.experiment.new{
  name = "fp8_instability", default = "fast", script = "experiments/fp8_instability.lua",
  cosmetic = { "figdir", "figures_only" },
  about = "Reproduces the FP8 training instability of Fishman et al. 2024 (arXiv 2409.12517) at CPU scale:\n"
    .. "a small Llama on character-level Tiny Shakespeare trained in bf16 and in FP8 (E4M3 forward, E5M2\n"
    .. "gradients) with delayed or current scaling, with SwiGLU and with Smooth-SwiGLU, same seed and batches.\n"
    .. "Records the SwiGLU output outliers, the W1/W2 alignment and every FP8 overflow, and the step a run\n"
    .. "diverges at (non-saturating casts: an overflow is NaN/inf).",
  times = { smoke = "about 10 s (the test's preset)", fast = "about 5 min (263 s of training measured)",
            fast_saturating = "about 4 min (228 s of training measured)", paper = "hours (not run by CI)" },
  presets = {
    smoke = with(FAST, { steps = 8, dim = 16, layers = 1, heads = 2, ffn = 32, seq_len = 16, batch = 2,
                         warmup = 4, eval_every = 4, eval_batches = 1, probe_every = 4 }),
    fast = with(FAST, {}),
    -- fast_saturating: the fast preset with saturating casts (overflow clamps to
    -- +-max, the usual FP8-training convention) and margin 0: an overflow then
    -- loses the outlier instead of ending the run; the counts show what is lost.
    fast_saturating = with(FAST, { margin = 0, saturate = true }),
    -- paper: a larger, longer run (hours on 2 cores); not the paper's scale
    -- (Llama2-7B, 2T tokens) but the same recipe. Not run by default.
    paper = with(FAST, { steps = 20000, dim = 256, layers = 6, heads = 8, ffn = 688, seq_len = 256, batch = 32,
                         lr = 3e-3, warmup = 500, eval_every = 500, eval_batches = 8, probe_every = 250 }),
  },
  options = {
    steps = { help = "training steps per run", min = 1 },
    dim = { help = "model width", min = 1 },
    layers = { help = "transformer blocks", min = 1 },
    heads = { help = "attention heads (divide dim)", min = 1 },
    ffn = { help = "SwiGLU hidden width", min = 1 },
    seq_len = { help = "tokens per sequence", min = 1 },
    batch = { help = "sequences per batch", min = 1 },
    lr = { help = "peak learning rate", gt = 0 },
    warmup = { help = "linear warm-up steps", min = 0 },
    weight_decay = { help = "AdamW weight decay", min = 0 },
    beta1 = { help = "AdamW beta1", min = 0, lt = 1 },
    beta2 = { help = "AdamW beta2", min = 0, lt = 1 },
    grad_clip = { help = "global gradient-norm clip (0: off)", min = 0 },
    margin = { help = "delayed scaling margin: headroom 2^margin over the amax history", min = 0, max = 30 },
    history = { help = "delayed scaling amax history length", min = 1 },
    saturate = { help = "saturating FP8 casts (overflow clamps to max instead of NaN/inf)" },
    eval_every = { help = "steps between validation evaluations", min = 1 },
    eval_batches = { help = "validation batches per evaluation", min = 1 },
    probe_every = { help = "steps between fp32 probes of the W1/W2 alignment", min = 1 },
    runs = { help = "the runs to train", list = true, choices = RUN_NAMES },
    align_run = { help = "the run whose alignment is drawn", choices = RUN_NAMES },
    figdir = { help = "folder for the figures (default: figures/ for the preset unchanged, else --out)" },
    figures_only = { help = "redraw the figures from the TSVs of an earlier run in --out, train nothing" },
  },
  check = function(c)
    if c.dim % c.heads ~= 0 then
      return string.format("invalid --heads %d: expected a divisor of --dim %d", c.heads, c.dim)
    end
  end,
}
local cfg = exp.config

local RUNS = {
  bf16 = { numerics = "bf16", mlp = "swiglu", label = "bf16, SwiGLU" },
  fp8_delayed = { numerics = "fp8", scaling = "delayed", mlp = "swiglu", label = "fp8 delayed, SwiGLU" },
  fp8_delayed_smooth_channel = { numerics = "fp8", scaling = "delayed", mlp = "smooth_swiglu", smooth = "channel",
                                 label = "fp8 delayed, Smooth-SwiGLU (channel)" },
  fp8_delayed_smooth_token = { numerics = "fp8", scaling = "delayed", mlp = "smooth_swiglu", smooth = "token",
                               label = "fp8 delayed, Smooth-SwiGLU (token)" },
  fp8_current = { numerics = "fp8", scaling = "current", mlp = "swiglu", label = "fp8 current, SwiGLU" },
}
local COLORS = { bf16 = "#7b3294", fp8_delayed = "#d7191c", fp8_delayed_smooth_channel = "#2b83ba",
                 fp8_delayed_smooth_token = "#1a9641", fp8_current = "#fdae61" }
local run_names = {}
for name in tostring(cfg.runs):gmatch("[^,]+") do run_names[#run_names + 1] = name end
local sat_text = cfg.saturate and "saturating casts (overflow clamps to max)" or
  "non-saturating casts (overflow gives NaN/inf)"
local tokens_per_step = cfg.batch * cfg.seq_len

local function make_model(run, vocab)
  local r = RUNS[run]
  return nn.Llama{ vocab = vocab, dim = cfg.dim, layers = cfg.layers, heads = cfg.heads, ffn_dim = cfg.ffn,
    seq_len = cfg.seq_len, mlp = r.mlp, numerics = r.numerics, seed = cfg.seed,
    fp8 = { scaling = r.scaling or "delayed", history = cfg.history, margin = cfg.margin, saturate = cfg.saturate,
            smooth = r.smooth } }
end

-- ---- one run -------------------------------------------------------------------------
-- A finished run (its result.txt) is skipped under --resume; an interrupted
-- one continues from its checkpoint: the trainer's state, its log and the
-- alignment probes up to that step, and the delayed-scaling history the
-- "surprise" statistic keeps (rebuilt from the log).
local function train_run(run)
  local dir = exp:path(run)
  local result_file = U.join(dir, "result.txt")
  if exp.resume and U.exists(result_file) then
    exp:skip_run(run, cfg.steps)
    return true
  end
  local ctx = exp:begin_run(run, cfg.steps)
  local data = repro.data.shakespeare{ seq_len = cfg.seq_len, batch = cfg.batch, seed = cfg.seed }
  local model = make_model(run, data.vocab_size)
  model.stats = false   -- the alignment comes from the probe below, every probe_every steps
  local opt = optim.adamw(model:parameters(), { lr = cfg.lr, betas = { cfg.beta1, cfg.beta2 },
    weight_decay = cfg.weight_decay })
  U.mkdir_p(dir)
  local probe = X.probe(nn, model.config)
  local probe_ids = repro.data.shakespeare{ seq_len = cfg.seq_len, batch = cfg.batch, seed = cfg.seed + 4242 }:batch("val")
  local align_path = U.join(dir, "alignment.tsv")
  local align
  local function do_probe(step)
    for l, p in ipairs(probe:run(model, probe_ids)) do
      for c = 1, #p.cos do align:write{ step = step, layer = l, channel = c, cos = p.cos[c], h_channel_amax = p.channel_amax[c] } end
    end
  end
  local stats = {}
  local hist = {}
  for l = 1, cfg.layers do
    hist[l] = {}
    stats["h_amax." .. l] = function(m) return m.blocks[l].mlp.h_amax or 0 / 0 end
    stats["sat_h." .. l] = function(m) return X.fp8_step_stats(m).sat_h[l] end
    stats["surprise_h." .. l] = function(m)
      local h = m.blocks[l].mlp.h_amax or 0 / 0
      local s = X.surprise(hist[l], h, cfg.history)
      hist[l][#hist[l] + 1] = h
      return s
    end
  end
  stats.sat_fwd = function(m) return X.fp8_step_stats(m).sat_fwd end
  stats.sat_bwd = function(m) return X.fp8_step_stats(m).sat_bwd end   -- this step's backward (stats run after it)
  local function on_resume(start)
    align = Logger.open(align_path, { columns = { "step", "layer", "channel", "cos", "h_channel_amax" },
                                      resume_step = start })
    if start == 0 then do_probe(0) return end
    -- the surprise statistic's history: the logged h_amax of the steps done
    local L = X.read_columns(U.join(dir, "log.tsv"))
    for l = 1, cfg.layers do
      for i = 1, L._n do
        local h = L["h_amax." .. l][i]
        hist[l][i] = type(h) == "number" and h or 0 / 0
      end
    end
  end
  local last_step = 0
  local t0 = U.now()
  io.stderr:write(string.format("%s (%s; %s, margin %d, history %d)\n", ctx.label,
    RUNS[run].label, sat_text, cfg.margin, cfg.history))
  local res = repro.train{
    model = model, optimizer = opt, data = data, steps = cfg.steps, batch = cfg.batch,
    schedule = function(s) return cfg.lr * math.min(1, s / math.max(1, cfg.warmup)) end,
    eval_every = cfg.eval_every, eval_batches = cfg.eval_batches, grad_clip = cfg.grad_clip,
    log = U.join(dir, "log.tsv"), stats_every = 1, stats = stats,
    progress_every = math.max(1, cfg.steps // 6), progress = ctx,
    checkpoint = exp:checkpoint_dir(run), resume = exp.resume, on_resume = on_resume,
    on_step = function(step)
      last_step = step
      if step % cfg.probe_every == 0 then do_probe(step) end
    end,
  }
  local out = { run = run, time = U.now() - t0, final_val = res.final_val_loss }
  out.diverged, out.step = res.diverged, res.step
  if res.diverged_in == "forward" then
    out.kind = "forward (loss not finite)"
    out.where = X.saturation_report(model, { "input", "weight" })
  elseif res.diverged_in == "backward" then
    out.kind = "backward (gradient not finite)"
    out.where = X.saturation_report(model, { "grad_output" })
  end
  if last_step % cfg.probe_every ~= 0 then do_probe(last_step) end
  align:close()
  U.write_config(result_file, { run = run, diverged = out.diverged, step = out.step,
    kind = out.kind or "", where = out.where or "", final_val_loss = out.final_val or 0 / 0, seconds = out.time,
    saturate = cfg.saturate })
  return out
end

exp:run(function()
  local t_all = U.now()
  local results = {}
  -- --figures_only true: redraw from the TSVs of an earlier run in the same --out folder
  if not cfg.figures_only then exp:plan(#run_names, #run_names * cfg.steps) end
  for _, run in ipairs(run_names) do results[run] = cfg.figures_only and true or train_run(run) end
  exp:check_interrupt("the figures")

  -- ---- figures, from the saved TSVs ----------------------------------------------------
  local figdir = X.figdir(exp, cfg)
  local figs = {}
  local logs, res_of = {}, {}
  for _, run in ipairs(run_names) do
    logs[run] = X.read_columns(exp:path(run, "log.tsv"))
    res_of[run] = U.read_config(exp:path(run, "result.txt"))
  end
  local tag = string.format("[%s; %s]", exp:settings(), sat_text)
  local function div_text(run)
    local r = res_of[run]
    return r.diverged and string.format(" - DIVERGED at step %d", r.step) or " - no divergence"
  end

  -- running mean of the finite training losses (window 25 steps)
  local function smooth(v, w)
    local out, sum, q = {}, 0, {}
    for i, x in ipairs(v) do
      if x == x and x ~= math.huge then q[#q + 1] = x; sum = sum + x end
      if #q > w then sum = sum - table.remove(q, 1) end
      out[i] = #q > 0 and sum / #q or 0 / 0
    end
    return out
  end

  -- 1. loss against tokens
  do
    local series, ann, any_div = {}, {}, false
    for _, run in ipairs(run_names) do
      local L = logs[run]
      local xs, ys = {}, {}
      local sm = smooth(L.train_loss, 25)
      for i = 1, L._n do
        if L.train_loss[i] == L.train_loss[i] then xs[#xs + 1] = L.step[i] * tokens_per_step; ys[#ys + 1] = sm[i] end
      end
      if #xs == 0 then xs, ys = { 0 }, { 0 / 0 } end
      series[#series + 1] = { name = RUNS[run].label .. div_text(run), x = xs, y = ys, color = COLORS[run] }
      if res_of[run].diverged then
        any_div = true
        ann[#ann + 1] = { vline = res_of[run].step * tokens_per_step, text = run .. " diverges" }
      end
    end
    figs[#figs + 1] = plot.lines{ file = U.join(figdir, "loss.png"), width = 1000, height = 550,
      title = string.format("Training loss (running mean of 25 steps) %s%s", tag,
        any_div and "" or " - NO RUN DIVERGED"),
      xlabel = "tokens", ylabel = "training loss", series = series, annotations = ann }
  end

  -- 2. max |h| per layer, the delayed-scaling surprise, overflow counts
  do
    local panels = {}
    for l = 1, cfg.layers do
      local s = {}
      for _, run in ipairs(run_names) do
        local L = logs[run]
        s[#s + 1] = { name = "", x = L.step, y = L["h_amax." .. l], color = COLORS[run] }
      end
      panels[#panels + 1] = { kind = "lines", title = string.format("layer %d: max |SwiGLU output h| per step", l),
        xlabel = "step", ylabel = "max |h|", logy = true, series = s }
    end
    local s2 = {}
    for _, run in ipairs(run_names) do
      local L = logs[run]
      local y = {}
      for i = 1, L._n do
        local m = 0
        for l = 1, cfg.layers do local v = L["surprise_h." .. l][i]; if v == v and v > m then m = v end end
        y[i] = m
      end
      s2[#s2 + 1] = { name = RUNS[run].label, x = L.step, y = y, color = COLORS[run] }
    end
    panels[#panels + 1] = { kind = "lines", title = string.format("max|h| / max over the previous %d steps (all layers)", cfg.history),
      xlabel = "step", ylabel = "ratio", logy = true, series = s2, yrange = { 0.1, 4 * 2 ^ cfg.margin },
      annotations = { { hline = 2 ^ cfg.margin * 464 / 448, text = "E4M3 overflow under delayed scaling" } } }
    -- cumulative counts: every E4M3 forward overflow (solid) and those of h alone (dashed)
    local s3, grand = {}, 0
    for _, run in ipairs(run_names) do
      local L = logs[run]
      local all, honly, ca, ch = {}, {}, 0, 0
      for i = 1, L._n do
        local f = L.sat_fwd[i]
        if f == f then ca = ca + f end
        for l = 1, cfg.layers do local x = L["sat_h." .. l][i]; if x == x then ch = ch + x end end
        all[i], honly[i] = ca, ch
      end
      grand = grand + ca
      s3[#s3 + 1] = { name = "", x = L.step, y = all, color = COLORS[run] }
      s3[#s3 + 1] = { name = "", x = L.step, y = honly, color = COLORS[run], style = "dashed" }
    end
    panels[#panels + 1] = { kind = "lines", title = "cumulative E4M3 overflows: all fwd casts (solid), h (dashed)"
        .. (grand == 0 and " - NONE in any run" or ""),
      xlabel = "step", ylabel = "count", series = s3 }
    figs[#figs + 1] = plot.panels{ file = U.join(figdir, "outliers.png"), cols = 2, width = 1300, height = 420 * math.ceil(#panels / 2),
      title = "SwiGLU output outliers and FP8 overflows " .. tag, panels = panels }
  end

  -- 3. alignment (the align_run's fp32 probe of its weights)
  do
    local arun = results[cfg.align_run] and cfg.align_run or run_names[1]
    local A = X.read_columns(exp:path(arun, "alignment.tsv"))
    local steps_seen, by_step, seen = {}, {}, {}
    for i = 1, A._n do
      local s = A.step[i]
      if not by_step[s] then by_step[s] = {}; seen[s] = {}; steps_seen[#steps_seen + 1] = s end
      local b, key = by_step[s], A.layer[i] .. ":" .. A.channel[i]
      if not seen[s][key] then   -- one entry per (step, layer, channel), should a step be probed twice
        seen[s][key] = true
        b[#b + 1] = { layer = A.layer[i], channel = A.channel[i], cos = A.cos[i], h = A.h_channel_amax[i] }
      end
    end
    table.sort(steps_seen)
    local early = steps_seen[math.min(2, #steps_seen)]
    local late = steps_seen[#steps_seen]
    local function cos_at(s)
      local v = {}
      for _, e in ipairs(by_step[s]) do v[#v + 1] = e.cos end
      return v
    end
    local hist = { kind = "histogram", bins = 40, range = { -1, 1 }, title = "cos(w1_i, w2_i), all layers and channels",
      xlabel = "cosine", series = {
        { name = "step " .. steps_seen[1], values = cos_at(steps_seen[1]) },
        { name = "step " .. early, values = cos_at(early) },
        { name = "step " .. late, values = cos_at(late) } } }
    -- top channels: largest |cos| at the last probe
    local last = by_step[late]
    local order = {}
    for i = 1, #last do order[i] = i end
    table.sort(order, function(a, b)
      local x, y = math.abs(last[a].cos), math.abs(last[b].cos)
      if x ~= y then return x > y end
      return a < b
    end)
    local top = {}
    for k = 1, math.min(5, #order) do top[k] = last[order[k]] end
    local tseries = {}
    for _, t in ipairs(top) do
      local xs, ys = {}, {}
      for _, s in ipairs(steps_seen) do
        for _, e in ipairs(by_step[s]) do
          if e.layer == t.layer and e.channel == t.channel then xs[#xs + 1] = s; ys[#ys + 1] = e.cos end
        end
      end
      tseries[#tseries + 1] = { name = string.format("layer %d channel %d", t.layer, t.channel), x = xs, y = ys }
    end
    local scat = {}
    for l = 1, cfg.layers do
      local xs, ys = {}, {}
      for _, e in ipairs(last) do if e.layer == l then xs[#xs + 1] = e.cos; ys[#ys + 1] = e.h end end
      scat[#scat + 1] = { name = "layer " .. l, x = xs, y = ys }
    end
    figs[#figs + 1] = plot.panels{ file = U.join(figdir, "alignment.png"), cols = 3, width = 1650, height = 450,
      title = string.format("W1/W2 alignment in run %s (fp32 probe of its weights on a fixed batch) %s", arun, tag),
      panels = { hist,
        { kind = "lines", title = "the 5 most aligned channels at the end", xlabel = "step", ylabel = "cos(w1_i, w2_i)",
          series = tseries, yrange = { -1, 1 } },
        { kind = "scatter", title = "step " .. late .. ": outlier magnitude against alignment", xlabel = "cos(w1_i, w2_i)",
          ylabel = "max_t |h_ti| (channel amax)", logy = true, series = scat } } }
  end

  -- ---- summary ---------------------------------------------------------------------------
  local rows = {}
  for _, run in ipairs(run_names) do
    local L, r = logs[run], res_of[run]
    local tail, n, hmax, sat_h, sat_f, sat_b = 0, 0, 0, 0, 0, 0
    for i = 1, L._n do
      local v = L.train_loss[i]
      if i > L._n - 25 and v == v and v ~= math.huge then tail = tail + v; n = n + 1 end
      for l = 1, cfg.layers do
        local h = L["h_amax." .. l][i]
        if h == h and h > hmax then hmax = h end
        local s = L["sat_h." .. l][i]
        if s == s then sat_h = sat_h + s end
      end
      if L.sat_fwd[i] == L.sat_fwd[i] then sat_f = sat_f + L.sat_fwd[i] end
      if L.sat_bwd[i] == L.sat_bwd[i] then sat_b = sat_b + L.sat_bwd[i] end
    end
    rows[#rows + 1] = { run, cfg.saturate and "yes" or "no", n > 0 and tail / n or 0 / 0,
      (r.final_val_loss and r.final_val_loss == r.final_val_loss) and r.final_val_loss or "-",
      r.diverged and r.step or "-", r.diverged and r.kind or "-", hmax, sat_h, sat_f, sat_b, r.seconds }
  end
  local header = { "run", "saturate", "final_train_loss(25)", "final_val_loss", "diverged_at", "how", "max|h|",
    "ovf_h", "ovf_fwd", "ovf_bwd", "seconds" }
  local text = X.format_table(header, rows)
  local elapsed = U.now() - t_all
  local total = 0
  for _, r in ipairs(rows) do total = total + r[#r] end
  local head = string.format("fp8_instability [%s]: %d steps x %d tokens, dim %d, %d %s, ffn %d; %s; delayed scaling: margin %d, history %d (TE-style, max); %s",
    exp.pristine and exp.preset or exp:settings(), cfg.steps, tokens_per_step, cfg.dim, cfg.layers, cfg.layers == 1 and "layer" or "layers", cfg.ffn, sat_text, cfg.margin, cfg.history,
    cfg.figures_only and string.format("figures redrawn from saved TSVs; training took %.0f s", total)
      or string.format("%.0f s", elapsed))
  print(head)
  print(text)
  print("ovf_h: E4M3 overflows of the W3 input h (the SwiGLU output); ovf_fwd: all forward E4M3 casts (inputs + weights, incl. h);")
  print("ovf_bwd: E5M2 gradient casts.")
  local any_diverged = false
  for _, run in ipairs(run_names) do
    local r = res_of[run]
    if r.diverged then
      if not any_diverged then print("Where the divergences happened:") end
      any_diverged = true
      print(string.format("  %s: step %d, %s: %s", run, r.step, r.kind, r.where ~= "" and r.where or "(no cast reported)"))
    end
  end
  if not any_diverged then print("No run diverged.") end
  print("figures: " .. figdir .. "/{loss,outliers,alignment}.{png,svg}")
  for _, f in ipairs(figs) do if not f.rendered then print(X.figure_line(f)) end end
  U.write_file(exp:path("summary.txt"), head .. "\n" .. text .. "\n")
  U.write_file(U.join(figdir, "summary.txt"), head .. "\n" .. text .. "\n")
  exp:write_results{ seconds = elapsed, saturate = cfg.saturate }
end)
