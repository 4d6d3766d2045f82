-- repro.genms: the parts of GenMS (Yang et al., arXiv 2409.06762) at CPU
-- scale: formulae and perovskite families, templated requests built from a
-- known database's true attributes, prompts with and without retrieval, a
-- character-level language model's training pairs and sampling, the
-- high-level heuristic R_hi, a compact CIF body for the CIF-writing baseline,
-- the energy lookup, the paper's Algorithm 1 over a pool, and bootstrap
-- intervals. experiments/genms.lua wires them to the models of the
-- materials toolkit (nn.CompactDiffusion, nn.CGCNN).
local T = require "repro.tensor"
local crystal = require "repro.crystal"

local G = {}

---------------------------------------------------------------- characters

-- id 1 is padding, 2..97 are the bytes 10 ("\n") and 32..126.
local CHARS = {"\n"}
for b = 32, 126 do CHARS[#CHARS + 1] = string.char(b) end
local CHAR_ID = {}
for i, c in ipairs(CHARS) do CHAR_ID[c] = i + 1 end
G.PAD, G.VOCAB = 1, #CHARS + 1

function G.encode(s)
  local out = {}
  for i = 1, #s do
    local id = CHAR_ID[s:sub(i, i)]
    if not id then error(string.format("genms.encode: character %q (byte %d) is not in the vocabulary", s:sub(i, i), s:byte(i)), 2) end
    out[i] = id
  end
  return out
end

function G.decode(ids)
  local out = {}
  for i, id in ipairs(ids) do out[i] = CHARS[id - 1] or "" end
  return table.concat(out)
end

---------------------------------------------------------------- formulae

local ANIONS = {O = true, N = true, F = true, S = true}
G.ANIONS = ANIONS

-- "BaTiO3" -> {Ba = 1, Ti = 1, O = 3}, or nil and a reason.
function G.parse_formula(s)
  if type(s) ~= "string" or s == "" then return nil, "empty" end
  local comp, pos = {}, 1
  while pos <= #s do
    local sym, num, e = s:match("^(%u%l?)(%d*)()", pos)
    if not sym then return nil, "not a formula at '" .. s:sub(pos) .. "'" end
    if not crystal.elements[sym] then return nil, "unknown element " .. sym end
    local n = num == "" and 1 or tonumber(num)
    if n < 1 or n > 99 then return nil, "bad count" end
    comp[sym] = (comp[sym] or 0) + n
    pos = e
  end
  return comp
end

function G.formula(comp) return crystal.reduced_formula(comp) end

-- {Ba = 1, Ti = 1, O = 3} -> {"Ba", "O", "O", "O", "Ti"} (the list the diffusion models sample for)
function G.species_list(comp)
  local syms = {}
  for sym in pairs(comp) do syms[#syms + 1] = sym end
  table.sort(syms)
  local out = {}
  for _, sym in ipairs(syms) do for _ = 1, comp[sym] do out[#out + 1] = sym end end
  return out
end

-- The anion pattern and family of an ABX3 composition, or nil.
local FAMILY = {O3 = "oxide", O2N = "oxynitride", ON2 = "oxynitride", O2F = "oxyfluoride", N3 = "nitride",
                OFN = "oxyfluoronitride", O2S = "oxysulfide"}
G.FAMILIES = {"oxide", "oxynitride", "oxyfluoride", "nitride", "oxyfluoronitride", "oxysulfide"}

-- ABX3 analysis: {family =, pattern =, cations = {...}} or nil, reason.
-- Accepts A = B (A2X3 reduced to e.g. "Ba2O3" keeps the 2:3 ratio).
function G.perovskite(comp)
  local an, cat, na, nc = {}, {}, 0, 0
  for sym, n in pairs(comp) do
    if ANIONS[sym] then an[sym] = n; na = na + n else cat[#cat + 1] = sym; nc = nc + n end
  end
  table.sort(cat)
  if #cat < 1 or #cat > 2 or na == 0 then return nil, "not ABX3" end
  if na * 2 ~= nc * 3 then return nil, "not ABX3 stoichiometry" end
  local scale = na // 3
  if scale < 1 or na % 3 ~= 0 then return nil, "not ABX3 stoichiometry" end
  if #cat == 2 and (comp[cat[1]] ~= scale or comp[cat[2]] ~= scale) then return nil, "not ABX3 stoichiometry" end
  local pat = ""
  for _, sym in ipairs{"O", "F", "N", "S"} do
    local n = an[sym]
    if n then
      n = n // scale
      pat = pat .. sym .. (n > 1 and tostring(n) or "")
    end
  end
  -- canonical names of the patterns
  local canon = {O3 = "O3", O2N = "O2N", ON2 = "ON2", N3 = "N3", O2F = "O2F", OFN = "OFN", O2S = "O2S"}
  local p = canon[pat]
  if not p then return nil, "anion pattern " .. pat .. " not in the data's grid" end
  return {family = FAMILY[p], pattern = p, cations = cat}
end

---------------------------------------------------------------- the database

-- Index records {formula, heat_ref, dir_gap, ind_gap, structure} by reduced
-- formula: db.by_formula[f] = {rec, ...}; db.formulae = sorted list;
-- db.attr[f] = {family, cations, stable, gap, heat (min heat_ref)}.
-- stable = min heat_ref in the bottom `stable_frac` of the database.
function G.database(recs, opts)
  opts = opts or {}
  local db = {by_formula = {}, formulae = {}, attr = {}, n = #recs}
  for _, r in ipairs(recs) do
    local f = r.formula
    if not db.by_formula[f] then db.by_formula[f] = {}; db.formulae[#db.formulae + 1] = f end
    table.insert(db.by_formula[f], r)
  end
  table.sort(db.formulae)
  local heats = {}
  for _, f in ipairs(db.formulae) do
    local h, gap = math.huge, false
    for _, r in ipairs(db.by_formula[f]) do
      h = math.min(h, r.heat_ref or math.huge)
      if (r.dir_gap or 0) > 0 or (r.ind_gap or 0) > 0 then gap = true end
    end
    local pv = G.perovskite(G.parse_formula(f) or {})
    db.attr[f] = {family = pv and pv.family, cations = pv and pv.cations or {}, heat = h, gap = gap}
    heats[#heats + 1] = h
  end
  table.sort(heats)
  local cut = heats[math.max(1, math.floor((opts.stable_frac or 0.2) * #heats))] or -math.huge
  db.stable_cut = cut
  for _, f in ipairs(db.formulae) do db.attr[f].stable = db.attr[f].heat <= cut end
  return db
end

---------------------------------------------------------------- requests

-- A request: {family =, element = sym|nil, stable = bool, gap = bool,
-- novel = bool ("not in the database"), exclude = {formula, ...}|nil,
-- style = template index}.
G.STYLES = {"a %s", "find a %s", "propose a %s", "I need a %s", "suggest a %s"}
G.HELD_OUT_STYLE = 5 -- a paraphrase never used in training

function G.request_text(req)
  local parts = {}
  if req.stable then parts[#parts + 1] = "stable" end
  parts[#parts + 1] = req.family .. " perovskite"
  local s = table.concat(parts, " ")
  if req.element then s = s .. " containing " .. req.element end
  if req.gap then s = s .. " with a band gap" end
  if req.novel then s = s .. ", not in the database" end
  if req.exclude and #req.exclude > 0 then s = s .. ", not one of " .. table.concat(req.exclude, " ") end
  return string.format(G.STYLES[req.style or 1], s)
end

-- Which constraints of req a formula satisfies. known: a database (K) for
-- "not in the database"; truth: a database with gap/stable labels (K ∪ U),
-- optional. Returns {family=, element=, novel=, exclude=, gap=, stable=}
-- (true/false, or nil when not checkable: no label for the formula).
function G.check(req, formula, known, truth)
  local comp = G.parse_formula(formula)
  local pv = comp and G.perovskite(comp)
  local out = {}
  out.family = pv ~= nil and pv.family == req.family
  if req.element then out.element = comp ~= nil and comp[req.element] ~= nil end
  if req.novel then out.novel = known.by_formula[formula] == nil end
  if req.exclude then
    local hit = false
    for _, f in ipairs(req.exclude) do if f == formula then hit = true end end
    out.exclude = not hit
  end
  local a = truth and truth.attr[formula]
  if req.gap then if a then out.gap = a.gap else out.gap = nil end end
  if req.stable then if a then out.stable = a.stable else out.stable = nil end end
  return out
end

-- All checkable constraints hold (uncheckable ones are skipped).
function G.satisfies(req, formula, known, truth)
  local c = G.check(req, formula, known, truth)
  for _, v in pairs(c) do if v == false then return false end end
  return true
end

-- A random request from the true attributes of formula f in db, drawn with
-- u (a list of uniforms, at least 8). p: probabilities {element, stable, gap,
-- novel, exclude}.
function G.request_from(db, f, u, p, style)
  local a = db.attr[f]
  local req = {family = a.family, style = style}
  if u[1] < p.element and #a.cations > 0 then req.element = a.cations[math.floor(u[2] * #a.cations) + 1] end
  if a.stable and u[3] < p.stable then req.stable = true end
  if a.gap and u[4] < p.gap then req.gap = true end
  if u[5] < p.novel then req.novel = true end
  if u[6] < p.exclude then req.exclude_n = 3 end
  return req
end

-- Formulae of db satisfying req's family/element/stable/gap (not novelty),
-- in a seeded order.
function G.retrieve(db, req, n, skip, g)
  local cand = {}
  for _, f in ipairs(db.formulae) do
    local a = db.attr[f]
    if f ~= skip and a.family == req.family and (not req.element or (G.parse_formula(f) or {})[req.element])
       and (not req.stable or a.stable) and (not req.gap or a.gap) then
      cand[#cand + 1] = f
    end
  end
  if #cand == 0 then return {} end
  local u = T.rand({#cand}, {generator = g}):totable()
  local idx = {}
  for i = 1, #cand do idx[i] = i end
  table.sort(idx, function(x, y) return u[x] < u[y] end)
  local out = {}
  for i = 1, math.min(n, #cand) do out[i] = cand[idx[i]] end
  return out
end

-- The prompt of the formula LM. rag: the retrieved K formulae (they are
-- known: a request "not in the database" must avoid them) or nil for the
-- no-retrieval twin.
function G.formula_prompt(req, rag)
  local s = "Q:" .. G.request_text(req) .. "\n"
  if rag then s = s .. "E:" .. table.concat(rag, " ") .. "\n" end
  return s .. "A:"
end

---------------------------------------------------------------- the high-level heuristic

-- R_hi: {ok = bool, reason =, family =} for a proposed formula string.
function G.r_hi(req, formula, known)
  local comp, why = G.parse_formula(formula)
  if not comp then return {ok = false, reason = "does not parse: " .. why} end
  local pv, w2 = G.perovskite(comp)
  if not pv then return {ok = false, reason = w2} end
  if pv.family ~= req.family then return {ok = false, reason = "family " .. pv.family} end
  if req.element and not comp[req.element] then return {ok = false, reason = "lacks " .. req.element} end
  local okc, cv = pcall(crystal.composition_valid, comp)
  if not okc or not cv then return {ok = false, reason = "not charge-valid"} end
  if known.by_formula[G.formula(comp)] then return {ok = false, reason = "in the database"} end
  if req.exclude then
    for _, f in ipairs(req.exclude) do if f == G.formula(comp) then return {ok = false, reason = "in the list"} end end
  end
  return {ok = true, family = pv.family, formula = G.formula(comp)}
end

---------------------------------------------------------------- language model

-- Training rows for a char LM: ids (B, L) and targets (B, L) i32 with the
-- loss on the completion only (targets PAD elsewhere: use ignore_index).
function G.lm_batch(pairs, L)
  local ids, tg = {}, {}
  for b, p in ipairs(pairs) do
    local x = G.encode(p[1] .. p[2])
    local np = #p[1]
    local row, trow = {}, {}
    for i = 1, L do row[i] = x[i] or G.PAD; trow[i] = G.PAD end
    for i = np, math.min(#x - 1, L) do trow[i] = x[i + 1] end
    ids[b], tg[b] = row, trow
  end
  return T.tensor(ids, {dtype = "i32"}), T.tensor(tg, {dtype = "i32"})
end

-- n completions of one prompt: {text =, logp = mean log-prob per token}
-- (the completion up to and without the stop character).
function G.lm_sample(model, prompt, n, o)
  local p = G.encode(prompt)
  local steps = math.min(o.steps, model.config.seq_len - #p)
  if steps < 1 then error("genms.lm_sample: prompt of " .. #p .. " characters leaves no room in seq_len", 2) end
  local rows = {}
  for i = 1, n do rows[i] = p end
  local stop = CHAR_ID[o.stop or "\n"]
  local ids, info = model:generate(T.tensor(rows, {dtype = "i32"}), {steps = steps, temperature = o.temperature or 1,
    top_k = o.top_k, generator = o.generator, stop = stop, logits = true})
  local lp = T.token_logprobs(info.logits, ids:narrow(2, #p + 1, steps)):totable()
  local out_ids = ids:totable()
  local out = {}
  for i = 1, n do
    local chars, sum, k = {}, 0, 0
    for j = 1, steps do
      local id = out_ids[i][#p + j]
      sum = sum + lp[i][j]; k = k + 1
      if id == stop then break end
      chars[#chars + 1] = id
    end
    out[i] = {text = G.decode(chars), logp = sum / math.max(k, 1)}
  end
  return out
end

---------------------------------------------------------------- compact CIF body (CIF-writing baseline)

-- A structure as the baseline LM writes it: "a b c al be ga" then one
-- "Sym x y z" line per atom, 2 decimals; G.body_to_cif wraps it into a P1 CIF.
function G.cif_body(s)
  local a, b, c, al, be, ga = s:lattice_params()
  local lines = {string.format("%.2f %.2f %.2f %.0f %.0f %.0f", a, b, c, al, be, ga)}
  local sp, fr = s:species(), s:frac():totable()
  for i = 1, #sp do
    -- "+ 0.0" turns -0.0 into 0.0: one spelling of zero for the LM to learn
    lines[#lines + 1] = string.format("%s %.2f %.2f %.2f", sp[i], fr[i][1] % 1 + 0.0, fr[i][2] % 1 + 0.0, fr[i][3] % 1 + 0.0)
  end
  return table.concat(lines, "\n")
end

function G.body_to_cif(body)
  local lines = {}
  for l in (body .. "\n"):gmatch("([^\n]*)\n") do lines[#lines + 1] = l end
  local cell = {}
  for v in (lines[1] or ""):gmatch("%S+") do cell[#cell + 1] = v end
  if #cell ~= 6 then return nil end
  local out = {"data_generated", "_symmetry_space_group_name_H-M   'P 1'",
    "_cell_length_a " .. cell[1], "_cell_length_b " .. cell[2], "_cell_length_c " .. cell[3],
    "_cell_angle_alpha " .. cell[4], "_cell_angle_beta " .. cell[5], "_cell_angle_gamma " .. cell[6],
    "_symmetry_Int_Tables_number 1", "loop_", " _symmetry_equiv_pos_site_id", " _symmetry_equiv_pos_as_xyz", "  1  'x, y, z'",
    "loop_", " _atom_site_type_symbol", " _atom_site_label", " _atom_site_symmetry_multiplicity",
    " _atom_site_fract_x", " _atom_site_fract_y", " _atom_site_fract_z", " _atom_site_occupancy"}
  local n = 0
  for i = 2, #lines do
    local f = {}
    for v in lines[i]:gmatch("%S+") do f[#f + 1] = v end
    if #f > 0 then
      if #f ~= 4 then return nil end
      n = n + 1
      out[#out + 1] = string.format("  %s  %s%d  1  %s  %s  %s  1", f[1], f[1], n, f[2], f[3], f[4])
    end
  end
  if n == 0 then return nil end
  return table.concat(out, "\n") .. "\n"
end

-- Parse a body: a Structure or nil (CIF validity = non-nil).
function G.read_body(body)
  local cif = G.body_to_cif(body)
  if not cif then return nil end
  local ok, s = pcall(crystal.read_cif, cif)
  if not ok or not crystal.is_structure(s) then return nil end
  return s
end

---------------------------------------------------------------- energy lookup

-- heat_ref of the entry of pool (a database, K ∪ U) that s matches
-- (species-aware), or nil; also the matched entry.
function G.lookup(pool, s, opts)
  local f = s:formula()
  local cands = pool.by_formula[f]
  if not cands then return nil end
  local best, rec
  for _, r in ipairs(cands) do
    local ok, m, rms = pcall(crystal.match, s, r.structure, opts or {ltol = 0.3, stol = 0.5, angle_tol = 10})
    if ok and m and (not best or rms < best) then best, rec = rms, r end
  end
  return rec and rec.heat_ref, rec
end

---------------------------------------------------------------- Algorithm 1

-- The paper's Algorithm 1 on precomputed draws. formulae: the H drawn
-- candidates {formula =, ok = R_hi passes, score = R_hi rank score (higher
-- better), structures = {{valid =, energy = R_lo (lower better) or nil}, ...}}.
-- Keeps the top W of the R_hi-valid formulae, the first L structures of
-- each, and returns the plans sorted best first: {{fi = formula index,
-- si = structure index, energy =}, ...}; an invalid structure (or one with
-- no energy) never wins.
function G.algorithm1(formulae, W, L)
  local cand = {}
  for i, f in ipairs(formulae) do if f.ok then cand[#cand + 1] = i end end
  table.sort(cand, function(a, b)
    if formulae[a].score ~= formulae[b].score then return formulae[a].score > formulae[b].score end
    return a < b
  end)
  local plans = {}
  for r = 1, math.min(W, #cand) do
    local fi = cand[r]
    local best
    local ss = formulae[fi].structures or {}
    for si = 1, math.min(L, #ss) do
      local s = ss[si]
      if s.valid and s.energy and (not best or s.energy < ss[best].energy) then best = si end
    end
    if best then plans[#plans + 1] = {fi = fi, si = best, energy = ss[best].energy} end
  end
  table.sort(plans, function(a, b) if a.energy ~= b.energy then return a.energy < b.energy end return a.fi < b.fi end)
  return plans
end

---------------------------------------------------------------- template baseline

-- The anion patterns (as compositions) of each family in perov_5's grid.
local PATTERNS = {oxide = {{O = 3}}, oxynitride = {{O = 2, N = 1}, {O = 1, N = 2}}, oxyfluoride = {{O = 2, F = 1}},
                  nitride = {{N = 3}}, oxyfluoronitride = {{O = 1, F = 1, N = 1}}, oxysulfide = {{O = 2, S = 1}}}

-- The template grammar, with no model: n formulae of the request's family,
-- two distinct cations drawn uniformly from `cations` (the requested
-- element always one of them) and one of the family's anion patterns.
-- Nothing else of the request is looked at (novelty, lists, gap, stable).
function G.template_formulae(req, cations, n, g)
  local pats = PATTERNS[req.family]
  if not pats then error("genms.template_formulae: unknown family '" .. tostring(req.family) .. "'", 2) end
  if #cations < 2 then error("genms.template_formulae: need at least two cations", 2) end
  local u = T.rand({n, 3}, {generator = g}):totable()
  local out = {}
  for i = 1, n do
    local a = req.element or cations[math.floor(u[i][1] * #cations) + 1]
    local b
    local j = math.floor(u[i][2] * (#cations - 1))
    -- the j-th cation other than a (uniform over the rest)
    for _, c in ipairs(cations) do
      if c ~= a then
        if j == 0 then b = c; break end
        j = j - 1
      end
    end
    b = b or cations[1] ~= a and cations[1] or cations[2]
    local comp = {[a] = 1, [b] = 1}
    for sym, k in pairs(pats[math.floor(u[i][3] * #pats) + 1]) do comp[sym] = k end
    out[i] = G.formula(comp)
  end
  return out
end

-- The ideal cubic perovskite (Pm-3m) of an ABX3 composition, edge a: the two
-- cations on (0,0,0) and (1/2,1/2,1/2) in random order, the anions on the
-- three face centres in random order. n structures (a list).
function G.template_structures(comp, a, n, g)
  local cat, an = {}, {}
  for _, sym in ipairs(G.species_list(comp)) do
    if ANIONS[sym] then an[#an + 1] = sym else cat[#cat + 1] = sym end
  end
  if #cat ~= 2 or #an ~= 3 then error("genms.template_structures: expected ABX3 with 5 atoms", 2) end
  local sites = {{0, 0, 0}, {0.5, 0.5, 0.5}, {0.5, 0.5, 0}, {0.5, 0, 0.5}, {0, 0.5, 0.5}}
  local u = T.rand({n, 4}, {generator = g}):totable()
  local out = {}
  for i = 1, n do
    local c = u[i][1] < 0.5 and {cat[1], cat[2]} or {cat[2], cat[1]}
    local order = {1, 2, 3}
    table.sort(order, function(p, q) if u[i][p + 1] ~= u[i][q + 1] then return u[i][p + 1] < u[i][q + 1] end return p < q end)
    out[i] = crystal.Structure{lattice = {{a, 0, 0}, {0, a, 0}, {0, 0, a}},
      species = {c[1], c[2], an[order[1]], an[order[2]], an[order[3]]}, frac = sites}
  end
  return out
end

-- fit_anonymous against the family's prototypes (pymatgen's fit_anonymous,
-- the paper's match test): protos = {pattern = Structure}; true when s fits
-- the prototype of its own anion pattern.
function G.fits_prototype(s, protos)
  local comp = G.parse_formula(s:formula())
  local pv = comp and G.perovskite(comp)
  local p = pv and protos[pv.pattern]
  if not p then return false end
  local ok, r = pcall(crystal.fit, s, p, {anonymous = true, ltol = 0.3, stol = 0.5, angle_tol = 10})
  return ok and r or false
end

---------------------------------------------------------------- statistics

-- Mean and 95% percentile bootstrap interval of the mean of xs (resampling
-- units), with a seeded generator. Returns mean, lo, hi (NaN if empty).
function G.bootstrap(xs, opts)
  opts = opts or {}
  local n = #xs
  if n == 0 then return 0 / 0, 0 / 0, 0 / 0 end
  local sum = 0
  for _, v in ipairs(xs) do sum = sum + v end
  local B = opts.resamples or 2000
  local u = T.rand({B, n}, {generator = T.Generator(opts.seed or 1)}):totable()
  local means = {}
  for b = 1, B do
    local s = 0
    for i = 1, n do s = s + xs[math.floor(u[b][i] * n) + 1] end
    means[b] = s / n
  end
  table.sort(means)
  return sum / n, means[math.max(1, math.floor(0.025 * B))], means[math.min(B, math.ceil(0.975 * B))]
end

return G
