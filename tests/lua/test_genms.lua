-- tests/lua/test_genms.lua: the parts of repro.genms (formulae, perovskite
-- families, requests, R_hi, the compact CIF body, Algorithm 1, bootstrap,
-- LM batches and sampling) and the smoke preset of experiments/genms.lua end
-- to end: every table is written and well formed.
local A = dofile(arg[0]:match("(.*/)") .. "assert.lua")
local repro = require "repro"
local U, T, nn, crystal = repro.util, repro.tensor, repro.nn, repro.crystal
local G = repro.genms

A.test("formulae and families", function()
  local c = G.parse_formula("BaTiO3")
  A.eq(1, c.Ba); A.eq(1, c.Ti); A.eq(3, c.O)
  A.eq(nil, (G.parse_formula("BaXx3")), "unknown element")
  A.eq(nil, (G.parse_formula("ba")), "lower case")
  A.eq(nil, (G.parse_formula("")), "empty")
  A.eq(nil, (G.parse_formula("Ba0")), "zero count")
  A.eq("oxide", G.perovskite(c).family)
  A.eq("oxynitride", G.perovskite(G.parse_formula("LaTiO2N")).family)
  A.eq("oxyfluoride", G.perovskite(G.parse_formula("KNbO2F")).family)
  A.eq("oxide", G.perovskite(G.parse_formula("Ba2O3")).family, "A = B")
  A.eq(nil, (G.perovskite(G.parse_formula("BaTiO2"))), "not ABX3")
  A.eq(nil, (G.perovskite(G.parse_formula("BaTiF3"))), "F3 is not in the grid")
  A.eq("Ba,O,O,O,Ti", table.concat(G.species_list(c), ","))
  A.eq("BaTiO3", G.formula(c))
end)

A.test("characters", function()
  local s = "Q:a oxide perovskite\nA:BaTiO3\n"
  A.eq(s, G.decode(G.encode(s)))
  A.raises(function() G.encode("\t") end, "not in the vocabulary")
  local ids, tg = G.lm_batch({{"A:", "Ba\n"}}, 6)
  local i, t = ids:totable()[1], tg:totable()[1]
  A.eq(G.PAD, i[6], "padding"); A.eq(G.PAD, t[1], "no loss on the prompt")
  A.eq(G.encode("B")[1], t[2], "first target after the prompt")
  A.eq(G.encode("\n")[1], t[4]); A.eq(G.PAD, t[5])
end)

local function db_of(list)
  local recs = {}
  for i, x in ipairs(list) do recs[i] = {formula = x[1], heat_ref = x[2], dir_gap = x[3] or 0, ind_gap = 0} end
  return G.database(recs)
end

A.test("requests and R_hi", function()
  local K = db_of{{"BaTiO3", -0.1, 1.2}, {"SrTiO3", 0.5}, {"LaTiO2N", 1.0}, {"CaZrO3", 2.0}, {"KNbO2F", 3.0}}
  A.truthy(K.attr.BaTiO3.stable and K.attr.BaTiO3.gap, "labels")
  A.truthy(not K.attr.CaZrO3.stable)
  local req = {family = "oxide", element = "Ti", novel = true, exclude = {"CaTiO3"}, style = 1}
  A.eq("a oxide perovskite containing Ti, not in the database, not one of CaTiO3", G.request_text(req))
  A.truthy(G.request_text{family = "oxide", style = G.HELD_OUT_STYLE}:find("^suggest"), "held-out paraphrase")
  A.truthy(G.r_hi(req, "MgTiO3", K).ok, "novel valid oxide with Ti")
  A.eq(false, G.r_hi(req, "BaTiO3", K).ok, "in the database")
  A.eq(false, G.r_hi(req, "CaTiO3", K).ok, "in the list")
  A.eq(false, G.r_hi(req, "MgZrO3", K).ok, "lacks Ti")
  A.eq(false, G.r_hi(req, "LaTiO2N", K).ok, "wrong family")
  A.eq(false, G.r_hi(req, "Ti", K).ok, "not ABX3")
  A.eq(false, G.r_hi(req, "Qq", K).ok, "does not parse")
  A.truthy(G.satisfies(req, "MgTiO3", K, K))
  A.eq(false, G.check({family = "oxide", gap = true}, "SrTiO3", K, K).gap)
  A.eq(nil, G.check({family = "oxide", gap = true}, "MgTiO3", K, K).gap, "no label: not checkable")
  local got = G.retrieve(K, {family = "oxide", element = "Ti"}, 5, "SrTiO3", T.Generator(1))
  A.eq(1, #got); A.eq("BaTiO3", got[1])
  A.truthy(G.formula_prompt(req, got):find("\nE:BaTiO3\nA:$"), "retrieved formulae in the prompt")
  A.truthy(not G.formula_prompt(req, nil):find("E:"), "no-retrieval twin")
  local r = G.request_from(K, "BaTiO3", {0, 0, 0, 0, 0, 0, 0, 0}, {element = 1, stable = 1, gap = 1, novel = 1, exclude = 1})
  A.truthy(r.family == "oxide" and r.stable and r.gap and r.novel and r.exclude_n == 3 and (r.element == "Ba" or r.element == "Ti"))
end)

A.test("Algorithm 1", function()
  local F = {
    {ok = true, score = -1, structures = {{valid = true, energy = 0.5}, {valid = false, energy = -9}, {valid = true, energy = 0.2}}},
    {ok = false, score = 0, structures = {{valid = true, energy = -5}}},
    {ok = true, score = -0.5, structures = {{valid = true, energy = 1.0}, {valid = true}}},
    {ok = true, score = -3, structures = {{valid = true, energy = -1}}},
  }
  local p = G.algorithm1(F, 2, 3)
  A.eq(2, #p, "top W of the R_hi-valid formulae")
  A.eq(1, p[1].fi); A.eq(3, p[1].si, "invalid structures never win"); A.near(0.2, p[1].energy, 0)
  A.eq(3, p[2].fi)
  local q = G.algorithm1(F, 2, 1)
  A.eq(1, q[1].si, "only the first L structures")
  local all = G.algorithm1(F, 10, 3)
  A.eq(4, all[1].fi, "with W large the lowest energy wins"); A.eq(3, #all)
  A.eq(0, #G.algorithm1({}, 3, 3))
end)

A.test("bootstrap", function()
  local m, lo, hi = G.bootstrap({1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
  A.near(5.5, m, 1e-12); A.truthy(lo < m and m < hi and lo >= 1 and hi <= 10)
  local m2, lo2, hi2 = G.bootstrap({2, 2, 2})
  A.eq(2, m2); A.eq(2, lo2); A.eq(2, hi2)
  local e = G.bootstrap({})
  A.truthy(e ~= e, "NaN for no units")
  A.eq(lo, select(2, G.bootstrap({1, 2, 3, 4, 5, 6, 7, 8, 9, 10})), "seeded")
end)

A.test("compact CIF body", function()
  local s = crystal.Structure{lattice = {{4, 0, 0}, {0, 4, 0}, {0, 0, 4}}, species = {"Ba", "Ti", "O", "O", "O"},
    frac = {{0, 0, 0}, {0.5, 0.5, 0.5}, {0.5, 0.5, 0}, {0.5, 0, 0.5}, {0, 0.5, 0.5}}}
  local body = G.cif_body(s)
  A.eq("4.00 4.00 4.00 90 90 90", body:match("^[^\n]+"))
  local back = G.read_body(body)
  A.truthy(back ~= nil, "the body reads back")
  A.eq("BaTiO3", back:formula())
  A.truthy(crystal.match(s, back), "same structure")
  A.eq(nil, G.read_body("4 4 4 90 90\nBa 0 0 0"), "five cell numbers")
  A.eq(nil, G.read_body("4 4 4 90 90 90\nBa 0 0"), "three-field atom line")
  A.eq(nil, G.read_body("4 4 4 90 90 90"), "no atoms")
  A.eq(nil, G.read_body("x y z 90 90 90\nBa 0 0 0"), "not numbers")
  -- lookup: the structure matches an entry of the pool with its formula
  local pool = G.database{{formula = "BaTiO3", heat_ref = 0.7, structure = s}}
  A.near(0.7, G.lookup(pool, back), 0)
  local other = crystal.Structure{lattice = {{4, 0, 0}, {0, 4, 0}, {0, 0, 4}}, species = {"Sr", "Ti", "O", "O", "O"},
    frac = {{0, 0, 0}, {0.5, 0.5, 0.5}, {0.5, 0.5, 0}, {0.5, 0, 0.5}, {0, 0.5, 0.5}}}
  A.eq(nil, G.lookup(pool, other), "no entry of that formula")
end)

A.test("template baseline and fit_anonymous", function()
  local cats = {"Ba", "Ca", "La", "Ti", "Zr"}
  local fs = G.template_formulae({family = "oxynitride", element = "La"}, cats, 40, T.Generator(3))
  A.eq(40, #fs)
  local pats = {}
  for _, f in ipairs(fs) do
    local comp = G.parse_formula(f)
    local pv = G.perovskite(comp)
    A.eq("oxynitride", pv.family, f)
    A.truthy(comp.La ~= nil, "requested element in " .. f)
    A.eq(2, #pv.cations, "two distinct cations in " .. f)
    pats[pv.pattern] = true
  end
  A.truthy(pats.O2N and pats.ON2, "both oxynitride patterns drawn")
  A.eq(table.concat(fs, ","), table.concat(G.template_formulae({family = "oxynitride", element = "La"}, cats, 40, T.Generator(3)), ","), "seeded")
  A.raises(function() G.template_formulae({family = "boride"}, cats, 1) end, "unknown family")
  A.raises(function() G.template_formulae({family = "oxide"}, {"Ba"}, 1) end, "two cations")
  local ss = G.template_structures(G.parse_formula("LaTiO2N"), 4.0, 12, T.Generator(5))
  A.eq(12, #ss)
  local firsts = {}
  for _, s in ipairs(ss) do
    A.eq("LaTiNO2", s:formula())
    A.near(64.0, s:volume(), 1e-9, "cube of edge 4")
    A.truthy(crystal.structure_valid(s))
    firsts[s:species()[1]] = true
  end
  A.truthy(firsts.La and firsts.Ti, "both A/B orders drawn")
  A.raises(function() G.template_structures(G.parse_formula("BaO"), 4.0, 1) end, "ABX3")
  -- fit_anonymous: every ideal cubic O2N cell fits a prototype of O2N, scaled and relabelled
  local proto = G.template_structures(G.parse_formula("BaZrO2N"), 4.3, 1, T.Generator(1))[1]
  A.truthy(G.fits_prototype(ss[1], {O2N = proto}), "anonymous fit to the family's prototype")
  A.eq(false, G.fits_prototype(ss[1], {ON2 = proto}), "no prototype for its pattern")
  local squashed = crystal.Structure{lattice = {{4, 0, 0}, {0, 4, 0}, {0, 0, 9}}, species = ss[1]:species(),
    frac = {{0, 0, 0}, {0.5, 0.5, 0.1}, {0.5, 0.5, 0}, {0.5, 0, 0.5}, {0, 0.5, 0.5}}}
  A.eq(false, G.fits_prototype(squashed, {O2N = proto}), "a different structure does not fit")
end)

A.test("LM sampling", function()
  local m = nn.Llama{vocab = G.VOCAB, dim = 16, layers = 1, heads = 2, seq_len = 32, seed = 1}
  local out = G.lm_sample(m, "A:", 3, {steps = 8, generator = T.Generator(1)})
  A.eq(3, #out)
  for _, o in ipairs(out) do A.truthy(type(o.text) == "string" and #o.text <= 8 and o.logp <= 0) end
  local again = G.lm_sample(m, "A:", 3, {steps = 8, generator = T.Generator(1)})
  A.eq(out[2].text, again[2].text, "seeded")
  A.raises(function() G.lm_sample(m, string.rep("x", 40), 1, {steps = 4}) end, "no room")
end)

A.test("smoke preset end to end", function()
  local tmp = A.tmpdir()
  local M = A.experiment("genms")
  for _, p in ipairs{"smoke", "fast", "paper"} do A.truthy(M.PRESETS[p], "preset " .. p) end
  A.truthy(#M.PRESETS.fast.seeds >= 2 and #M.PRESETS.paper.seeds == 3, "no claim on one seed")
  local out = tmp .. "/smoke"
  local f = assert(io.open(tmp .. "/stdout.txt", "w"))
  local res = M.main({"--preset", "smoke", "--out", out}, {exit = false, stdout = f})
  f:close()
  local function rows(name)
    local text = assert(io.open(U.join(out, name))):read("a")
    local t = {}
    for line in text:gmatch("[^\n]+") do
      local r = {}
      for v in (line .. "\t"):gmatch("([^\t]*)\t") do r[#r + 1] = v end
      t[#t + 1] = r
    end
    return t
  end
  local function well_formed(name, ncols, nrows)
    local t = rows(name)
    A.eq(ncols, #t[1], name .. ": header width")
    for i = 2, #t do A.eq(ncols, #t[i], name .. ": row " .. i .. " width") end
    if nrows then A.eq(nrows + 1, #t, name .. ": rows") end
    return t
  end
  local cfg = M.PRESETS.smoke
  local nfam = #cfg.families
  well_formed("table1.tsv", 2 + 3 * 7 + 1, nfam * (#cfg.cif.shots + 4))
  well_formed("table2.tsv", 10, #cfg.grid_H * #cfg.grid_L)
  well_formed("table3.tsv", 7, 4)
  well_formed("table4.tsv", 6, 2)
  well_formed("fig4.tsv", 6, cfg.fig4_n * #cfg.seeds)
  well_formed("requests.tsv", 4, nfam * cfg.requests_per_family * #cfg.seeds)
  local md = assert(io.open(U.join(out, "results.md"))):read("a")
  for _, h in ipairs{"## Table 1", "## Table 2", "## Table 3", "## Table 4", "## Fig. 4", "arXiv 2409.06762", "git revision"} do
    A.truthy(md:find(h, 1, true), "results.md has " .. h)
  end
  A.truthy(res.results.units == nfam * cfg.requests_per_family, "one unit per request and seed")
  for _, un in ipairs(res.units) do
    A.eq(cfg.W, #un.t1.genms, "W items per request")
    for _, it in ipairs(un.t1.genms) do
      for _, k in ipairs{"cif", "struct", "comp", "unique", "match"} do A.truthy(it[k] == 0 or it[k] == 1, k .. " is 0/1") end
    end
  end
  os.execute("rm -rf '" .. tmp .. "'")
end)

A.done("genms")
