-- experiments/csp.lua: crystal structure prediction (CSP) on perov_5 (and
-- carbon_24 in the paper preset) with two diffusion models and a template
-- baseline, plus a CGCNN formation-energy model, at CPU scale.
--
--   repro experiments/csp.lua                  # fast preset (default)
--   repro experiments/csp.lua --preset paper   # hours; not run by CI
--   repro experiments/csp.lua --preset smoke   # seconds; the test's preset
--
-- Data: the val + test splits of the CDVAE benchmark (data/, through
-- repro.crystal.load), split by composition with a fixed seed:
-- K (60%: train 54%, validation 6%) and U (40%, never seen in training).
-- Every model trains on K-train only; everything is measured on U.
--
-- What runs (see docs/csp.md for the pre-registered claims):
--  1. nn.CGCNN on perov_5 heat_ref (eV/atom): MAE on U, beside the MAE of
--     the mean of K-train (our mean predictor) and matbench's published MAEs.
--  2. CSP on `n_eval` U structures (drawn with the seed): for each, `kmax`
--     samples of its composition from nn.DiffCSP, nn.CompactDiffusion (EMA
--     weights) and the template (ideal cubic perovskite, A/B sites and the
--     anion sites assigned at random). A sample counts when it is
--     structurally valid (min distance >= 0.5 A, volume >= 0.1 A^3) and
--     repro.crystal.match finds it equal to the reference (DiffCSP's
--     tolerances: ltol 0.3, stol 0.5, angle_tol 10). Match rate at k: share
--     of references matched by one of the first k samples; RMSE at k: mean
--     over matched references of the smallest normalised RMS displacement
--     among those samples. Seconds per sample are wall-clock.
--  3. Published numbers (DiffCSP, CDVAE, matbench) in their own labelled
--     table, never mixed into ours.
--
-- Output (out/csp/PRESET): config.txt, run.txt, results.txt, results.md,
-- results_table.tsv, samples.tsv (every sample: validity, match, RMS,
-- lattice parameters, min distance), match_vs_k.tsv, gnn_test.tsv,
-- runs/*.tsv (training logs: runs/diffcsp.tsv for perov_5,
-- runs/diffcsp_carbon_24.tsv for carbon_24), figures/*.{tsv,gp,png,svg}. The fast preset,
-- run unchanged, copies figures and tables to figures/csp/.
local repro = require "repro"
local T, nn, U = repro.tensor, repro.nn, repro.util
local crystal = repro.crystal
local gnn = repro.gnn
local CD = repro.crystal_diffusion
local MT = require "repro.materials_train"
local plot = require "repro.plot"
local Experiment = require "repro.experiment"

local M = {}

-- Published numbers, cited; shown beside ours, never mixed into them.
M.PUBLISHED = {
  diffcsp = {cite = "Jiao et al. 2023, Crystal Structure Prediction by Joint Equivariant Diffusion (DiffCSP), arXiv 2309.04475, Table 1",
             perov_5 = {match1 = 52.02, rmse1 = 0.0760, match20 = 98.60, rmse20 = 0.0128},
             carbon_24 = {match1 = 17.54, match20 = 88.47}},
  cdvae = {cite = "CDVAE (Xie et al. 2022) as reported in DiffCSP's Table 1",
           perov_5 = {match1 = 45.31, match20 = 88.51}},
  matbench = {cite = "Matbench v0.1 matbench_perovskites leaderboard (5-fold CV on the 18,928 structures; unit given as eV/unit cell there)",
              CGCNN = 0.045, SchNet = 0.034, ["composition only (CrabNet)"] = 0.41, ["mean predictor (Dummy)"] = 0.57},
}

M.MATCH = {ltol = 0.3, stol = 0.5, angle_tol = 10}

local function preset(t) return t end
M.PRESETS = {
  smoke = preset {
    datasets = {"perov_5"}, max_structures = 240, n_eval = 3, kmax = 2, threads = 0, publish = "",
    gnn = {dim = 8, layers = 1, steps = 4, batch = 8, lr = 2e-3, k = 12, cutoff = 8},
    diffcsp = {dim = 8, layers = 1, freqs = 2, T = 4, steps = 4, batch = 8, lr = 1e-3, ema = 0.9, step_lr = 5e-7},
    compact = {dim = 8, blocks = 1, heads = 2, sample_steps = 4, steps = 4, batch = 8, lr = 1e-3, ema = 0.9},
  },
  -- the default: at most 15 minutes on 2 cores (idle machine)
  fast = preset {
    datasets = {"perov_5"}, max_structures = 0, n_eval = 100, kmax = 20, threads = 2, publish = "figures/csp",
    gnn = {dim = 48, layers = 3, steps = 1500, batch = 64, lr = 2e-3, k = 12, cutoff = 8},
    diffcsp = {dim = 64, layers = 3, freqs = 8, T = 250, steps = 2000, batch = 64, lr = 1e-3, ema = 0.999, step_lr = 5e-7},
    compact = {dim = 64, blocks = 4, heads = 4, sample_steps = 256, steps = 2000, batch = 64, lr = 1e-3, ema = 0.999},
  },
  -- hours: larger models, longer training, carbon_24 too (not run by CI)
  paper = preset {
    datasets = {"perov_5", "carbon_24"}, max_structures = 0, n_eval = 1000, kmax = 20, threads = 2, publish = "",
    gnn = {dim = 64, layers = 4, steps = 20000, batch = 64, lr = 2e-3, k = 12, cutoff = 8},
    diffcsp = {dim = 128, layers = 4, freqs = 32, T = 1000, steps = 40000, batch = 64, lr = 1e-3, ema = 0.999, step_lr = 5e-7},
    compact = {dim = 128, blocks = 6, heads = 4, sample_steps = 256, steps = 40000, batch = 64, lr = 1e-3, ema = 0.999},
  },
}

M.OPTIONS = {
  datasets = {help = "data sets (perov_5, carbon_24)", list = true, choices = {"perov_5", "carbon_24"}},
  max_structures = {help = "keep about this many structures in all (0: all; the smoke test's subset)", min = 0},
  n_eval = {help = "U references of the CSP evaluation", min = 1},
  kmax = {help = "samples per reference (match rate at k = 1..kmax)", min = 1},
  threads = {help = "threads (0: leave as set by REPRO_THREADS)", min = 0},
  publish = {help = "folder under the source tree the preset's figures are copied to (\"\": none)"},
  ["gnn.dim"] = {help = "CGCNN width", min = 1}, ["gnn.layers"] = {help = "CGCNN convolutions", min = 1},
  ["gnn.steps"] = {help = "CGCNN training steps", min = 1}, ["gnn.batch"] = {help = "CGCNN crystals per batch", min = 1},
  ["gnn.lr"] = {help = "CGCNN peak learning rate", gt = 0}, ["gnn.k"] = {help = "neighbours per atom", min = 1},
  ["gnn.cutoff"] = {help = "neighbour cutoff (Angstrom)", gt = 0},
  ["diffcsp.dim"] = {help = "DiffCSP width", min = 1}, ["diffcsp.layers"] = {help = "DiffCSP layers", min = 1},
  ["diffcsp.freqs"] = {help = "Fourier frequencies of fractional differences", min = 1},
  ["diffcsp.T"] = {help = "diffusion steps (sampling calls the network 2T times)", min = 1},
  ["diffcsp.steps"] = {help = "DiffCSP training steps", min = 1}, ["diffcsp.batch"] = {help = "DiffCSP batch", min = 1},
  ["diffcsp.lr"] = {help = "DiffCSP peak learning rate", gt = 0}, ["diffcsp.ema"] = {help = "EMA decay", min = 0, lt = 1},
  ["diffcsp.step_lr"] = {help = "Langevin corrector step size (DiffCSP's perov_5 value 5e-7)", min = 0},
  ["compact.dim"] = {help = "compact model width", min = 1}, ["compact.blocks"] = {help = "MLP + attention blocks", min = 1},
  ["compact.heads"] = {help = "attention heads (divide compact.dim)", min = 1},
  ["compact.sample_steps"] = {help = "ancestral sampling steps", min = 1},
  ["compact.steps"] = {help = "compact model training steps", min = 1}, ["compact.batch"] = {help = "compact model batch", min = 1},
  ["compact.lr"] = {help = "compact model peak learning rate", gt = 0}, ["compact.ema"] = {help = "EMA decay", min = 0, lt = 1},
}

M.TIMES = {smoke = "about 10 s (the test's preset)", fast = "about 15 min on 2 idle cores", paper = "hours (not run by CI)"}

local function finite(x) return type(x) == "number" and x == x and x ~= math.huge and x ~= -math.huge end
local function pct(x) return finite(x) and string.format("%.2f%%", x) or "n/a" end
local function num(x, f) return finite(x) and string.format(f or "%.4f", x) or "n/a" end

---------------------------------------------------------------- data

-- The data set through repro.crystal.load (bundled gzip CSVs, seeded split by
-- composition for perov_5, by structure for carbon_24): {train, val, test}
-- lists of rows {s = Structure, formula =, y = heat_ref or energy_per_atom}.
-- max_structures > 0 keeps the first rows of each part in proportion (smoke).
M.FRACTIONS = {train = 0.54, val = 0.06, test = 0.40}

function M.load_split(name, seed, max_structures)
  local target = name == "perov_5" and "heat_ref" or "energy_per_atom"
  local out = {}
  for _, part in ipairs{"train", "val", "test"} do
    local recs = crystal.load(name, {split = part, seed = seed, fractions = M.FRACTIONS})
    local keep = #recs
    if max_structures and max_structures > 0 then keep = math.min(keep, math.max(1, math.floor(M.FRACTIONS[part] * max_structures))) end
    local rows = {}
    for i = 1, keep do
      local r = recs[i]
      rows[i] = {s = r.structure, formula = r.formula, y = r[target]}
    end
    out[part] = rows
  end
  return out
end

---------------------------------------------------------------- validity

local function structure_valid(s)
  if not crystal.is_structure(s) then return false end
  local ok, v = pcall(crystal.structure_valid, s)
  return ok and v and true or false
end

-- matched, rms (a failing match, e.g. on a degenerate sample, is no match)
local function match(a, b)
  local ok, m, rms = pcall(crystal.match, a, b, M.MATCH)
  if not ok then return false, nil end
  return m and true or false, m and rms or nil
end

---------------------------------------------------------------- template baseline

local ANION = {[7] = true, [8] = true, [9] = true, [16] = true}

-- Ideal cubic perovskite for the composition of s: the two cations on the A
-- (0,0,0) and B (1/2,1/2,1/2) sites in random order, the anions on the three
-- face centres in random order; a = the mean K-train cube edge.
local function template_sample(zs, n, a, g)
  local cat, an = {}, {}
  for _, z in ipairs(zs) do if ANION[z] then an[#an + 1] = z else cat[#cat + 1] = z end end
  if #cat ~= 2 or #an ~= 3 then return nil end
  local sites = {{0, 0, 0}, {0.5, 0.5, 0.5}, {0.5, 0.5, 0}, {0.5, 0, 0.5}, {0, 0.5, 0.5}}
  local out = {}
  local u = T.rand({n, 5}, {generator = g}):totable()
  for i = 1, n do
    local c = u[i][1] < 0.5 and {cat[1], cat[2]} or {cat[2], cat[1]}
    local order = {1, 2, 3}
    table.sort(order, function(p, q) return u[i][p + 1] < u[i][q + 1] end)
    local sp = {c[1], c[2], an[order[1]], an[order[2]], an[order[3]]}
    out[i] = crystal.Structure{lattice = {{a, 0, 0}, {0, a, 0}, {0, 0, a}}, species = sp, frac = sites}
  end
  return out
end

---------------------------------------------------------------- training

local function train_gnn(cfg, split, exp, log)
  local gc = cfg.gnn
  local mean = 0
  for _, r in ipairs(split.train) do mean = mean + r.y end
  mean = mean / #split.train
  local graphs = {}
  local function graph(r)
    if not graphs[r] then graphs[r] = gnn.graph(r.s, {k = gc.k, cutoff = gc.cutoff}) end
    return graphs[r]
  end
  local model = nn.CGCNN{dim = gc.dim, layers = gc.layers, cutoff = gc.cutoff, seed = cfg.seed}
  local function loss(m, items)
    local gs, ys = {}, {}
    for i, r in ipairs(items) do gs[i], ys[i] = graph(r), r.y - mean end
    return (m(gnn.batch(gs)) - T.tensor(ys)):abs():mean()
  end
  local fit = MT.fit{model = model, loss = loss, data = MT.Sampler{items = split.train, seed = cfg.seed + 1},
    steps = gc.steps, batch = gc.batch, lr = gc.lr, warmup = math.min(100, gc.steps // 10),
    log = exp:path("runs", "gnn.tsv"), quiet = true}
  log(string.format("gnn: %d steps in %s", gc.steps, U.format_duration(fit.seconds)))
  -- predictions on U
  local preds, ae, aem = {}, 0, 0
  T.no_grad(function()
    for s = 1, #split.test, 256 do
      local gs = {}
      for i = s, math.min(#split.test, s + 255) do gs[#gs + 1] = graph(split.test[i]) end
      local p = model(gnn.batch(gs)):totable()
      for j = 1, #gs do preds[s + j - 1] = p[j] + mean end
    end
  end)
  local rows = {}
  for i, r in ipairs(split.test) do
    ae, aem = ae + math.abs(preds[i] - r.y), aem + math.abs(mean - r.y)
    rows[i] = {i, r.y, preds[i]}
  end
  exp:write_tsv("gnn_test.tsv", {"index", "heat_ref", "predicted"}, rows)
  return {mae = ae / #split.test, mean_mae = aem / #split.test, mean = mean, preds = preds,
          seconds = fit.seconds, params = model:num_parameters(), n_train = #split.train, n_test = #split.test}
end

-- run names the run log (runs/RUN.tsv) and checkpoint folder: the model
-- kind for perov_5, kind_dataset for the others, so the data sets of one
-- run (the paper preset trains on perov_5 and carbon_24) neither overwrite
-- each other's logs nor resume from each other's checkpoints.
local function train_diffusion(kind, run, cfg, split, exp, log)
  local c = cfg[kind]
  local model
  if kind == "diffcsp" then
    model = nn.DiffCSP{dim = c.dim, layers = c.layers, freqs = c.freqs, T = c.T, step_lr = c.step_lr, seed = cfg.seed}
  else
    local structs = {}
    for i, r in ipairs(split.train) do structs[i] = r.s end
    model = nn.CompactDiffusion{dim = c.dim, blocks = c.blocks, heads = c.heads, steps = c.sample_steps,
      lattice_stats = CD.lattice_stats(structs), seed = cfg.seed}
  end
  local fit = MT.fit{model = model, data = MT.Sampler{items = split.train, seed = cfg.seed + 2,
      bucket = function(r) return r.s:natoms() end},
    loss = function(m, items)
      local ss = {}
      for i, r in ipairs(items) do ss[i] = r.s end
      return (m:loss(CD.batch(ss)))
    end,
    steps = c.steps, batch = c.batch, lr = c.lr, ema = c.ema, warmup = math.min(100, c.steps // 10),
    log = exp:path("runs", run .. ".tsv"), checkpoint = exp:checkpoint_dir(run),
    checkpoint_every = math.max(1, c.steps // 4), resume = exp.resume, quiet = true}
  log(string.format("%s: %d parameters, %d steps in %s", run, model:num_parameters(), c.steps, U.format_duration(fit.seconds)))
  return model, fit
end

---------------------------------------------------------------- evaluation

local function lattice_row(s)
  if not crystal.is_structure(s) then return {0 / 0, 0 / 0, 0 / 0, 0 / 0, 0 / 0, 0 / 0} end
  return {s:lattice_params()}
end

-- Sample, validate and match kmax structures for each reference of data set ds.
local function evaluate(ds, name, sampler, refs, cfg, samples_rows)
  local kmax = cfg.kmax
  local best = {}       -- best[i][k]: smallest rms among matched samples 1..k (nil: none)
  local nvalid, ntotal, secs = 0, 0, 0
  local lat, mind = {}, {}
  for i, r in ipairs(refs) do
    local zs = r.s:numbers():totable()
    local t = U.timer()
    local ss = sampler(zs, i)
    secs = secs + t:elapsed()
    best[i] = {}
    local cur
    for j = 1, kmax do
      local s = ss and ss[j]
      local valid = s ~= nil and structure_valid(s)
      local m, rms = false, nil
      if valid then m, rms = match(s, r.s) end
      if m and (cur == nil or rms < cur) then cur = rms end
      best[i][j] = cur
      ntotal = ntotal + 1
      if valid then nvalid = nvalid + 1 end
      local lp = s and lattice_row(s) or lattice_row(nil)
      local md = valid and s:natoms() > 1 and s:min_distance() or 0 / 0
      if j == 1 and valid then
        lat[#lat + 1] = lp[1]; lat[#lat + 1] = lp[2]; lat[#lat + 1] = lp[3]
        mind[#mind + 1] = md
      end
      samples_rows[#samples_rows + 1] = {ds, name, i, j, valid and 1 or 0, m and 1 or 0, rms or 0 / 0,
        lp[1], lp[2], lp[3], lp[4], lp[5], lp[6], md}
    end
  end
  local curve = {}
  for k = 1, kmax do
    local nm, sum = 0, 0
    for i = 1, #refs do if best[i][k] then nm = nm + 1; sum = sum + best[i][k] end end
    curve[k] = {match = 100 * nm / #refs, rmse = nm > 0 and sum / nm or 0 / 0}
  end
  return {curve = curve, validity = 100 * nvalid / math.max(ntotal, 1),
          sec_per_sample = secs / math.max(#refs * kmax, 1), lat = lat, mind = mind}
end

---------------------------------------------------------------- report

local MODELS = {"template", "diffcsp", "compact"}
local LABEL = {template = "template (cubic, random A/B)", diffcsp = "DiffCSP-style (ours)", compact = "GenMS compact (ours)"}

local function report(ds_results, cfg, exp)
  local L = {}
  local function w(s) L[#L + 1] = s end
  w("# Crystal structure prediction at CPU scale (experiments/csp.lua)")
  w("")
  w(string.format("Preset `%s`, seed %d, git revision %s, %s. Machine shared with other jobs: timings are indicative.",
    exp.preset, exp.seed, exp.machine.git_revision or "unknown", exp.machine.date or ""))
  for _, ds in ipairs(cfg.datasets) do
    local R = ds_results[ds]
    w("")
    w(string.format("## %s: our measurements (%d U references, k up to %d)", ds, R.n_eval, cfg.kmax))
    w("")
    w("| model | match@1 | RMSE@1 | match@" .. cfg.kmax .. " | RMSE@" .. cfg.kmax .. " | validity | s/sample |")
    w("|---|---|---|---|---|---|---|")
    for _, m in ipairs(MODELS) do
      local e = R.eval[m]
      if e then
        local c1, ck = e.curve[1], e.curve[cfg.kmax]
        w(string.format("| %s | %s | %s | %s | %s | %s | %s |", LABEL[m], pct(c1.match), num(c1.rmse), pct(ck.match),
          num(ck.rmse), pct(e.validity), num(e.sec_per_sample, "%.3g")))
      end
    end
    local P = M.PUBLISHED
    w("")
    w("Published (their models, their full training; not measured here):")
    w("")
    w("| model | match@1 | RMSE@1 | match@20 | RMSE@20 | source |")
    w("|---|---|---|---|---|---|")
    for _, key in ipairs{"diffcsp", "cdvae"} do
      local p = P[key][ds]
      if p then
        w(string.format("| %s (published) | %s | %s | %s | %s | %s |", key == "diffcsp" and "DiffCSP" or "CDVAE",
          pct(p.match1), num(p.rmse1), pct(p.match20), num(p.rmse20), P[key].cite))
      end
    end
    if R.gnn then
      local g = R.gnn
      w("")
      w(string.format("### Formation energy (%s heat_ref, eV/atom): CGCNN trained on %d K structures, tested on %d U structures", ds,
        g.n_train, g.n_test))
      w("")
      w("| model | MAE (ours) |")
      w("|---|---|")
      w(string.format("| CGCNN (ours, %d parameters, %d steps) | %s |", g.params, cfg.gnn.steps, num(g.mae)))
      w(string.format("| mean of K-train (ours) | %s |", num(g.mean_mae)))
      w("")
      w("| model | MAE (matbench, published) |")
      w("|---|---|")
      for _, k in ipairs{"SchNet", "CGCNN", "composition only (CrabNet)", "mean predictor (Dummy)"} do
        w(string.format("| %s | %s |", k, num(P.matbench[k], "%.3f")))
      end
      w("")
      w("Matbench: " .. P.matbench.cite .. "; ours: val + test splits of CDVAE's perov_5 only.")
    end
  end
  return table.concat(L, "\n") .. "\n"
end

local function figures(ds_results, cfg, exp)
  local dir = exp:path("figures")
  U.mkdir_p(dir)
  for _, ds in ipairs(cfg.datasets) do
    local R = ds_results[ds]
    local series = {}
    for _, m in ipairs(MODELS) do
      local e = R.eval[m]
      if e then
        local xs, ys = {}, {}
        for k = 1, cfg.kmax do xs[k], ys[k] = k, e.curve[k].match end
        series[#series + 1] = {name = LABEL[m], x = xs, y = ys, style = "linespoints"}
      end
    end
    local p = M.PUBLISHED.diffcsp[ds]
    if p then series[#series + 1] = {name = "DiffCSP (published)", x = {1, 20}, y = {p.match1, p.match20}, style = "points"} end
    local q = M.PUBLISHED.cdvae[ds]
    if q then series[#series + 1] = {name = "CDVAE (published)", x = {1, 20}, y = {q.match1, q.match20}, style = "points"} end
    plot.lines{file = U.join(dir, "csp_" .. ds .. "_match_vs_k"), title = ds .. ": match rate against number of samples k",
      xlabel = "k (samples per composition)", ylabel = "match rate (%)", yrange = {0, 100}, key = "bottom right",
      series = series}
    local hs, hm = {{name = "data (U references)", values = R.ref_lat}}, {{name = "data (U references)", values = R.ref_mind}}
    for _, m in ipairs(MODELS) do
      local e = R.eval[m]
      if e and #e.lat > 0 then
        hs[#hs + 1] = {name = LABEL[m], values = e.lat}
        hm[#hm + 1] = {name = LABEL[m], values = e.mind}
      end
    end
    plot.histogram{file = U.join(dir, "csp_" .. ds .. "_lattice"), title = ds .. ": lattice lengths of first samples (valid only)",
      xlabel = "lattice length (Å)", series = hs, bins = 40, density = true}
    plot.histogram{file = U.join(dir, "csp_" .. ds .. "_min_distance"), title = ds .. ": minimum interatomic distance of first samples",
      xlabel = "min distance (Å)", series = hm, bins = 40, density = true}
    if R.gnn then
      local xs, ys = {}, {}
      for i, r in ipairs(R.test) do xs[i], ys[i] = r.y, R.gnn.preds[i] end
      plot.scatter{file = U.join(dir, "csp_" .. ds .. "_energy_parity"),
        title = string.format("%s: CGCNN on U (MAE %.3f eV/atom)", ds, R.gnn.mae),
        xlabel = "heat_ref, DFT (eV/atom)", ylabel = "predicted (eV/atom)",
        series = {{name = "U structures", x = xs, y = ys}, {name = "y = x", x = {-1, 5}, y = {-1, 5}, style = "lines"}}}
    end
  end
end

---------------------------------------------------------------- main

function M.main(args, opts)
  opts = opts or {}
  local exp = Experiment.new{name = "csp", script = "experiments/csp.lua", args = args, exit = opts.exit,
    default = "fast", presets = M.PRESETS, options = M.OPTIONS, times = M.TIMES,
    about = "Crystal structure prediction (the low level of GenMS, arXiv 2409.06762) on perov_5 (and carbon_24 in\n"
      .. "the paper preset): a DiffCSP-style and a GenMS compact diffusion model against the cubic template\n"
      .. "baseline, match rate and RMSE at k samples, validity, seconds per sample; a CGCNN formation-energy model.",
    check = function(c)
      if c.compact.dim % c.compact.heads ~= 0 then
        return string.format("invalid --compact.heads %d: expected a divisor of --compact.dim %d", c.compact.heads, c.compact.dim)
      end
    end}
  if not exp then return nil end
  return exp:run(function() return M.body(exp, opts) end)
end

function M.body(exp, opts)
  local cfg = exp.config
  if cfg.threads and cfg.threads > 0 then repro.set_threads(cfg.threads) end
  local so = opts.stdout or io.stdout
  local function log(s) io.stderr:write("[csp] ", s, "\n") end
  local t_all = U.timer()
  local ds_results, samples_rows, curve_rows, table_rows = {}, {}, {}, {}
  for _, ds in ipairs(cfg.datasets) do
    repro.manual_seed(cfg.seed)
    local split = M.load_split(ds, cfg.seed, cfg.max_structures)
    log(string.format("%s: K-train %d, K-val %d, U %d structures", ds, #split.train, #split.val, #split.test))
    -- the references: n_eval U structures in a seeded order
    local u = T.rand({#split.test}, {generator = T.Generator(cfg.seed + 17)}):totable()
    local order = {}
    for i = 1, #split.test do order[i] = i end
    table.sort(order, function(a, b) if u[a] ~= u[b] then return u[a] < u[b] end return a < b end)
    local refs = {}
    for i = 1, math.min(cfg.n_eval, #order) do refs[i] = split.test[order[i]] end
    local R = {n_eval = #refs, eval = {}, test = split.test, ref_lat = {}, ref_mind = {}}
    for _, r in ipairs(refs) do
      local a, b, c = r.s:lattice_params()
      R.ref_lat[#R.ref_lat + 1] = a; R.ref_lat[#R.ref_lat + 1] = b; R.ref_lat[#R.ref_lat + 1] = c
      R.ref_mind[#R.ref_mind + 1] = r.s:min_distance()
    end
    if ds == "perov_5" then
      R.gnn = train_gnn(cfg, split, exp, log)
      log(string.format("gnn: MAE on U %.4f eV/atom (mean predictor %.4f)", R.gnn.mae, R.gnn.mean_mae))
      local asum = 0
      for _, r in ipairs(split.train) do asum = asum + r.s:volume() ^ (1 / 3) end
      local a = asum / #split.train
      R.eval.template = evaluate(ds, "template", function(zs, i)
        return template_sample(zs, cfg.kmax, a, T.Generator(cfg.seed * 7919 + i))
      end, refs, cfg, samples_rows)
    end
    for _, kind in ipairs{"diffcsp", "compact"} do
      local model, fit = train_diffusion(kind, ds == "perov_5" and kind or kind .. "_" .. ds, cfg, split, exp, log)
      fit.ema:swap()
      R.eval[kind] = evaluate(ds, kind, function(zs, i)
        return model:sample(zs, {n = cfg.kmax, generator = T.Generator(cfg.seed * 104729 + i)})
      end, refs, cfg, samples_rows)
      fit.ema:swap()
      R[kind .. "_train_seconds"] = fit.seconds
    end
    for _, m in ipairs(MODELS) do
      local e = R.eval[m]
      if e then
        for k = 1, cfg.kmax do curve_rows[#curve_rows + 1] = {ds, m, k, e.curve[k].match, e.curve[k].rmse} end
        local c1, ck = e.curve[1], e.curve[cfg.kmax]
        table_rows[#table_rows + 1] = {ds, m, c1.match, c1.rmse, ck.match, ck.rmse, e.validity, e.sec_per_sample}
        log(string.format("%s %s: match@1 %s, match@%d %s, validity %s, %.3g s/sample", ds, m, pct(c1.match), cfg.kmax,
          pct(ck.match), pct(e.validity), e.sec_per_sample))
      end
    end
    ds_results[ds] = R
  end
  -- TSVs: text columns are written as-is
  local function write_mixed(name, cols, rows)
    local lines = {table.concat(cols, "\t")}
    for _, r in ipairs(rows) do
      local cells = {}
      for i, v in ipairs(r) do cells[i] = type(v) == "number" and U.tsv_number(v) or tostring(v) end
      lines[#lines + 1] = table.concat(cells, "\t")
    end
    U.write_file_atomic(exp:path(name), table.concat(lines, "\n") .. "\n")
  end
  write_mixed("samples.tsv", {"dataset", "model", "reference", "sample", "valid", "matched", "rms", "a", "b", "c",
    "alpha", "beta", "gamma", "min_distance"}, samples_rows)
  write_mixed("match_vs_k.tsv", {"dataset", "model", "k", "match_rate_pct", "rmse"}, curve_rows)
  write_mixed("results_table.tsv", {"dataset", "model", "match1_pct", "rmse1", "matchk_pct", "rmsek", "validity_pct",
    "sec_per_sample"}, table_rows)
  figures(ds_results, cfg, exp)
  local md = report(ds_results, cfg, exp)
  U.write_file_atomic(exp:path("results.md"), md)
  local results = {total_seconds = t_all:elapsed()}
  for _, r in ipairs(table_rows) do
    local key = r[1] .. "." .. r[2]
    results[key .. ".match1"], results[key .. ".matchk"], results[key .. ".validity"] = r[3], r[5], r[7]
    results[key .. ".rmse1"], results[key .. ".rmsek"], results[key .. ".sec_per_sample"] = r[4], r[6], r[8]
  end
  if ds_results.perov_5 and ds_results.perov_5.gnn then
    results["perov_5.gnn.mae"], results["perov_5.gnn.mean_mae"] = ds_results.perov_5.gnn.mae, ds_results.perov_5.gnn.mean_mae
  end
  for k, v in pairs(results) do if type(v) == "number" and v ~= v then results[k] = "nan" end end
  exp:write_results(results)
  local dest = exp:publish(cfg.publish, {"figures/csp_*", "results.md", "results_table.tsv", "match_vs_k.tsv",
                                         "config.txt", "run.txt"})
  if dest then log("figures and tables copied to " .. dest)
  elseif dest == false then log("settings differ from the preset: figures stay in " .. exp:path("figures")) end
  so:write("\n", md, "\n")
  so:write(string.format("csp: %s wall-clock; results in %s\n", U.format_duration(t_all:elapsed()), exp.out))
  return {exp = exp, results = results, datasets = ds_results}
end

if select(1, ...) == "csp.module" then return M end
local a = {}
if type(arg) == "table" then for i = 1, #arg do a[i] = arg[i] end end
M.main(a)
