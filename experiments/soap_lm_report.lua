-- experiments/soap_lm_report.lua: the measures, figures and tables of
-- experiments/soap_lm.lua (loaded by it; not an experiment of its own).
-- Returns a function (M, env) -> {measures =, draw_figures =, tables =,
-- fmt_summary =}; M is the experiment's module, env its shared helpers.
local U = require "repro.util"
local plot = require "repro.plot"
local Eff = require "repro.efficiency"

return function(M, env)
local LABEL, COLOR, finite, fmt_pct, fmt_num = env.LABEL, env.COLOR, env.finite, env.fmt_pct, env.fmt_num

-- ---- measures ------------------------------------------------------------------

-- The comparisons of the paper's abstract: "A needs X% fewer iterations / less
-- wall-clock than B".
M.COMPARISONS = {
  { name = "SOAP vs AdamW", a = "soap", b = "adamw", paper_iters = "soap_adamw_iters", paper_time = "soap_adamw_time" },
  { name = "SOAP vs Shampoo", a = "soap", b = "shampoo", paper_iters = "soap_shampoo_iters", paper_time = "soap_shampoo_time" },
  { name = "Shampoo vs AdamW", a = "shampoo", b = "adamw" },
}

-- Per seed and comparison, both measures. Wall-clock is steps × the
-- optimizer's step cost from the interleaved timing (ms per full step), so
-- that machine load during the long runs does not enter the comparison.
--  fit (headline, the paper's): B's final loss after N steps is the target;
--    A's steps to it from A's fit a + b·N^-β over its fraction runs and the
--    full run; X = 100·(1 - steps_A / N).
--  crossing (secondary): first crossing of B's final loss on each full
--    validation curve, B's own crossing as the reference.
local function measures(res, N)
  local cost = {}
  for _, k in ipairs(M.OPTIMIZERS) do cost[k] = res.timing[k].step_ms end
  local out = {}
  for ci, c in ipairs(M.COMPARISONS) do
    local m = { fit_steps = {}, fit_secs = {}, cross_steps = {}, cross_secs = {}, n_fit = {}, targets = {} }
    for si = 1, #res.seeds do
      local target = res.full[c.b][si].final
      m.targets[si] = target
      local pct, n = Eff.fit_savings(res.fits[c.a][si], target, N)
      m.fit_steps[si], m.n_fit[si] = pct, n
      m.fit_secs[si] = Eff.savings(N * cost[c.b], n and n * cost[c.a] or nil)
      local ca, cb = res.full[c.a][si], res.full[c.b][si]
      local na = finite(target) and Eff.crossing(ca.steps, ca.loss, target) or nil
      local nb = finite(target) and Eff.crossing(cb.steps, cb.loss, target) or nil
      m.cross_steps[si] = Eff.savings(nb, na)
      m.cross_secs[si] = Eff.savings(nb and nb * cost[c.b] or nil, na and na * cost[c.a] or nil)
    end
    for _, key in ipairs { "fit_steps", "fit_secs", "cross_steps", "cross_secs" } do m[key .. "_sum"] = Eff.summary(m[key]) end
    out[ci] = m
  end
  return out
end

local function fmt_summary(r, f)
  f = f or "%.1f"
  if not finite(r.mean) then return "n/a" end
  local t = string.format(f .. "%%", r.mean)
  if finite(r.sd) then
    t = string.format(f .. " ± " .. f .. "%% [" .. f .. ", " .. f .. "]", r.mean, r.sd, r.lo, r.hi)
  end
  if r.missing > 0 then t = t .. string.format(" (%d of %d seeds reach it)", r.n, r.n + r.missing) end
  return t
end

local function fmt_loss_summary(xs)
  local r = Eff.summary(xs)
  if not finite(r.mean) then return "n/a" end
  local t = finite(r.sd) and string.format("%.4f ± %.4f", r.mean, r.sd) or string.format("%.4f", r.mean)
  if r.missing > 0 then t = t .. string.format(" (%d of %d seeds missing: diverged or not run)", r.missing, r.n + r.missing) end
  return t
end

-- ---- figures and tables -------------------------------------------------------

local SECONDS = "training wall-clock seconds (steps x interleaved step cost)"

local function seed_series(res, k, xkey, si)
  local run = res.full[k][si]
  local xs = {}
  for i, st in ipairs(run.steps) do xs[i] = xkey == "steps" and st or st * res.timing[k].step_ms / 1e3 end
  return { name = si == 1 and LABEL[k] or string.format("%s seed %d", LABEL[k], res.seeds[si]), x = xs, y = run.loss,
           color = COLOR[k], nokey = si > 1 }
end

local function draw_figures(ctx, res)
  local dir = ctx.exp:path("figures")
  local N, ns = ctx.cfg.steps, #res.seeds
  local seeds_text = string.format("%d seeds", ns)
  local scale = string.format("Ours: %s-param Llama, char Tiny Shakespeare, batch %dx%d tokens, %s%s",
    res.param_str, ctx.cfg.batch, ctx.cfg.model.seq_len, seeds_text, ctx.exp.pristine and "" or (" [" .. ctx.exp:settings() .. "]"))
  local short = string.format("Ours: %s-param Llama, char Tiny Shakespeare%s", res.param_str,
    ctx.exp.pristine and "" or (" [" .. ctx.exp:settings() .. "]"))
  local s_steps, s_secs = {}, {}
  local lo, hi = math.huge, -math.huge
  for _, k in ipairs(M.OPTIMIZERS) do
    for si = 1, ns do
      if #res.full[k][si].steps > 0 then
        s_steps[#s_steps + 1] = seed_series(res, k, "steps", si)
        s_secs[#s_secs + 1] = seed_series(res, k, "seconds", si)
        for _, v in ipairs(res.full[k][si].loss) do if finite(v) then lo, hi = math.min(lo, v), math.max(hi, v) end end
      end
    end
  end
  local out = {}
  -- (1) the paper's Figure 1: validation loss against steps and wall-clock, every seed
  if #s_steps > 0 then
    local yr = { lo - 0.02, math.min(hi, lo + 1.0) }
    out.curves = plot.panels{ file = U.join(dir, "soap_lm_curves"), cols = 2,
      title = "Validation loss, best learning rate of each optimizer, every seed (one line each). " .. scale,
      panels = {
        { kind = "lines", title = "against steps", xlabel = "step", ylabel = "validation loss", series = s_steps, yrange = yr },
        { kind = "lines", title = "against training wall-clock", xlabel = SECONDS, ylabel = "validation loss",
          series = s_secs, yrange = yr },
      } }
  end
  -- (2) the fit: final loss against run length with each seed's a + b·N^-β, and each seed's savings
  local fs, flo, fhi = {}, math.huge, -math.huge
  for _, k in ipairs(M.OPTIMIZERS) do
    for si = 1, ns do
      local xs, ys = {}, {}
      for _, r in ipairs(res.frac[k][si]) do
        if finite(r.final) then xs[#xs + 1], ys[#ys + 1] = r.n, r.final end
      end
      if finite(res.full[k][si].final) then xs[#xs + 1], ys[#ys + 1] = N, res.full[k][si].final end
      for _, y in ipairs(ys) do flo, fhi = math.min(flo, y), math.max(fhi, y) end
      if #xs > 0 then
        fs[#fs + 1] = { name = string.format("%s seed %d: final losses", LABEL[k], res.seeds[si]), x = xs, y = ys,
                        color = COLOR[k], style = "points", nokey = true }
      end
      local fit = res.fits[k][si]
      if fit then
        local gx, gy = {}, {}
        for g = 0, 40 do
          local n = N * (0.4 + 0.75 * g / 40)
          gx[#gx + 1], gy[#gy + 1] = n, Eff.eval_power(fit, n)
        end
        fs[#fs + 1] = { name = si == 1 and (LABEL[k] .. " (fit a + b N^-beta, one per seed)")
                          or string.format("%s seed %d: fit", LABEL[k], res.seeds[si]),
                        x = gx, y = gy, color = COLOR[k], style = "lines", nokey = si > 1 }
      end
    end
  end
  local ps = {}
  for ci, c in ipairs(M.COMPARISONS) do
    local xs, ys = {}, {}
    for si = 1, ns do
      local v = res.measures[ci].fit_steps[si]
      if finite(v) then xs[#xs + 1], ys[#ys + 1] = res.seeds[si], v end
    end
    if #xs > 0 then
      ps[#ps + 1] = { name = c.name, x = xs, y = ys, style = "linespoints",
                      color = ({ "#d62728", "#9467bd", "#2ca02c" })[ci] }
    end
  end
  if #fs > 0 and #ps > 0 then
    local pad = 0.1 * (fhi - flo) + 1e-3
    local ann = {}
    local tgt = Eff.summary(res.measures[1].targets)
    if finite(tgt.mean) then ann[1] = { hline = tgt.mean, text = "AdamW's final loss (mean over seeds)" } end
    out.efficiency = plot.panels{ file = U.join(dir, "soap_lm_efficiency"), cols = 2,
      title = "The paper's measure: runs of fractions of the steps (cosine each), fitted a + b N^-beta. " .. scale,
      panels = {
        { kind = "lines", title = "final validation loss against run length", xlabel = "steps N (one cosine run each)",
          ylabel = "final validation loss", series = fs, yrange = { flo - pad, fhi + pad }, annotations = ann },
        { kind = "lines", title = "% fewer iterations (fit), each seed", xlabel = "seed", ylabel = "% fewer iterations",
          series = ps, annotations = { { hline = 40, text = "paper: SOAP vs AdamW > 40%" },
                                       { hline = 20, text = "paper: SOAP vs Shampoo ~ 20%" } } },
      } }
  end
  -- (3) final loss against the number of eigenbasis / root refreshes
  local qs = {}
  local qlo, qhi = math.huge, -math.huge
  for _, k in ipairs { "shampoo", "soap" } do
    local mx, my = {}, {}
    for si = 1, ns do
      local xs, ys = {}, {}
      for _, f in ipairs(res.freqs) do
        local r = res.ablation[k][f][si]
        if r and finite(r.final) and N // f > 0 then   -- log axis: runs without a refresh are left out
          xs[#xs + 1], ys[#ys + 1] = N // f, r.final
          qlo, qhi = math.min(qlo, r.final), math.max(qhi, r.final)
        end
      end
      if #xs > 0 then
        qs[#qs + 1] = { name = string.format("%s seed %d", LABEL[k], res.seeds[si]), x = xs, y = ys, color = COLOR[k],
                        style = "points", nokey = true }
      end
    end
    for _, f in ipairs(res.freqs) do
      local v = {}
      for si = 1, ns do v[si] = res.ablation[k][f][si].final end
      local sm = Eff.summary(v)
      if finite(sm.mean) and N // f > 0 then mx[#mx + 1], my[#my + 1] = N // f, sm.mean end
    end
    if #mx > 0 then qs[#qs + 1] = { name = LABEL[k] .. " (mean; points: seeds)", x = mx, y = my, color = COLOR[k], style = "linespoints" } end
  end
  if #qs > 0 then
    local pad = 0.1 * (qhi - qlo) + 1e-3
    local fl = {}
    for _, f in ipairs(res.freqs) do fl[#fl + 1] = string.format("%d", f) end
    out.frequency = plot.lines{ file = U.join(dir, "soap_lm_frequency"), logx = true, key = "top right",
      yrange = { qlo - pad, qhi + pad },
      title = string.format("Final val loss vs refreshes in %d steps (frequencies %s; the paper's 100 at ~3.6k steps is ~36). %s",
        N, table.concat(fl, ", "), short),
      xlabel = "eigenbasis / root refreshes per run (steps / frequency)", ylabel = "final validation loss", series = qs }
  end
  -- learning-rate sweep (first seed)
  local ls = {}
  for _, k in ipairs(M.OPTIMIZERS) do
    local xs, ys = {}, {}
    for _, e in ipairs(res.sweep[k]) do
      if finite(e.run.final) then xs[#xs + 1], ys[#ys + 1] = e.lr, e.run.final end
    end
    if #xs > 0 then ls[#ls + 1] = { name = LABEL[k], x = xs, y = ys, color = COLOR[k], style = "linespoints" } end
  end
  if #ls > 0 then
    out.lr_sweep = plot.lines{ file = U.join(dir, "soap_lm_lr_sweep"), logx = true,
      title = "Learning-rate sweep (seed " .. res.seeds[1] .. "): final validation loss (diverged runs omitted). " .. short,
      xlabel = "peak learning rate", ylabel = "final validation loss", series = ls }
  end
  return out
end

local function tables(ctx, res)
  local tm, P, N, ns = res.timing, M.PAPER, ctx.cfg.steps, #res.seeds
  local md = {}
  local function add(s) md[#md + 1] = s end
  local seedlist = {}
  for i, sd in ipairs(res.seeds) do seedlist[i] = tostring(sd) end
  add(string.format("### SOAP vs AdamW vs Shampoo: ours (%s) beside the paper's",
    ctx.exp.pristine and ("preset `" .. ctx.exp.preset .. "`") or ctx.exp:settings()))
  add("")
  add(string.format("Ours: %s; seeds %s; Shampoo: %s variant. Headline (fit): %s. Secondary (crossing): %s.",
    res.setting, table.concat(seedlist, ", "), ctx.cfg.shampoo_variant, res.fit_text, res.cross_text))
  add(string.format("Ours: mean ± sd over the seeds [95%% confidence interval of the mean, Student t, %d degrees of freedom]. "
    .. "Wall-clock: steps × the optimizer's step cost timed in interleaved rounds.", ns - 1))
  add(string.format("Paper: %s; numbers from %s.", P.setting, P.cite))
  add("")
  add("| comparison | ours: fewer iterations (fit) | ours: less wall-clock (fit) | ours: fewer iterations (crossing) | paper: fewer iterations | paper: less wall-clock |")
  add("|---|---|---|---|---|---|")
  -- iterations only: wall-clock depends on the timing (per seed in efficiency.tsv, summary in results.md)
  local tsv = { { "comparison", "fit_fewer_iterations_pct_mean", "fit_sd", "fit_ci95_lo", "fit_ci95_hi",
                  "crossing_fewer_iterations_pct_mean", "crossing_sd", "paper_fewer_iterations", "paper_less_wallclock" } }
  for ci, c in ipairs(M.COMPARISONS) do
    local m = res.measures[ci]
    local pi, pt = c.paper_iters and P[c.paper_iters] or "not in the abstract", c.paper_time and P[c.paper_time] or "not in the abstract"
    add(string.format("| %s | %s | %s | %s | %s | %s |", c.name, fmt_summary(m.fit_steps_sum), fmt_summary(m.fit_secs_sum),
      fmt_summary(m.cross_steps_sum), pi, pt))
    local a, x = m.fit_steps_sum, m.cross_steps_sum
    tsv[#tsv + 1] = { c.name, U.tsv_number(a.mean), U.tsv_number(a.sd), U.tsv_number(a.lo), U.tsv_number(a.hi),
      U.tsv_number(x.mean), U.tsv_number(x.sd), pi, pt }
  end
  add("")
  add("Negative percentages mean more iterations / more time than the baseline; n/a: the target was not reached.")
  add("")
  add("Per seed (fit: % fewer iterations / % less wall-clock; crossing: % fewer iterations):")
  add("")
  local head, rule = { "| comparison" }, { "|---" }
  for _, sd in ipairs(res.seeds) do head[#head + 1] = " seed " .. sd; rule[#rule + 1] = "---" end
  add(table.concat(head, " |") .. " |")
  add(table.concat(rule, "|") .. "|")
  for ci, c in ipairs(M.COMPARISONS) do
    local m, cells = res.measures[ci], { "| " .. c.name }
    for si = 1, ns do
      cells[#cells + 1] = string.format(" %s / %s; %s", fmt_pct(m.fit_steps[si]), fmt_pct(m.fit_secs[si]), fmt_pct(m.cross_steps[si]))
    end
    add(table.concat(cells, " |") .. " |")
  end
  add("")
  add("| optimizer | best lr (grid, seed " .. res.seeds[1] .. ") | final val loss (mean ± sd) | fitted steps to AdamW's loss (per seed) | ms/step (interleaved) | step cost vs AdamW | optimizer step ms |")
  add("|---|---|---|---|---|---|---|")
  for _, k in ipairs(M.OPTIMIZERS) do
    local grid, finals, steps = {}, {}, {}
    for _, e in ipairs(res.sweep[k]) do grid[#grid + 1] = string.format("%g", e.lr) end
    for si = 1, ns do finals[si] = res.full[k][si].final end
    local m = k == "adamw" and res.measures[1] or (k == "soap" and res.measures[1] or res.measures[3])
    for si = 1, ns do
      local n = k == "adamw" and (res.fits.adamw[si] and Eff.invert_power(res.fits.adamw[si], m.targets[si])) or m.n_fit[si]
      steps[si] = fmt_num(n, "%.0f")
    end
    add(string.format("| %s | %g (%s) | %s | %s | %s | %sx | %s |", LABEL[k], res.best[k].lr, table.concat(grid, ", "),
      fmt_loss_summary(finals), table.concat(steps, ", "), fmt_num(tm[k].step_ms, "%.1f"), fmt_num(tm[k].ratio, "%.2f"),
      fmt_num(tm[k].opt_ms, "%.2f")))
  end
  add("")
  add(string.format("Precondition frequency at %d steps, against the number of refreshes (steps / frequency); final val loss, mean ± sd over the seeds:", N))
  add("")
  add("| precondition frequency | refreshes | SOAP final val loss | Shampoo final val loss |")
  add("|---|---|---|---|")
  for _, f in ipairs(res.freqs) do
    local a, b = {}, {}
    for si = 1, ns do a[si], b[si] = res.ablation.soap[f][si].final, res.ablation.shampoo[f][si].final end
    add(string.format("| %d | %d | %s | %s |", f, N // f, fmt_loss_summary(a), fmt_loss_summary(b)))
  end
  if res.degradation then
    local d = res.degradation
    add("")
    add(string.format("Loss increase from frequency %d to %d (%d to %d refreshes): SOAP %s, Shampoo %s; Shampoo's minus SOAP's, paired by seed: %s.",
      d.f_lo, d.f_hi, N // d.f_lo, N // d.f_hi, fmt_summary(d.soap, "%.4f"):gsub("%%", ""), fmt_summary(d.shampoo, "%.4f"):gsub("%%", ""),
      fmt_summary(d.diff, "%.4f"):gsub("%%", "")))
  end
  local text = table.concat(md, "\n") .. "\n"
  U.write_file_atomic(ctx.exp:path("results.md"), text)
  local lines = {}
  for i, r in ipairs(tsv) do lines[i] = table.concat(r, "\t") end
  U.write_file_atomic(ctx.exp:path("results_table.tsv"), table.concat(lines, "\n") .. "\n")
  return text
end


return { measures = measures, draw_figures = draw_figures, tables = tables, fmt_summary = fmt_summary }
end
