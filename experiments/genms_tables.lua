-- experiments/genms_tables.lua: the tables and figures of
-- experiments/genms.lua (split off to keep each file short). Loaded by
-- genms.lua with its module table M: returns {tables =, figures =, T1_LABEL =,
-- T1_METRICS =}.
local repro = require "repro"
local U = repro.util
local G = require "repro.genms"
local plot = require "repro.plot"

local M = ...

local function finite(x) return type(x) == "number" and x == x and x ~= math.huge and x ~= -math.huge end
local function f3(x) return finite(x) and string.format("%.3f", x) or "n/a" end
local function mean(xs) local s, n = 0, 0 for _, v in ipairs(xs) do if finite(v) then s, n = s + v, n + 1 end end return n > 0 and s / n or 0 / 0 end

---------------------------------------------------------------- tables

local T1_LABEL = {cif0 = "CIF-LM 0-shot", cif1 = "CIF-LM 1 example", cif2 = "CIF-LM 2 examples",
  cif0_best = "CIF-LM best-of-L by GNN", template = "template (grammar + cubic cell)",
  template_best = "template + GNN best-of-L", genms = "GenMS (ours)"}
local T1_METRICS = {"cif", "struct", "comp", "unique", "match", "e_gnn", "e_look"}

-- per-unit value of a metric over items: mean (energies over items that have one)
local function unit_value(items, metric)
  local xs = {}
  for _, it in ipairs(items) do if it[metric] ~= nil then xs[#xs + 1] = it[metric] end end
  return mean(xs), #xs
end

local function ci_str(m, lo, hi, f)
  f = f or "%.3f"
  if not finite(m) then return "n/a" end
  return string.format(f .. " [" .. f .. ", " .. f .. "]", m, lo, hi)
end

local function tables(cfg, acc)
  local T1_COLS = {}
  for _, k in ipairs(cfg.cif.shots) do T1_COLS[#T1_COLS + 1] = "cif" .. k end
  T1_COLS[#T1_COLS + 1] = "cif0_best"
  T1_COLS[#T1_COLS + 1] = "template"
  T1_COLS[#T1_COLS + 1] = "template_best"
  T1_COLS[#T1_COLS + 1] = "genms"
  local out, tsv = {}, {}
  local function w(s) out[#out + 1] = s end
  local cov_of = function(items)
    local n, c = 0, 0
    for _, it in ipairs(items) do if it.struct == 1 then n = n + 1; if it.e_look then c = c + 1 end end end
    return n > 0 and c / n or 0
  end
  -- Table 1
  w("## Table 1: GenMS against the CIF-writing language model (ours; 95% bootstrap CI over requests x seeds)")
  w("")
  w("| family | method | CIF valid | structure valid | composition valid | unique | request match | E_f GNN | E_f lookup | lookup coverage |")
  w("|---|---|---|---|---|---|---|---|---|---|")
  tsv.t1 = {}
  local claims = {c1 = {}}
  for _, fam in ipairs(cfg.families) do
    local units = {}
    for _, un in ipairs(acc.units) do if un.family == fam then units[#units + 1] = un end end
    for _, col in ipairs(T1_COLS) do
      local cells, row = {}, {fam, col}
      for _, met in ipairs(T1_METRICS) do
        local xs = {}
        for _, un in ipairs(units) do
          if un.t1[col] then local v = unit_value(un.t1[col], met); if finite(v) then xs[#xs + 1] = v end end
        end
        local m, lo, hi = G.bootstrap(xs, {seed = 11})
        cells[#cells + 1] = ci_str(m, lo, hi, met:sub(1, 2) == "e_" and "%.3f" or "%.2f")
        row[#row + 1] = m; row[#row + 1] = lo; row[#row + 1] = hi
      end
      local covs = {}
      for _, un in ipairs(units) do if un.t1[col] then covs[#covs + 1] = cov_of(un.t1[col]) end end
      local cov = mean(covs)
      row[#row + 1] = cov
      if finite(cov) and cov < M.COVERAGE_LIMIT then cells[7] = cells[7] .. " (coverage < 30%: not used)" end
      w(string.format("| %s | %s | %s | %s |", fam, T1_LABEL[col], table.concat(cells, " | "), f3(cov)))
      tsv.t1[#tsv.t1 + 1] = row
    end
    -- C1 differences GenMS - each baseline (paired by unit)
    for _, col in ipairs(T1_COLS) do
      if col ~= "genms" then
        for _, met in ipairs{"e_look", "match", "struct", "comp"} do
          local d = {}
          for _, un in ipairs(units) do
            local a, b = unit_value(un.t1.genms, met), unit_value(un.t1[col], met)
            if finite(a) and finite(b) then d[#d + 1] = a - b end
          end
          local m, lo, hi = G.bootstrap(d, {seed = 13})
          claims.c1[#claims.c1 + 1] = {fam, col, met, m, lo, hi, #d}
        end
      end
    end
  end
  w("")
  w("Paper (" .. M.PAPER.cite .. "), Table 1, shown apart: Gemini prompted with 1/5/25/Max example CIFs against GenMS;")
  w("GenMS is best on formation energy, uniqueness and match rate there (their DFT and GNoME network; not comparable in value).")
  w("")
  w("C1 differences, GenMS minus baseline (lookup E_f: negative favours GenMS; rates: positive favours GenMS):")
  w("")
  w("| family | baseline | metric | difference [95% CI] | units |")
  w("|---|---|---|---|---|")
  for _, r in ipairs(claims.c1) do w(string.format("| %s | %s | %s | %s | %d |", r[1], T1_LABEL[r[2]], r[3], ci_str(r[4], r[5], r[6]), r[7])) end
  -- Table 2
  w("")
  w("## Table 2: best energy found against H formulae and L structures (sub-draws of one pool per request)")
  w("")
  w("| H | L | E_f lookup [95% CI] | lookup coverage | E_f GNN [95% CI] | GNN - lookup (optimizer's curse) |")
  w("|---|---|---|---|---|---|")
  tsv.t2 = {}
  for _, H in ipairs(cfg.grid_H) do
    for _, L in ipairs(cfg.grid_L) do
      local key = H .. "x" .. L
      local el, eg, cv, gap = {}, {}, {}, {}
      for _, un in ipairs(acc.units) do
        local c = un.t2[key]
        if c then
          if finite(c.look) then el[#el + 1] = c.look end
          if finite(c.gnn) then eg[#eg + 1] = c.gnn end
          cv[#cv + 1] = c.coverage
          if finite(c.look) and finite(c.gnn) then gap[#gap + 1] = c.gnn - c.look end
        end
      end
      if #cv > 0 then
        local m1, l1, h1 = G.bootstrap(el, {seed = 17})
        local m2, l2, h2 = G.bootstrap(eg, {seed = 19})
        local cov = mean(cv)
        w(string.format("| %d | %d | %s%s | %s | %s | %s |", H, L, ci_str(m1, l1, h1), cov < M.COVERAGE_LIMIT and " (coverage < 30%)" or "",
          f3(cov), ci_str(m2, l2, h2), f3(mean(gap))))
        tsv.t2[#tsv.t2 + 1] = {H, L, m1, l1, h1, cov, m2, l2, h2, mean(gap)}
      end
    end
  end
  -- C2 corner difference (H_max, L_max) - (1, 1)
  local hi_key, lo_key = cfg.grid_H[#cfg.grid_H] .. "x" .. cfg.grid_L[#cfg.grid_L], "1x1"
  local d2 = {}
  for _, un in ipairs(acc.units) do
    local a, b = un.t2[hi_key], un.t2[lo_key]
    if a and b and finite(a.look) and finite(b.look) then d2[#d2 + 1] = a.look - b.look end
  end
  local c2m, c2l, c2h = G.bootstrap(d2, {seed = 23})
  w("")
  w(string.format("C2: lookup E_f at (%s) minus (1x1): %s over %d units (negative = energy falls).", hi_key, ci_str(c2m, c2l, c2h), #d2))
  w("Paper: " .. M.PAPER.t2_note .. ".")
  claims.c2 = {c2m, c2l, c2h, #d2}
  -- Table 3
  w("")
  w("## Table 3: compliance when the constraint is asked for and when it is not (formula level, pi_hi with retrieval)")
  w("")
  w("| constraint | not asked | asked | asked - not asked [95% CI] |")
  w("|---|---|---|---|")
  tsv.t3 = {}
  claims.c3 = {}
  for _, cname in ipairs{"element", "gap", "list", "database"} do
    local a, n, d = {}, {}, {}
    for _, un in ipairs(acc.units) do
      local r = un.t3[cname]
      if r and finite(r.asked) and finite(r.not_asked) then a[#a + 1] = r.asked; n[#n + 1] = r.not_asked; d[#d + 1] = r.asked - r.not_asked end
    end
    local m, lo, hi = G.bootstrap(d, {seed = 29})
    w(string.format("| %s | %s | %s | %s |", cname, f3(mean(n)), f3(mean(a)), ci_str(m, lo, hi)))
    tsv.t3[#tsv.t3 + 1] = {cname, mean(n), mean(a), m, lo, hi, #d}
    claims.c3[cname] = {m, lo, hi}
  end
  w("Paper: " .. M.PAPER.t3_note .. ".")
  -- Table 4
  w("")
  w("## Table 4: retrieval on against off (formula level; twin models at equal training budget)")
  w("")
  w("| metric | retrieval | no retrieval | difference [95% CI] |")
  w("|---|---|---|---|")
  tsv.t4 = {}
  claims.c4 = {}
  for _, met in ipairs{"valid", "match"} do
    local r, n, d = {}, {}, {}
    for _, un in ipairs(acc.units) do
      r[#r + 1] = un.t4["rag_" .. met]; n[#n + 1] = un.t4["norag_" .. met]; d[#d + 1] = un.t4["rag_" .. met] - un.t4["norag_" .. met]
    end
    local m, lo, hi = G.bootstrap(d, {seed = 31})
    w(string.format("| %s formula rate | %s | %s | %s |", met, f3(mean(r)), f3(mean(n)), ci_str(m, lo, hi)))
    tsv.t4[#tsv.t4 + 1] = {met, mean(r), mean(n), m, lo, hi}
    claims.c4[met] = {m, lo, hi}
  end
  w("Paper: " .. M.PAPER.t4_note .. ".")
  -- Fig. 4
  local better, equal, worse, n4 = 0, 0, 0, 0
  for _, r in ipairs(acc.fig4) do
    if finite(r[3]) and finite(r[4]) then
      n4 = n4 + 1
      if r[4] < r[3] - 1e-9 then better = better + 1 elseif r[4] > r[3] + 1e-9 then worse = worse + 1 else equal = equal + 1 end
    end
  end
  w("")
  w(string.format("## Fig. 4 analogue: best-of-%d (by the GNN) against one sample, lookup E_f, %d U compositions x seeds", cfg.fig4_k, #acc.fig4))
  w("")
  w(string.format("Both with a lookup value: %d. Best-of-%d lower: %d (%.1f%%), equal: %d, higher: %d.", n4, cfg.fig4_k, better,
    100 * better / math.max(n4, 1), equal, worse))
  w("Paper: " .. M.PAPER.fig4 .. ".")
  claims.c5 = {better = better, equal = equal, worse = worse, n = n4}
  -- GNN
  w("")
  w(string.format("GNN held-out MAE on U per seed: %s eV/atom (mean predictor: %s). Limit for ranking claims: %.2f.",
    table.concat((function() local t = {} for i, v in ipairs(acc.mae) do t[i] = f3(v) end return t end)(), ", "),
    table.concat((function() local t = {} for i, v in ipairs(acc.mean_mae) do t[i] = f3(v) end return t end)(), ", "), M.MAE_LIMIT))
  return table.concat(out, "\n") .. "\n", tsv, claims
end

---------------------------------------------------------------- figures

-- The best structure each method returned per (request, seed): its network
-- energy and, where it has one, its lookup energy, against the request's
-- source formula's DFT energy (what the request was built from); and the
-- Table 2 grid as curves over L.
local FIG_COLS = {"genms", "template_best", "cif0_best"}
local function figures(cfg, acc, tsv, dir)
  local series = {}
  local ref = {x = {}, y = {}}
  for ui, un in ipairs(acc.units) do ref.x[#ref.x + 1] = ui; ref.y[#ref.y + 1] = un.source_heat end
  for _, col in ipairs(FIG_COLS) do
    local g, l = {name = T1_LABEL[col] .. ", GNN", x = {}, y = {}}, {name = T1_LABEL[col] .. ", lookup", x = {}, y = {}}
    for ui, un in ipairs(acc.units) do
      local best
      for _, it in ipairs(un.t1[col] or {}) do
        if finite(it.e_gnn) and (not best or it.e_gnn < best.e_gnn) then best = it end
      end
      if best then
        g.x[#g.x + 1], g.y[#g.y + 1] = ui, best.e_gnn
        if finite(best.e_look) then l.x[#l.x + 1], l.y[#l.y + 1] = ui, best.e_look end
      end
    end
    if #g.x > 0 then series[#series + 1] = g end
    if #l.x > 0 then series[#series + 1] = l end
  end
  series[#series + 1] = {name = "request's source formula (DFT, U)", x = ref.x, y = ref.y}
  plot.scatter{file = U.join(dir, "genms_best_energy"),
    title = "Best of the W structures returned, per request",
    xlabel = "request x seed (see requests.tsv)", ylabel = "formation energy (eV/atom)", key = "outside", series = series}
  local curves = {}
  for _, H in ipairs(cfg.grid_H) do
    local xg, yg, xl, yl = {}, {}, {}, {}
    for _, r in ipairs(tsv.t2) do
      if r[1] == H then
        if finite(r[7]) then xg[#xg + 1], yg[#yg + 1] = r[2], r[7] end
        if finite(r[3]) then xl[#xl + 1], yl[#yl + 1] = r[2], r[3] end
      end
    end
    if #xg > 0 then curves[#curves + 1] = {name = "H = " .. H .. ", GNN", x = xg, y = yg, style = "linespoints"} end
    if #xl > 0 then curves[#curves + 1] = {name = "H = " .. H .. ", lookup", x = xl, y = yl, style = "linespoints"} end
  end
  if #curves > 0 then
    plot.lines{file = U.join(dir, "genms_grid"), title = "Table 2: best energy found against L structures per formula",
      xlabel = "L (structures per formula)", ylabel = "formation energy (eV/atom)", logx = true, key = "outside",
      series = curves}
  end
end

return {tables = tables, figures = figures, T1_LABEL = T1_LABEL, T1_METRICS = T1_METRICS}
