-- experiments/fp8_instability.lua: FP8 training with SwiGLU and
-- Smooth-SwiGLU, the paper's recipe and its controls (Fishman, Chmiel,
-- Banner, Soudry, "Scaling FP8 training to trillion-token LLMs", arXiv
-- 2409.12517), several seeds each; the claims and what counts as reproduced
-- are pre-registered in docs/fp8.md.
--
-- Arms (same seeds, initialisations and batches across arms; seed k uses
-- --seed + k - 1 for the model and the data):
--   bf16                 bf16 numerics, SwiGLU (the reference)
--   fp8_swiglu           the paper's recipe (below), SwiGLU
--   fp8_smooth_token     + Smooth-SwiGLU, scale per token from max|x W2ᵀ| (the reference code)
--   fp8_smooth_channel   + Smooth-SwiGLU, scale per channel from max|x W2ᵀ| (the paper's equation)
--   fp8_smooth_output    + Smooth-SwiGLU, scale per channel from max|h| (the statistic used before)
--   fp8_h_bf16           the paper's recipe with W3's input h kept in bf16 (the reviewer's control)
--   fp8_te               TransformerEngine's delayed scaling: window 1024, margin 0, no pow2,
--                        round-to-nearest gradients, E4M3 backward operands; SwiGLU
--   fp8_moments          the paper's recipe, SwiGLU, AdamW with m in E4M3 and v in E5M2
--   fp8_current          current (just-in-time) scaling, SwiGLU
--   fp8_nonsat_switch    current scaling for --switch_step steps, then the paper's delayed
--                        scaling with NON-saturating casts (an overflow is NaN/inf)
-- The paper's recipe (the defaults of the options below): E4M3 forward, E5M2
-- gradients rounded stochastically, E5M2 copies of x and W in the backward
-- products, delayed scaling with margin 0, window = the previous training step
-- (history 1; evaluation forwards never touch it), scales rounded down to a
-- power of two, saturating casts. The embedding and the head stay fp32.
--
-- Divergence is defined by the loss (docs/fp8.md): an arm DIVERGED when a
-- seed's training loss is not finite, and DEGRADED when its mean final
-- training loss exceeds bf16's by more than 3 bf16 seed standard deviations.
-- Nothing is injected: every outlier, clamp and overflow comes out of training.
local repro = require "repro"
local T, nn, optim, fp8, plot = repro.tensor, repro.nn, repro.optim, repro.fp8, repro.plot
local U = repro.util
local X = require "repro.fp8exp"
local Logger = require "repro.train.logger"

local RUNS = {
  bf16 = { numerics = "bf16", label = "bf16, SwiGLU" },
  fp8_swiglu = { paper = true, label = "fp8 paper recipe, SwiGLU" },
  fp8_smooth_token = { paper = true, smooth = "token", statistic = "linear",
                       label = "fp8, Smooth-SwiGLU (token, max|xW2|)" },
  fp8_smooth_channel = { paper = true, smooth = "channel", statistic = "linear",
                         label = "fp8, Smooth-SwiGLU (channel, max|xW2|)" },
  fp8_smooth_output = { paper = true, smooth = "channel", statistic = "output",
                        label = "fp8, Smooth-SwiGLU (channel, max|h|)" },
  fp8_h_bf16 = { paper = true, h_bf16 = true, label = "fp8, SwiGLU, h (W3 input) in bf16" },
  fp8_te = { te = true, label = "fp8 TE delayed (1024, margin 0), SwiGLU" },
  fp8_moments = { paper = true, moments = true, label = "fp8, SwiGLU, Adam m E4M3 / v E5M2" },
  fp8_current = { current = true, label = "fp8 current scaling, SwiGLU" },
  fp8_nonsat_switch = { switch = true, label = "fp8 current, then delayed non-saturating" },
}
local RUN_NAMES = { "bf16", "fp8_swiglu", "fp8_smooth_token", "fp8_smooth_channel", "fp8_smooth_output",
                    "fp8_h_bf16", "fp8_te", "fp8_moments", "fp8_current", "fp8_nonsat_switch" }
local COLORS = { bf16 = "#000000", fp8_swiglu = "#d7191c", fp8_smooth_token = "#1a9641", fp8_smooth_channel = "#2b83ba",
                 fp8_smooth_output = "#abd9e9", fp8_h_bf16 = "#7b3294", fp8_te = "#fdae61", fp8_moments = "#a6611a",
                 fp8_current = "#999999", fp8_nonsat_switch = "#e7298a" }
local FAST_RUNS = "bf16,fp8_swiglu,fp8_smooth_token,fp8_smooth_channel,fp8_smooth_output,fp8_h_bf16,fp8_te,fp8_moments"
local HUNT_RUNS = "bf16,fp8_swiglu,fp8_smooth_token,fp8_h_bf16"

local function preset(t)
  local p = { lr = 1e-2, lr_factors = { 1 }, warmup = 100, weight_decay = 0.1, beta1 = 0.9, beta2 = 0.95, grad_clip = 1.0,
              margin = 0, history = 1, pow2 = true, saturate = true, grad_rounding = "stochastic",
              backward_operands = "e5m2", te_history = 1024, switch_step = 100, seeds = 3,
              tokenizer = "char", bos = false, runs = FAST_RUNS, align_run = "bf16", figdir = "", figures_only = false }
  for k, v in pairs(t) do p[k] = v end
  return p
end
local FAST = { steps = 800, dim = 64, layers = 2, heads = 4, ffn = 176, seq_len = 64, batch = 16,
               eval_every = 200, eval_batches = 4, probe_every = 50 }
local function with(base, t)
  local p = {}
  for k, v in pairs(base) do p[k] = v end
  for k, v in pairs(t) do p[k] = v end
  return preset(p)
end
local exp = repro.experiment.new{
  name = "fp8_instability", default = "fast", script = "experiments/fp8_instability.lua", parts = true,
  cosmetic = { "figdir", "figures_only" },
  about = "Reproduces the FP8 training instability of Fishman et al. 2024 (arXiv 2409.12517) at CPU scale:\n"
    .. "a small Llama on Tiny Shakespeare trained in bf16 and in FP8 with the paper's recipe (delayed scaling,\n"
    .. "margin 0, power-of-two scales, the previous step's amax, stochastic E5M2 gradients, saturating casts),\n"
    .. "with SwiGLU and Smooth-SwiGLU (both statistics), and the paper's controls, several seeds each.\n"
    .. "Records per layer and step max|h|, its jump against the amax window, the fraction of h flushed to\n"
    .. "zero, every clamp, the channel kurtosis of h and the W1/W2 cosine of the outlier channels.",
  -- one 800-step paper-recipe run at d = 64 takes about 60 s on one idle core; the runs go to
  -- one process per core (--workers)
  times = { smoke = "about 10 s (the test's preset)", fast = "about 13 min on 2 idle cores (8 arms x 3 seeds, 2 processes)",
            hunt_lr = "about 35 min on 2 idle cores (4 arms x 5 learning rates x 3 seeds)",
            hunt_lr_cheap = "about 3 min (2 arms x 2 seeds at lr 1.6e-1)",
            hunt_width_128 = "about 15 min on 2 idle cores", hunt_width_256 = "about 32 min on 2 idle cores", hunt_width_384 = "about 1.5 h on 2 cores",
            hunt_tokens = "about 10 min on 2 idle cores", hunt_nonsat = "about 3 min (the switch arm diverges at once)",
            paper = "hours (not run by CI)" },
  presets = {
    smoke = with(FAST, { steps = 8, dim = 16, layers = 1, heads = 2, ffn = 32, seq_len = 16, batch = 2, seeds = 1,
                         warmup = 4, eval_every = 4, eval_batches = 1, probe_every = 4, switch_step = 4,
                         runs = table.concat(RUN_NAMES, ",") }),
    fast = with(FAST, {}),
    -- the hunt (docs/fp8.md): each a committed preset; run whichever can be afforded
    hunt_lr = with(FAST, { runs = HUNT_RUNS, lr_factors = { 1, 2, 4, 8, 16 } }),   -- lr 1e-2 ... 1.6e-1
    hunt_lr_cheap = with(FAST, { runs = "bf16,fp8_swiglu", lr_factors = { 16 }, seeds = 2 }),   -- lr 1.6e-1
    hunt_width_128 = with(FAST, { runs = HUNT_RUNS, dim = 128, ffn = 344 }),
    hunt_width_256 = with(FAST, { runs = HUNT_RUNS, dim = 256, ffn = 688, heads = 8 }),
    hunt_width_384 = with(FAST, { runs = HUNT_RUNS, dim = 384, ffn = 1024, heads = 8 }),
    hunt_tokens = with(FAST, { runs = HUNT_RUNS, tokenizer = "bpe", bos = true, seq_len = 256, batch = 4 }),
    hunt_nonsat = with(FAST, { runs = "bf16,fp8_nonsat_switch" }),
    -- paper: a larger, longer run (hours on 2 cores); not the paper's scale
    -- (Llama2-7B, 2T tokens) but the same recipe. Not run by default.
    paper = with(FAST, { steps = 20000, dim = 256, layers = 6, heads = 8, ffn = 688, seq_len = 256, batch = 32,
                         lr = 3e-3, warmup = 500, eval_every = 500, eval_batches = 8, probe_every = 250, seeds = 1 }),
  },
  options = {
    steps = { help = "training steps per run", min = 1 },
    dim = { help = "model width", min = 1 },
    layers = { help = "transformer blocks", min = 1 },
    heads = { help = "attention heads (divide dim)", min = 1 },
    ffn = { help = "SwiGLU hidden width", min = 1 },
    seq_len = { help = "tokens per sequence", min = 2 },
    batch = { help = "sequences per batch", min = 1 },
    lr = { help = "peak learning rate", gt = 0 },
    lr_factors = { help = "learning-rate sweep: every arm at lr times each factor", gt = 0 },
    warmup = { help = "linear warm-up steps", min = 0 },
    weight_decay = { help = "AdamW weight decay", min = 0 },
    beta1 = { help = "AdamW beta1", min = 0, lt = 1 },
    beta2 = { help = "AdamW beta2", min = 0, lt = 1 },
    grad_clip = { help = "global gradient-norm clip (0: off)", min = 0 },
    margin = { help = "delayed scaling margin of the paper arms: headroom 2^margin", min = 0, max = 30 },
    history = { help = "amax window of the paper arms, in training steps", min = 1 },
    pow2 = { help = "paper arms: scales rounded down to a power of two" },
    saturate = { help = "paper arms: saturating casts (overflow clamps to max instead of NaN/inf)" },
    grad_rounding = { help = "paper arms: rounding of the E5M2 gradient", choices = { "nearest", "stochastic" } },
    backward_operands = { help = "paper arms: format of x and W in the backward products",
                          choices = { "forward", "e5m2", "e4m3fn" } },
    te_history = { help = "amax window of the fp8_te arm", min = 1 },
    switch_step = { help = "fp8_nonsat_switch: steps of current scaling before the switch", min = 1 },
    seeds = { help = "seeds per arm", min = 1 },
    tokenizer = { help = "Tiny Shakespeare tokens", choices = { "char", "bpe" } },
    bos = { help = "a BOS token at the start of every sequence" },
    eval_every = { help = "steps between validation evaluations", min = 1 },
    eval_batches = { help = "validation batches per evaluation", min = 1 },
    probe_every = { help = "steps between fp32 probes (alignment, kurtosis)", min = 1 },
    runs = { help = "the arms to train", list = true, choices = RUN_NAMES },
    align_run = { help = "the arm whose alignment is drawn", choices = RUN_NAMES },
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

local arm_names = {}
for name in tostring(cfg.runs):gmatch("[^,]+") do arm_names[#arm_names + 1] = name end
local lrs = {}
for i, f in ipairs(cfg.lr_factors) do lrs[i] = cfg.lr * f end
local sweep = #lrs > 1
local tokens_per_step = cfg.batch * cfg.seq_len
local recipe_text = string.format("paper recipe: delayed, margin %d, window %d step%s%s, %s casts, %s E5M2 grads, bwd operands %s",
  cfg.margin, cfg.history, cfg.history == 1 and "" or "s", cfg.pow2 and ", pow2 scales" or "",
  cfg.saturate and "saturating" or "non-saturating", cfg.grad_rounding, cfg.backward_operands)

-- one training run = (arm, lr, seed)
local function run_id(arm, lr, k)
  return arm .. (sweep and string.format("@lr%g", lr) or "") .. ".s" .. k
end
local points = {}
for _, arm in ipairs(arm_names) do
  for _, lr in ipairs(lrs) do
    for k = 1, cfg.seeds do points[#points + 1] = { arm = arm, lr = lr, k = k, id = run_id(arm, lr, k) } end
  end
end

local function fp8_options(r)
  local o
  if r.te then
    o = { scaling = "delayed", history = cfg.te_history, margin = 0, saturate = true }
  elseif r.current or r.switch then
    o = { scaling = "current", margin = 0, saturate = not r.switch }
  else
    o = { scaling = "delayed", history = cfg.history, margin = cfg.margin, pow2 = cfg.pow2, saturate = cfg.saturate,
          grad_rounding = cfg.grad_rounding,
          backward_operand_format = cfg.backward_operands ~= "forward" and cfg.backward_operands or nil }
  end
  o.smooth, o.smooth_statistic, o.h_bf16 = r.smooth, r.statistic, r.h_bf16
  return o
end

local function make_model(arm, vocab, seed)
  local r = RUNS[arm]
  return nn.Llama{ vocab = vocab, dim = cfg.dim, layers = cfg.layers, heads = cfg.heads, ffn_dim = cfg.ffn,
    seq_len = cfg.seq_len, mlp = r.smooth and "smooth_swiglu" or "swiglu", numerics = r.numerics or "fp8",
    seed = seed, fp8 = fp8_options(r) }
end

-- fp8_nonsat_switch: replace every recipe by the paper's delayed recipe with
-- non-saturating casts, its window starting from the last current-scaling amax.
local function switch_to_delayed(model)
  for _, nl in ipairs(model:linears()) do
    local m = nl[2]
    if m.recipe then
      local st = m.recipe:stats()
      local r = fp8.linear_recipe{ numerics = "fp8", scaling = "delayed", history = cfg.history, margin = cfg.margin,
        pow2 = cfg.pow2, saturate = false, grad_rounding = cfg.grad_rounding,
        backward_operand_format = cfg.backward_operands ~= "forward" and cfg.backward_operands or nil }
      local state = {}
      for role, fmt in pairs { input = "e4m3fn", weight = "e4m3fn", grad_output = "e5m2" } do
        local a = st[role].amax
        local h = {}
        for i = 1, cfg.history do h[i] = 0.0 end
        h[cfg.history] = a   -- the most recent entry of TE's layout
        state[role] = { scale = fp8.current_scale(a, fmt, { margin = cfg.margin, pow2 = cfg.pow2 }), amax_history = h }
      end
      r:load_state(state)
      m.recipe = r
    end
  end
  local k = 0
  for _, nl in ipairs(model:linears()) do
    if nl[2].recipe then k = k + 1; nl[2].recipe:reseed(9000 + k) end
  end
end

-- per-step statistics of the FP8 casts, per layer and in total
local function cast_stats(model, hist, window)
  local out = { clamp_in = 0, clamp_w = 0, clamp_g = 0, clamp_bwd = 0, flush_in = 0, flush_w = 0, flush_g = 0 }
  for _, nl in ipairs(model:linears()) do
    local r = nl[2].recipe
    local st = r and r:stats() or nil
    if st then
      out.clamp_in = out.clamp_in + st.input.saturated
      out.clamp_w = out.clamp_w + st.weight.saturated
      out.clamp_g = out.clamp_g + st.grad_output.saturated
      out.flush_in = out.flush_in + st.input.flushed
      out.flush_w = out.flush_w + st.weight.flushed
      out.flush_g = out.flush_g + st.grad_output.flushed
      for _, b in ipairs { "input_bwd", "weight_bwd" } do
        if st[b] then out.clamp_bwd = out.clamp_bwd + st[b].saturated end
      end
    end
  end
  for l, b in ipairs(model.blocks) do
    local h = b.mlp.h_amax or 0 / 0
    out["h_amax." .. l] = h
    out["jump_h." .. l] = X.surprise(hist[l], h, window)
    hist[l][#hist[l] + 1] = h
    local st = b.mlp.w3.recipe and b.mlp.w3.recipe:stats() or nil
    local fp8h = st and st.input.numel > 0 and st.input.scale > 0
    out["clamp_h." .. l] = fp8h and st.input.saturated or 0
    out["flush_h." .. l] = fp8h and st.input.flushed / st.input.numel or 0
    out["clamp_w3w." .. l] = st and st.weight.saturated or 0
  end
  return out
end

-- ---- one run -------------------------------------------------------------------------
local function train_run(pt)
  local arm, lr, seed = pt.arm, pt.lr, cfg.seed + pt.k - 1
  local r = RUNS[arm]
  local dir = exp:path(pt.id)
  local result_file = U.join(dir, "result.txt")
  if exp.resume and U.exists(result_file) then
    exp:skip_run(pt.id, cfg.steps)
    return
  end
  local ctx = exp:begin_run(pt.id, cfg.steps)
  local data = repro.data.shakespeare{ tokenizer = cfg.tokenizer, seq_len = cfg.seq_len, batch = cfg.batch, seed = seed }
  if cfg.bos then data = X.with_bos(data) end
  local model = make_model(arm, data.vocab_size, seed)
  model.stats = false   -- the per-step statistics below; the alignment from the probe
  local opt = optim.adamw(model:parameters(), { lr = lr, betas = { cfg.beta1, cfg.beta2 },
    weight_decay = cfg.weight_decay, m_format = r.moments and "e4m3fn" or nil, v_format = r.moments and "e5m2" or nil })
  U.mkdir_p(dir)
  local probe = X.probe(nn, model.config)
  local pdata = repro.data.shakespeare{ tokenizer = cfg.tokenizer, seq_len = cfg.seq_len, batch = cfg.batch, seed = seed + 4242 }
  if cfg.bos then pdata = X.with_bos(pdata) end
  local probe_ids = pdata:batch("val")
  local align, digest
  local function do_probe(step)
    for l, p in ipairs(probe:run(model, probe_ids)) do
      for c = 1, #p.cos do
        align:write{ step = step, layer = l, channel = c, cos = p.cos[c], h_channel_amax = p.channel_amax[c],
                     kurtosis = p.kurtosis[c] }
      end
      local d = X.probe_digest(p)
      digest:write{ step = step, layer = l, kurt_max = d.kurt_max, kurt_mean = d.kurt_mean, cos_top1 = d.cos_top1,
                    abscos_top5 = d.abscos_top5, h_amax = p.amax }
    end
  end
  local window = r.te and cfg.te_history or ((r.current or r.switch or r.numerics) and 1 or cfg.history)
  local hist, last = {}, nil
  for l = 1, cfg.layers do hist[l] = {} end
  local stats = {}
  local function cached(m)   -- one pass over the recipes per step, shared by the columns
    if not last or last.m ~= m or last.step ~= m._fp8_step then last = { m = m, step = m._fp8_step, v = cast_stats(m, hist, window) } end
    return last.v
  end
  local cols = { "clamp_in", "clamp_w", "clamp_g", "clamp_bwd", "flush_in", "flush_w", "flush_g" }
  for l = 1, cfg.layers do
    for _, c in ipairs { "h_amax", "jump_h", "clamp_h", "flush_h", "clamp_w3w" } do cols[#cols + 1] = c .. "." .. l end
  end
  for _, c in ipairs(cols) do stats[c] = function(m) return cached(m)[c] end end
  local function on_resume(start)
    local acols = { "step", "layer", "channel", "cos", "h_channel_amax", "kurtosis" }
    align = Logger.open(U.join(dir, "alignment.tsv"), { columns = acols, resume_step = start })
    digest = Logger.open(U.join(dir, "probe.tsv"), { columns = { "step", "layer", "kurt_max", "kurt_mean", "cos_top1",
      "abscos_top5", "h_amax" }, resume_step = start })
    if start == 0 then do_probe(0) return end
    if r.switch and start >= cfg.switch_step then switch_to_delayed(model) end
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
  io.stderr:write(string.format("%s (%s, lr %g, seed %d)\n", ctx.label, r.label, lr, seed))
  local res = repro.train{
    model = model, optimizer = opt, data = data, steps = cfg.steps, batch = cfg.batch,
    schedule = function(s) return lr * math.min(1, s / math.max(1, cfg.warmup)) end,
    eval_every = cfg.eval_every, eval_batches = cfg.eval_batches, grad_clip = cfg.grad_clip,
    log = U.join(dir, "log.tsv"), stats_every = 1, stats = stats,
    progress_every = math.max(1, cfg.steps // 4), progress = ctx,
    checkpoint = exp:checkpoint_dir(pt.id), resume = exp.resume, on_resume = on_resume,
    on_step = function(step)
      last_step = step
      model._fp8_step = step + 1   -- the next step's statistics are new
      if r.switch and step == cfg.switch_step then switch_to_delayed(model) end
      if step % cfg.probe_every == 0 then do_probe(step) end
    end,
  }
  if last_step % cfg.probe_every ~= 0 then do_probe(last_step) end
  align:close()
  digest:close()
  local L = X.read_columns(U.join(dir, "log.tsv"))
  local tail, n = 0.0, 0
  for i = math.max(1, L._n - 49), L._n do
    local v = L.train_loss[i]
    tail = tail + v; n = n + 1
  end
  U.write_config(result_file, { run = pt.id, arm = arm, lr = lr, seed = seed, diverged = res.diverged,
    step = res.step, kind = res.diverged_in or "", final_train_loss = n > 0 and tail / n or 0 / 0,
    final_val_loss = res.final_val_loss or 0 / 0, seconds = U.now() - t0 })
end

exp:run(function()
  local t_all = U.now()
  if not cfg.figures_only then
    exp:plan(#points, #points * cfg.steps)
    exp:runs(points, train_run)
  end
  exp:check_interrupt("the figures")
  require("repro.fp8exp_report").report(exp, cfg, {
    RUNS = RUNS, COLORS = COLORS, arm_names = arm_names, lrs = lrs, sweep = sweep, points = points,
    tokens_per_step = tokens_per_step, recipe_text = recipe_text, t_all = t_all })
end)
