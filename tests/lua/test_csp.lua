-- tests/lua/test_csp.lua: smoke test of experiments/csp.lua: the `smoke`
-- preset loads perov_5, splits it by composition, trains CGCNN, DiffCSP and
-- the compact model a few steps each, samples, matches and writes the tables
-- and figures' data; the split keeps compositions apart.
local A = dofile(arg[0]:match("(.*/)") .. "assert.lua")
local repro = require "repro"
local U = repro.util

local tmp = A.tmpdir()

local M = A.experiment("csp")

A.test("presets and published numbers", function()
  for _, p in ipairs{"smoke", "fast", "paper"} do A.truthy(M.PRESETS[p], "preset " .. p) end
  A.eq(20, M.PRESETS.fast.kmax)
  A.eq("perov_5,carbon_24", table.concat(M.PRESETS.paper.datasets, ","))
  A.near(52.02, M.PUBLISHED.diffcsp.perov_5.match1, 0); A.near(98.60, M.PUBLISHED.diffcsp.perov_5.match20, 0)
  A.near(17.54, M.PUBLISHED.diffcsp.carbon_24.match1, 0); A.near(88.51, M.PUBLISHED.cdvae.perov_5.match20, 0)
end)

A.test("split by composition", function()
  local s = M.load_split("perov_5", 1, 400)
  local where = {}
  for name, part in pairs(s) do
    A.truthy(#part > 0, name .. " is not empty")
    for _, r in ipairs(part) do
      A.truthy(where[r.formula] == nil or where[r.formula] == name, "composition " .. r.formula .. " in one part only")
      where[r.formula] = name
      A.truthy(type(r.y) == "number", "heat_ref read")
    end
  end
  A.eq(160, #s.test, "40% of 400")
  A.eq(s.test[1].formula, M.load_split("perov_5", 1, 400).test[1].formula, "seeded")
end)

A.test("smoke preset end to end", function()
  local out = tmp .. "/smoke"
  local f = assert(io.open(tmp .. "/stdout.txt", "w"))
  local res = M.main({"--preset", "smoke", "--out", out}, {exit = false, stdout = f})
  f:close()
  for _, name in ipairs{"results.md", "results.txt", "results_table.tsv", "samples.tsv", "match_vs_k.tsv", "gnn_test.tsv",
                        "runs/gnn.tsv", "runs/diffcsp.tsv", "runs/compact.tsv", "figures/csp_perov_5_match_vs_k.tsv",
                        "figures/csp_perov_5_lattice.gp", "figures/csp_perov_5_energy_parity.tsv"} do
    local fh = io.open(U.join(out, name), "r")
    A.truthy(fh ~= nil, name .. " written")
    if fh then fh:close() end
  end
  local R = res.datasets.perov_5
  for _, m in ipairs{"template", "diffcsp", "compact"} do
    local e = R.eval[m]
    A.eq(M.PRESETS.smoke.kmax, #e.curve, m .. ": one point per k")
    for k = 2, #e.curve do A.truthy(e.curve[k].match >= e.curve[k - 1].match, m .. ": match rate never falls with k") end
    A.truthy(e.validity >= 0 and e.validity <= 100, m .. ": validity in %")
  end
  A.eq(100, R.eval.template.validity, "the template is always valid")
  A.truthy(R.gnn.mae > 0 and R.gnn.mean_mae > 0, "energy MAEs measured")
  local md = assert(io.open(U.join(out, "results.md"))):read("a")
  A.truthy(md:find("DiffCSP (published)", 1, true) and md:find("52.02%", 1, true), "published numbers in their own rows")
end)

A.test("carbon_24: its own run logs, checkpoints and sample rows beside perov_5's", function()
  local out = tmp .. "/both"
  local f = assert(io.open(tmp .. "/stdout2.txt", "w"))
  local res = M.main({"--preset", "smoke", "--datasets", "perov_5,carbon_24", "--out", out}, {exit = false, stdout = f})
  f:close()
  local R = res.datasets.carbon_24
  A.truthy(R ~= nil, "carbon_24 evaluated")
  A.truthy(R.eval.template == nil and R.gnn == nil, "no perovskite template or heat_ref model for carbon_24")
  for _, m in ipairs{"diffcsp", "compact"} do
    local e = R.eval[m]
    A.eq(M.PRESETS.smoke.kmax, #e.curve, m .. ": one point per k")
    A.truthy(e.validity >= 0 and e.validity <= 100, m .. ": validity in %")
    A.truthy(type(res.results["carbon_24." .. m .. ".match1"]) == "number", m .. ": carbon_24 result recorded")
    -- one run log and one checkpoint folder per data set: the second data set
    -- must neither overwrite the first one's log nor resume from its checkpoints
    for _, name in ipairs{"runs/" .. m .. ".tsv", "runs/" .. m .. "_carbon_24.tsv", "checkpoint/" .. m .. "_carbon_24"} do
      A.truthy(U.exists(U.join(out, name)), name .. " written")
    end
  end
  local counts = {}
  local lines = {}
  for line in io.lines(U.join(out, "samples.tsv")) do lines[#lines + 1] = line end
  local ncol = select(2, lines[1]:gsub("\t", "")) + 1
  for i = 2, #lines do
    A.eq(ncol, select(2, lines[i]:gsub("\t", "")) + 1, "samples.tsv row " .. i .. " has a cell per column")
    local ds = lines[i]:match("^([^\t]+)")
    counts[ds] = (counts[ds] or 0) + 1
  end
  A.eq(3 * M.PRESETS.smoke.n_eval * M.PRESETS.smoke.kmax, counts.perov_5, "perov_5 rows: three models")
  A.eq(2 * M.PRESETS.smoke.n_eval * M.PRESETS.smoke.kmax, counts.carbon_24, "carbon_24 rows: two models")
  local md = assert(io.open(U.join(out, "results.md"))):read("a")
  A.truthy(md:find("## carbon_24", 1, true) and md:find("17.54%", 1, true), "carbon_24 section with its published row")
end)

os.execute("rm -rf '" .. tmp .. "'")
A.done("csp")
