-- experiments/fp8_mechanism.lua: the mechanism behind the FP8 instability of
-- Fishman et al. (arXiv 2409.12517), in its smallest form: ONE SwiGLU layer
--   h = silu(x W1ᵀ) ⊙ (x W2ᵀ),  y = h W3ᵀ
-- trained with AdamW on synthetic regression data, twice from the same
-- initialisation and the same batches: without weight decay and with it.
-- Everything is fp32 (no FP8 cast anywhere, so nothing saturates or
-- overflows here): the point is what training does to the weights.
--
-- What it measures (nothing is injected; the data are a fixed random teacher):
--  * the per-channel cosine(w1_i, w2_i) of rows of W1 and W2 against step;
--  * max |h| on a fixed probe batch against step;
--  * at the end, h_i against (w1_i · x) for the most and the least aligned
--    channel: an aligned channel is h_i ≈ c·silu(z)·z, a parabola in z =
--    w1_i · x, i.e. quadratic in x; an unaligned one is a cloud;
--  * max |h| when the probe inputs are scaled by a, against a (log-log):
--    slope 2 = quadratic growth of the output.
--
-- Data: x ~ N(0, I_d); target y = tanh(x A) B with A {d, k}, B {k, out}
-- drawn once from N(0, 1/d) and N(0, 1/k) (a generic smooth teacher; it has
-- no quadratic term that would favour alignment by construction).
local repro = require "repro"
local T, optim, plot = repro.tensor, repro.optim, repro.plot
local U = repro.util
local X = require "repro.fp8exp"

local Logger = require "repro.train.logger"
local Checkpointer = require "repro.train.checkpointer"
local Progress = require "repro.train.progress"
local loop = require "repro.train.loop"

local exp = repro.experiment.new{
  name = "fp8_mechanism", default = "fast", script = "experiments/fp8_mechanism.lua",
  cosmetic = { "figdir" },
  about = "Reproduces the mechanism behind the FP8 instability of Fishman et al. 2024 (arXiv 2409.12517) in its\n"
    .. "smallest form: one SwiGLU layer trained in fp32 with AdamW on synthetic regression data, without and\n"
    .. "with weight decay, from the same initialisation and batches. Shows the W1/W2 rows aligning under\n"
    .. "weight decay and the layer's output growing quadratically with its input.",
  times = { smoke = "about 3 s (the test's preset)", fast = "about 5 s (3 s of training measured)", paper = "about 10 min" },
  presets = {
    smoke = { steps = 20, dim = 8, ffn = 16, dout = 4, teacher = 8, batch = 32, lr = 1e-2,
              weight_decay = 0.1, record_every = 5, probe = 64, figdir = "" },
    -- fast: seconds. A large weight decay and learning rate make the
    -- alignment come within a few thousand steps.
    fast = { steps = 3000, dim = 16, ffn = 32, dout = 8, teacher = 16, batch = 256, lr = 1e-2,
             weight_decay = 0.1, record_every = 25, probe = 1024, figdir = "" },
    paper = { steps = 30000, dim = 64, ffn = 172, dout = 16, teacher = 64, batch = 512, lr = 3e-3,
              weight_decay = 0.1, record_every = 100, probe = 4096, figdir = "" },
  },
  options = {
    steps = { help = "training steps per run", min = 1 },
    dim = { help = "input width d", min = 1 },
    ffn = { help = "SwiGLU hidden width", min = 1 },
    dout = { help = "output width", min = 1 },
    teacher = { help = "hidden width k of the teacher tanh(x A) B", min = 1 },
    batch = { help = "examples per batch", min = 1 },
    lr = { help = "AdamW learning rate", gt = 0 },
    weight_decay = { help = "AdamW weight decay of the second run (the first has none)", gt = 0 },
    record_every = { help = "steps between recorded alignment statistics", min = 1 },
    probe = { help = "examples in the fixed probe batch", min = 2 },
    figdir = { help = "folder for the figure (default: figures/ for the preset unchanged, else --out)" },
  },
}
local cfg = exp.config
local d, F, O, K = cfg.dim, cfg.ffn, cfg.dout, cfg.teacher

-- teacher and probe batch: a generator of their own, so both runs see the same
local tg = T.Generator(cfg.seed * 1000 + 7)
local A = T.randn({ d, K }, { generator = tg }) * (1 / math.sqrt(d))
local Bt = T.randn({ K, O }, { generator = tg }) * (1 / math.sqrt(K))
local function teacher(x) return x:matmul(A):tanh():matmul(Bt) end
local probe_x = T.randn({ cfg.probe, d }, { generator = tg })

local function init_weights()
  local g = T.Generator(cfg.seed)
  local function p(shape, std)
    local t = T.no_grad(function() return T.randn(shape, { generator = g }) * std end)
    t:requires_grad_(true)
    return t
  end
  return { w1 = p({ F, d }, 1 / math.sqrt(d)), w2 = p({ F, d }, 1 / math.sqrt(d)), w3 = p({ O, F }, 1 / math.sqrt(F)) }
end

local function hidden(w, x) return x:matmul(w.w1:t()):silu() * x:matmul(w.w2:t()) end

local LOG_COLUMNS = { "run", "weight_decay", "step", "loss", "mean_abs_cos", "max_abs_cos", "aligned_gt_0.5", "h_amax",
                     "w1_norm", "w2_norm" }

-- One run: checkpointed by repro.train.checkpointer, stepped by
-- repro.train.loop; its log is runs/TAG.tsv (step first, so a resumed run
-- cuts it back to its checkpoint). Returns the final weights and loss; a run
-- finished earlier (--resume) is read back from its last checkpoint.
local function run(wd, tag)
  local w = init_weights()
  local opt = optim.adamw({ w.w1, w.w2, w.w3 }, { lr = cfg.lr, betas = { 0.9, 0.95 }, weight_decay = wd })
  local dg = T.Generator(cfg.seed * 1000 + 11)   -- same batches for both runs
  local last
  local ck = Checkpointer.new{ dir = exp:checkpoint_dir(tag), keep = 1,
    collect = function() return { w1 = w.w1, w2 = w.w2, w3 = w.w3, optimizer = opt:state_dict(), data = dg:get_state(),
                                  last = last or 0 / 0 } end,
    restore = function(st)
      T.no_grad(function() w.w1:copy_(st.w1); w.w2:copy_(st.w2); w.w3:copy_(st.w3) end)
      opt:load_state_dict(st.optimizer)
      dg:set_state(st.data)
      last = st.last == st.last and st.last or nil
    end }
  local log_path = exp:path("runs", tag .. ".tsv")
  if exp.resume and U.exists(exp:path("runs", tag .. ".done")) then
    exp:skip_run(tag, cfg.steps)
    ck:resume()
    return w, last
  end
  local ctx = exp:begin_run(tag, cfg.steps)
  io.stderr:write(string.format("%s: one SwiGLU layer, weight decay %g, %d steps\n", ctx.label, wd, cfg.steps))
  local start = exp.resume and ck:resume() or 0
  local log = Logger.open(log_path, { columns = { "step", "loss", "mean_abs_cos", "max_abs_cos", "aligned_gt_0.5", "h_amax",
                                                  "w1_norm", "w2_norm" }, resume_step = start })
  local function record(step)
    local cos = X.cosines(w.w1, w.w2)
    local hmax = T.no_grad(function() return hidden(w, probe_x):abs():amax():item() end)
    local mabs = 0
    for _, c in ipairs(cos) do mabs = mabs + math.abs(c) end
    local top = X.top_channels(cos, 1)[1]
    return { step = step, loss = last or 0 / 0, mean_abs_cos = mabs / #cos, max_abs_cos = math.abs(cos[top]),
             ["aligned_gt_0.5"] = X.count_above(cos, 0.5), h_amax = hmax, w1_norm = w.w1:norm():item(),
             w2_norm = w.w2:norm():item() }
  end
  if start == 0 then log:write(record(0)) end
  loop.run{ steps = cfg.steps, start = start, checkpoint = ck, log = log,
    progress = Progress.new{ steps = cfg.steps, start = start, context = ctx, every = math.max(1, cfg.steps // 5) },
    describe = function() return string.format("loss %.5f", last) end,
    step = function(step)
      local x = T.randn({ cfg.batch, d }, { generator = dg })
      local y = teacher(x)
      opt:zero_grad()
      local loss = ((hidden(w, x):matmul(w.w3:t()) - y):square()):mean()
      loss:backward()
      opt:step()
      last = loss:item()
      if step % cfg.record_every == 0 then return record(step) end
    end }
  U.write_file(exp:path("runs", tag .. ".done"), "")
  return w, last
end

exp:run(function()
  local runs = { { "no_wd", 0.0 }, { "wd", cfg.weight_decay } }
  local t0 = U.now()
  local final = {}
  exp:plan(#runs, #runs * cfg.steps)
  for _, r in ipairs(runs) do
    local w, loss = run(r[2], r[1])
    final[r[1]] = { w = w, loss = loss }
  end
  exp:check_interrupt("the analysis and figure")
  -- mechanism_log.tsv: both runs' logs, with their name and weight decay
  do
    local out = { table.concat(LOG_COLUMNS, "\t") }
    for _, r in ipairs(runs) do
      local t = assert(U.read_tsv(exp:path("runs", r[1] .. ".tsv")))
      for _, row in ipairs(t.rows) do
        local cells = { r[1], U.tsv_number(r[2]) }
        for _, v in ipairs(row) do cells[#cells + 1] = U.tsv_number(v) end
        out[#out + 1] = table.concat(cells, "\t")
      end
    end
    U.write_file_atomic(exp:path("mechanism_log.tsv"), table.concat(out, "\n") .. "\n")
  end

  -- the end state: channel pictures and the input-scale sweep
  local sweep = X.tsv_appender(exp:path("mechanism_scale.tsv"), { "run", "scale", "h_amax" })
  local scales = { 0.25, 0.5, 1, 2, 4, 8, 16 }
  local slopes = {}
  for _, r in ipairs(runs) do
    local w = final[r[1]].w
    local pts = {}
    for _, a in ipairs(scales) do
      local m = T.no_grad(function() return hidden(w, probe_x * a):abs():amax():item() end)
      sweep:add{ r[1], a, m }
      pts[#pts + 1] = { math.log(a), math.log(m) }
    end
    -- slope of log max|h| against log a over the upper half (a >= 2)
    local n, sx, sy, sxx, sxy = 0, 0, 0, 0, 0
    for i, p in ipairs(pts) do
      if scales[i] >= 2 then n = n + 1; sx = sx + p[1]; sy = sy + p[2]; sxx = sxx + p[1] ^ 2; sxy = sxy + p[1] * p[2] end
    end
    slopes[r[1]] = (n * sxy - sx * sy) / (n * sxx - sx * sx)
  end
  sweep:close()

  local wwd = final.wd.w
  local cos = X.cosines(wwd.w1, wwd.w2)
  local order = X.top_channels(cos, #cos)
  local most, least = order[1], order[#order]
  local chan = X.tsv_appender(exp:path("mechanism_channels.tsv"), { "channel", "cos", "z", "h" })
  local z1 = T.no_grad(function() return probe_x:matmul(wwd.w1:t()):totable() end)
  local hh = T.no_grad(function() return hidden(wwd, probe_x):totable() end)
  local npts = math.min(400, cfg.probe)
  for _, c in ipairs { most, least } do
    for s = 1, npts do chan:add{ c, cos[c], z1[s][c], hh[s][c] } end
  end
  chan:close()

  -- ---- figures: drawn from the TSVs just written -----------------------------------
  local figdir = X.figdir(exp, cfg)
  local L = X.read_columns(exp:path("mechanism_log.tsv"))
  local function series_of(tag, col)
    local xs, ys = {}, {}
    for i = 1, L._n do if L.run[i] == tag then xs[#xs + 1] = L.step[i]; ys[#ys + 1] = L[col][i] end end
    return xs, ys
  end
  local S = X.read_columns(exp:path("mechanism_scale.tsv"))
  local C = X.read_columns(exp:path("mechanism_channels.tsv"))
  local function pick(cols, key, val, xcol, ycol)
    local xs, ys = {}, {}
    for i = 1, cols._n do if cols[key][i] == val then xs[#xs + 1] = cols[xcol][i]; ys[#ys + 1] = cols[ycol][i] end end
    return xs, ys
  end
  local wdname = string.format("weight decay %g", cfg.weight_decay)
  local p1 = { kind = "lines", title = "W1/W2 alignment: mean and max |cos(w1_i, w2_i)|", xlabel = "step", ylabel = "|cosine|", series = {} }
  for _, r in ipairs(runs) do
    local nm = r[1] == "wd" and wdname or "no weight decay"
    local x1, y1 = series_of(r[1], "max_abs_cos")
    local x2, y2 = series_of(r[1], "mean_abs_cos")
    p1.series[#p1.series + 1] = { name = nm .. ": max", x = x1, y = y1, style = r[1] == "wd" and "lines" or "dashed" }
    p1.series[#p1.series + 1] = { name = nm .. ": mean", x = x2, y = y2, style = r[1] == "wd" and "lines" or "dashed" }
  end
  local p2 = { kind = "lines", title = "max |h| on a fixed probe batch", xlabel = "step", ylabel = "max |h|", logy = true, series = {} }
  for _, r in ipairs(runs) do
    local x, y = series_of(r[1], "h_amax")
    p2.series[#p2.series + 1] = { name = r[1] == "wd" and wdname or "no weight decay", x = x, y = y }
  end
  local zx, hy = pick(C, "channel", most, "z", "h")
  local zx2, hy2 = pick(C, "channel", least, "z", "h")
  local p3 = { kind = "scatter", title = string.format("end of training (%s): h_i against w1_i.x", wdname),
    xlabel = "w1_i . x", ylabel = "h_i", series = {
      { name = string.format("most aligned channel %d, cos %.2f", most, cos[most]), x = zx, y = hy },
      { name = string.format("least aligned channel %d, cos %.2f", least, cos[least]), x = zx2, y = hy2 } } }
  local p4 = { kind = "lines", title = "max |h(a x)| against input scale a (log-log)", xlabel = "input scale a",
    ylabel = "max |h|", logx = true, logy = true, series = {} }
  for _, r in ipairs(runs) do
    local x, y = pick(S, "run", r[1], "scale", "h_amax")
    p4.series[#p4.series + 1] = { name = string.format("%s (slope %.2f for a>=2)", r[1] == "wd" and wdname or "no weight decay", slopes[r[1]]),
      x = x, y = y, style = "linespoints" }
  end
  do
    local x, y = pick(S, "run", "wd", "scale", "h_amax")
    local ref = {}
    for i, a in ipairs(x) do ref[i] = y[#y] * (a / x[#x]) ^ 2 end
    p4.series[#p4.series + 1] = { name = "slope 2 (quadratic)", x = x, y = ref, style = "dotted" }
  end
  local res = plot.panels{ file = U.join(figdir, "mechanism.png"), cols = 2,
    title = string.format("One SwiGLU layer, fp32 (no FP8 casts: nothing saturates), AdamW lr %g, synthetic data, %d steps [%s]",
      cfg.lr, cfg.steps, exp:settings()),
    panels = { p1, p2, p3, p4 } }

  -- ---- summary -----------------------------------------------------------------------
  local rows = {}
  for _, r in ipairs(runs) do
    local _, mx = series_of(r[1], "max_abs_cos")
    local _, mn = series_of(r[1], "mean_abs_cos")
    local _, al = series_of(r[1], "aligned_gt_0.5")
    local _, hm = series_of(r[1], "h_amax")
    rows[#rows + 1] = { r[1], r[2], final[r[1]].loss, mn[1], mn[#mn], mx[#mx], al[#al], hm[1], hm[#hm], slopes[r[1]] }
  end
  local header = { "run", "wd", "final_loss", "mean|cos|_0", "mean|cos|_end", "max|cos|_end", "n|cos|>0.5", "max|h|_0", "max|h|_end", "slope" }
  local text = X.format_table(header, rows)
  print(string.format("fp8_mechanism [%s]: one SwiGLU layer d=%d ffn=%d, fp32 (no FP8 casts), %.1f s", exp.pristine and exp.preset or exp:settings(), d, F, U.now() - t0))
  print(text)
  print(X.figure_line(res))
  U.write_file(exp:path("summary.txt"), text .. "\n")
  U.write_file(U.join(figdir, "summary.txt"), string.format("fp8_mechanism [%s]: one SwiGLU layer d=%d ffn=%d, fp32 (no FP8 casts), %d steps, lr %g\n",
    exp.pristine and exp.preset or exp:settings(), d, F, cfg.steps, cfg.lr) .. text .. "\n")
  local out = { seconds = U.now() - t0, most_aligned_channel = most, least_aligned_channel = least }
  for i, r in ipairs(rows) do
    for j = 3, #header do out[r[1] .. "." .. header[j]:gsub("[^%w_]", "_")] = rows[i][j] end
  end
  exp:write_results(out)
end)
