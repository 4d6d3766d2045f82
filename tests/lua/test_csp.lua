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

os.execute("rm -rf '" .. tmp .. "'")
A.done("csp")
