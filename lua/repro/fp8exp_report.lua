-- repro.fp8exp_report: the figures and the summary of
-- experiments/fp8_instability.lua, drawn from the TSVs its runs saved (so
-- --figures_only redraws them without training). Seeds are aggregated as
-- mean ± sample sd; the verdict per arm is the pre-registered one of
-- docs/fp8.md (fp8exp.verdict against bf16 at the same learning rate).
local repro = require "repro"
local plot = repro.plot
local U = repro.util
local X = require "repro.fp8exp"

local R = {}

local function finite(x) return x == x and x ~= math.huge and x ~= -math.huge end

-- running mean of the finite values (window w)
local function smooth(v, w)
  local out, sum, q = {}, 0, {}
  for i, x in ipairs(v) do
    if finite(x) then q[#q + 1] = x; sum = sum + x end
    if #q > w then sum = sum - table.remove(q, 1) end
    out[i] = #q > 0 and sum / #q or 0 / 0
  end
  return out
end

function R.report(exp, cfg, o)
  local RUNS, COLORS, arm_names, lrs = o.RUNS, o.COLORS, o.arm_names, o.lrs
  local figdir = X.figdir(exp, cfg)
  local logs, res, probes = {}, {}, {}
  -- the runs that finished (a run cut short by the time budget has no
  -- result.txt): the table says how many seeds each arm has, and the
  -- summary lists the missing runs
  local done, missing = {}, {}
  for _, pt in ipairs(o.points) do
    if U.exists(exp:path(pt.id, "result.txt")) then done[#done + 1] = pt else missing[#missing + 1] = pt.id end
  end
  o.points = done
  local present = {}
  for _, pt in ipairs(done) do present[pt.arm] = true end
  local arms_left = {}
  for _, a in ipairs(o.arm_names) do if present[a] then arms_left[#arms_left + 1] = a end end
  arm_names = arms_left
  if #arm_names == 0 then error("fp8_instability: no finished run in " .. exp:path(), 0) end
  for _, pt in ipairs(o.points) do
    logs[pt.id] = X.read_columns(exp:path(pt.id, "log.tsv"))
    res[pt.id] = U.read_config(exp:path(pt.id, "result.txt"))
    probes[pt.id] = X.read_columns(exp:path(pt.id, "probe.tsv"))
  end
  local function ids(arm, lr)
    local out = {}
    for _, pt in ipairs(o.points) do if pt.arm == arm and pt.lr == lr then out[#out + 1] = pt.id end end
    return out
  end
  local tag = string.format("[%s; %s]", exp:settings(), o.recipe_text)

  -- ---- the table -------------------------------------------------------------------
  local rows, verdicts, any_bad = {}, {}, false
  for _, lr in ipairs(lrs) do
    local ref = {}
    for _, id in ipairs(ids("bf16", lr)) do ref[#ref + 1] = res[id].final_train_loss end
    for _, arm in ipairs(arm_names) do
      local tr, va, secs = {}, {}, 0
      local hmax, jmax, c_h, c_w3, c_in, c_w, c_g, c_b, fl, fln, nonfin = 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
      local kend, cend = 0, 0
      for _, id in ipairs(ids(arm, lr)) do
        local r, L, P = res[id], logs[id], probes[id]
        tr[#tr + 1] = r.final_train_loss
        va[#va + 1] = r.final_val_loss
        if not finite(r.final_train_loss) or r.diverged then nonfin = nonfin + 1 end
        secs = secs + (r.seconds or 0)
        for i = 1, L._n do
          for l = 1, cfg.layers do
            local h, j = L["h_amax." .. l][i], L["jump_h." .. l][i]
            if finite(h) and h > hmax then hmax = h end
            if finite(j) and L.step[i] > cfg.warmup and j > jmax then jmax = j end
            c_h = c_h + (L["clamp_h." .. l][i] or 0)
            c_w3 = c_w3 + (L["clamp_w3w." .. l][i] or 0)
            local f = L["flush_h." .. l][i]
            if finite(f) then fl = fl + f; fln = fln + 1 end
          end
          c_in, c_w = c_in + (L.clamp_in[i] or 0), c_w + (L.clamp_w[i] or 0)
          c_g, c_b = c_g + (L.clamp_g[i] or 0), c_b + (L.clamp_bwd[i] or 0)
        end
        local last = P.step[P._n]
        for i = 1, P._n do
          if P.step[i] == last then
            if P.kurt_max[i] > kend then kend = P.kurt_max[i] end
            if math.abs(P.cos_top1[i]) > cend then cend = math.abs(P.cos_top1[i]) end
          end
        end
      end
      -- paired by seed (same initialisation and batches as bf16's run of that seed)
      local diffs = {}
      for _, id in ipairs(ids(arm, lr)) do
        local rid = id:gsub("^[^@.]+", "bf16")
        if res[rid] and arm ~= "bf16" then diffs[#diffs + 1] = res[id].final_train_loss - res[rid].final_train_loss end
      end
      local pm, ps = X.mean_sd(diffs)
      local mt, st = X.mean_sd(tr)
      local mv, sv = X.mean_sd(va)
      local v, gap, thr = "reference", 0 / 0, 0 / 0
      if arm ~= "bf16" and #ref > 0 then v, gap, thr = X.verdict(tr, ref) end
      if nonfin > 0 then v = "diverged" end
      if v == "diverged" or v == "degraded" then any_bad = true end
      verdicts[#verdicts + 1] = { arm = arm, lr = lr, verdict = v }
      rows[#rows + 1] = { arm, string.format("%g", lr), #tr, string.format("%.4f ± %.4f", mt, st),
        string.format("%.4f ± %.4f", mv, sv), finite(gap) and string.format("%+.4f / %.4f", gap, thr) or "-", v,
        #diffs > 0 and finite(pm) and string.format("%+.4f ± %.4f", pm, ps) or "-",
        hmax, jmax, c_h, c_w3, c_in, c_w, c_g, c_b, fln > 0 and fl / fln or 0, kend, cend, math.floor(secs + 0.5) }
    end
  end
  local header = { "arm", "lr", "seeds", "final_train(50)", "final_val", "gap_vs_bf16 / 3sd", "verdict",
    "paired_gap", "max|h|",
    "max_jump", "clamp_h", "clamp_W3w", "clamp_in", "clamp_w", "clamp_grad", "clamp_bwdop", "flush_h_frac",
    "kurt_max_end", "|cos|_outlier_end", "seconds" }
  local text = X.format_table(header, rows)

  -- ---- figures -----------------------------------------------------------------------
  local figs = {}
  local lr1 = lrs[1]
  -- 1. loss: mean over seeds of the running mean (25 steps), first learning rate
  do
    local series = {}
    for _, arm in ipairs(arm_names) do
      local list = ids(arm, lr1)
      local acc, n = {}, {}
      local xs
      for _, id in ipairs(list) do
        local L = logs[id]
        local sm = smooth(L.train_loss, 25)
        xs = xs or L.step
        for i = 1, L._n do
          if finite(sm[i]) then acc[i] = (acc[i] or 0) + sm[i]; n[i] = (n[i] or 0) + 1 end
        end
      end
      local x, y = {}, {}
      for i = 1, #(xs or {}) do
        if n[i] then x[#x + 1] = xs[i] * o.tokens_per_step; y[#y + 1] = acc[i] / n[i] end
      end
      if #x == 0 then x, y = { 0 }, { 0 / 0 } end
      local vd = "ok"
      for _, v in ipairs(verdicts) do if v.arm == arm and v.lr == lr1 then vd = v.verdict end end
      series[#series + 1] = { name = string.format("%s (%d seed%s) - %s", RUNS[arm].label, #list, #list == 1 and "" or "s", vd),
        x = x, y = y, color = COLORS[arm] }
    end
    figs[#figs + 1] = plot.lines{ file = U.join(figdir, "loss.png"), width = 1100, height = 600,
      title = string.format("Training loss, mean over seeds (running mean of 25 steps), lr %g %s%s", lr1, tag,
        any_bad and "" or " - NO ARM DIVERGED OR DEGRADED"),
      xlabel = "tokens", ylabel = "training loss", series = series, key = "top right" }
  end
  -- 2. the diagnostics, seed 1 of each arm at the first learning rate
  do
    local panels = {}
    local function first(arm) return ids(arm, lr1)[1] end
    for l = 1, cfg.layers do
      local s = {}
      for _, arm in ipairs(arm_names) do
        local L = logs[first(arm)]
        s[#s + 1] = { name = l == 1 and RUNS[arm].label or "", x = L.step, y = L["h_amax." .. l], color = COLORS[arm] }
      end
      panels[#panels + 1] = { kind = "lines", title = string.format("layer %d: max |h| per step (h = SwiGLU output)", l),
        xlabel = "step", ylabel = "max |h|", logy = true, series = s }
    end
    local function per_step_max(L, col)
      local y = {}
      for i = 1, L._n do
        local m = 0
        for l = 1, cfg.layers do local v = L[col .. "." .. l][i]; if finite(v) and v > m then m = v end end
        y[i] = m
      end
      return y
    end
    local s2, s3, s4 = {}, {}, {}
    for _, arm in ipairs(arm_names) do
      local L = logs[first(arm)]
      s2[#s2 + 1] = { name = "", x = L.step, y = per_step_max(L, "jump_h"), color = COLORS[arm] }
      local fy = per_step_max(L, "flush_h")
      for i = 1, #fy do fy[i] = math.max(fy[i], 1e-6) end
      s3[#s3 + 1] = { name = "", x = L.step, y = fy, color = COLORS[arm] }
      local ch, cw, a, b = {}, {}, 0, 0
      for i = 1, L._n do
        for l = 1, cfg.layers do a = a + (L["clamp_h." .. l][i] or 0); b = b + (L["clamp_w3w." .. l][i] or 0) end
        ch[i], cw[i] = a, b
      end
      s4[#s4 + 1] = { name = "", x = L.step, y = ch, color = COLORS[arm] }
      s4[#s4 + 1] = { name = "", x = L.step, y = cw, color = COLORS[arm], style = "dashed" }
    end
    panels[#panels + 1] = { kind = "lines", title = "max|h| / max over the arm's amax window (all layers)",
      xlabel = "step", ylabel = "jump", logy = true, series = s2,
      annotations = { { hline = 2 ^ cfg.margin * 464 / 448, text = "E4M3 overflow at the paper arms' margin" } } }
    panels[#panels + 1] = { kind = "lines", title = "fraction of h flushed to zero in E4M3 (max over layers; floor 1e-6)",
      xlabel = "step", ylabel = "fraction", logy = true, series = s3 }
    panels[#panels + 1] = { kind = "lines", title = "cumulative clamps: h (solid), W3 weight (dashed)",
      xlabel = "step", ylabel = "count", series = s4 }
    local s5, s6 = {}, {}
    for _, arm in ipairs(arm_names) do
      local P = probes[first(arm)]
      local x, k, c = {}, {}, {}
      for i = 1, P._n do
        if P.layer[i] == cfg.layers then x[#x + 1] = P.step[i]; k[#k + 1] = P.kurt_max[i]; c[#c + 1] = P.cos_top1[i] end
      end
      s5[#s5 + 1] = { name = "", x = x, y = k, color = COLORS[arm] }
      s6[#s6 + 1] = { name = "", x = x, y = c, color = COLORS[arm] }
    end
    panels[#panels + 1] = { kind = "lines", title = string.format("layer %d: largest channel kurtosis of h (fp32 probe)", cfg.layers),
      xlabel = "step", ylabel = "kurtosis", logy = true, series = s5 }
    panels[#panels + 1] = { kind = "lines", title = string.format("layer %d: cos(w1_i, w2_i) of the outlier channel (largest max|h_i|)", cfg.layers),
      xlabel = "step", ylabel = "cosine", series = s6, yrange = { -1, 1 } }
    figs[#figs + 1] = plot.panels{ file = U.join(figdir, "diagnostics.png"), cols = 2, width = 1400,
      height = 400 * math.ceil(#panels / 2),
      title = string.format("Per-layer diagnostics, seed %d, lr %g %s", cfg.seed, lr1, tag), panels = panels }
  end
  -- 3. the learning-rate sweep: final training loss (mean ± sd over seeds) against lr
  if o.sweep then
    local s = {}
    for _, arm in ipairs(arm_names) do
      local x, y = {}, {}
      for _, lr in ipairs(lrs) do
        local v = {}
        for _, id in ipairs(ids(arm, lr)) do v[#v + 1] = res[id].final_train_loss end
        local m = X.mean_sd(v)
        x[#x + 1] = lr; y[#y + 1] = finite(m) and m or 0 / 0
      end
      s[#s + 1] = { name = RUNS[arm].label, x = x, y = y, color = COLORS[arm], style = "linespoints" }
    end
    figs[#figs + 1] = plot.lines{ file = U.join(figdir, "lr_sweep.png"), width = 1000, height = 550, logx = true,
      title = "Final training loss (mean of the last 50 steps, mean over seeds) against the learning rate " .. tag,
      xlabel = "peak learning rate", ylabel = "final training loss", series = s }
  end
  -- 4. alignment of the align_run's seed 1 (fp32 probe of its weights)
  do
    local arun = ids(cfg.align_run, lr1)[1] and cfg.align_run or arm_names[1]
    local A = X.read_columns(exp:path(ids(arun, lr1)[1], "alignment.tsv"))
    local steps_seen, by_step, seen = {}, {}, {}
    for i = 1, A._n do
      local s = A.step[i]
      if not by_step[s] then by_step[s] = {}; seen[s] = {}; steps_seen[#steps_seen + 1] = s end
      local key = A.layer[i] .. ":" .. A.channel[i]
      if not seen[s][key] then
        seen[s][key] = true
        local b = by_step[s]
        b[#b + 1] = { layer = A.layer[i], channel = A.channel[i], cos = A.cos[i], h = A.h_channel_amax[i] }
      end
    end
    table.sort(steps_seen)
    local early, late = steps_seen[math.min(2, #steps_seen)], steps_seen[#steps_seen]
    local function cos_at(s) local v = {} for _, e in ipairs(by_step[s]) do v[#v + 1] = e.cos end return v end
    local last = by_step[late]
    local order = {}
    for i = 1, #last do order[i] = i end
    table.sort(order, function(a, b)
      local x, y = math.abs(last[a].cos), math.abs(last[b].cos)
      if x ~= y then return x > y end
      return a < b
    end)
    local tseries = {}
    for k = 1, math.min(5, #order) do
      local t = last[order[k]]
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
      title = string.format("W1/W2 alignment in %s (fp32 probe of its weights on a fixed batch) %s", ids(arun, lr1)[1], tag),
      panels = {
        { kind = "histogram", bins = 40, range = { -1, 1 }, title = "cos(w1_i, w2_i), all layers and channels",
          xlabel = "cosine", series = { { name = "step " .. steps_seen[1], values = cos_at(steps_seen[1]) },
            { name = "step " .. early, values = cos_at(early) }, { name = "step " .. late, values = cos_at(late) } } },
        { kind = "lines", title = "the 5 most aligned channels at the end", xlabel = "step", ylabel = "cos(w1_i, w2_i)",
          series = tseries, yrange = { -1, 1 } },
        { kind = "scatter", title = "step " .. late .. ": outlier magnitude against alignment", xlabel = "cos(w1_i, w2_i)",
          ylabel = "max_t |h_ti| (channel amax)", logy = true, series = scat } } }
  end

  -- ---- summary ---------------------------------------------------------------------------
  local total = 0
  for _, pt in ipairs(o.points) do total = total + (res[pt.id].seconds or 0) end
  local head = string.format("fp8_instability [%s]: %d steps x %d tokens, dim %d, %d layers, ffn %d, %s tokens%s; %d seed%s; %s; %s",
    exp.pristine and exp.preset or exp:settings(), cfg.steps, o.tokens_per_step, cfg.dim, cfg.layers, cfg.ffn,
    cfg.tokenizer, cfg.bos and " + BOS" or "", cfg.seeds, cfg.seeds == 1 and "" or "s", o.recipe_text,
    cfg.figures_only and string.format("figures redrawn from saved TSVs; training took %.0f s", total)
      or string.format("%.0f s", U.now() - o.t_all))
  local notes = table.concat({
    "final_train(50): mean of the last 50 training losses, mean ± sd over seeds; gap_vs_bf16: arm mean - bf16 mean,",
    "against 3 bf16 seed sd (verdict 'degraded' above it, 'diverged' if any loss is not finite); paired_gap: the",
    "arm's final loss minus bf16's of the same seed (same initialisation and batches), mean ± sd over seeds (not the verdict).",
    "max_jump: largest max|h| / max over the arm's amax window after the warm-up; clamp_*: values clamped to the format's",
    "max (saturating casts) or overflowed (non-saturating), summed over steps and seeds: h = W3's input, W3w = W3's weight,",
    "in/w/grad = every linear's input/weight/output gradient, bwdop = the E5M2 backward copies of x and W;",
    "flush_h_frac: mean fraction of nonzero h values whose E4M3 code is zero; kurt_max_end and |cos|_outlier_end:",
    "the fp32 probe at the last step (largest channel kurtosis of h; |cos(w1_i, w2_i)| of the channel with the largest max|h_i|).",
  }, "\n")
  if #missing > 0 then
    notes = notes .. "\nNot run (time budget): " .. table.concat(missing, ", ")
  end
  local verdict_line
  if any_bad then
    local parts = {}
    for _, v in ipairs(verdicts) do
      if v.verdict == "diverged" or v.verdict == "degraded" then parts[#parts + 1] = string.format("%s at lr %g: %s", v.arm, v.lr, v.verdict) end
    end
    verdict_line = "Arms that diverged or degraded: " .. table.concat(parts, "; ")
  else
    verdict_line = "No arm diverged or degraded."
  end
  local rev = exp.machine and exp.machine.git_revision or nil
  local summary = head .. (rev and ("\nrevision: " .. rev) or "") .. "\n" .. text .. "\n" .. notes .. "\n" .. verdict_line .. "\n"
  io.write(summary)
  print("figures: " .. figdir .. "/{loss,diagnostics,alignment" .. (o.sweep and ",lr_sweep" or "") .. "}.{png,svg}")
  for _, f in ipairs(figs) do if not f.rendered then print(X.figure_line(f)) end end
  U.write_file(exp:path("summary.txt"), summary)
  U.write_file(U.join(figdir, "summary.txt"), summary)
  exp:write_results{ seconds = U.now() - o.t_all, any_diverged_or_degraded = any_bad }
end

return R
