-- repro.crystal: periodic crystal structures, CIF, symmetry (spglib),
-- structure matching, validity and the metrics of crystal generation.
--
-- A Structure is a userdata made in C (lua/l_crystal.c) holding a lattice
-- (rows are the lattice vectors a, b, c in Angstrom, doubles), fractional
-- coordinates and atomic numbers; this module adds its Lua-side methods
-- (species, composition, formula, to_cif, neighbors, spacegroup ...).
-- Indices are 1-based. The element table (data/crystal/elements.tsv) comes
-- from pymatgen and SMACT (sources and licences in its header and in
-- data/crystal/README.md).
local core = require("repro.core").crystal
local U = require "repro.util"

local C = {}
local M = core.methods -- the Structure method table (C methods already in it)

-- ---- the element table ---------------------------------------------------------

local function split_ints(s)
  local out = {}
  if s == "-" then return out end
  for v in s:gmatch("[^,]+") do out[#out + 1] = math.tointeger(tonumber(v)) end
  return out
end

local function load_elements()
  local path = U.join(U.source_dir(), "data/crystal/elements.tsv")
  local text = U.read_file(path)
  if not text then error("crystal: cannot read the element table " .. path) end
  local E = {}
  local header
  for line in text:gmatch("[^\n]+") do
    if line:sub(1, 1) ~= "#" then
      local f = {}
      for v in (line .. "\t"):gmatch("([^\t]*)\t") do f[#f + 1] = v end
      if not header then
        header = f
      else
        local num = function(v) return v ~= "-" and tonumber(v) or nil end
        local e = {
          Z = math.tointeger(tonumber(f[1])), symbol = f[2], mass = tonumber(f[3]),
          X = num(f[4]), electronegativity = num(f[5]), metal = f[6] == "1",
          oxidation_states = split_ints(f[7]), common_oxidation_states = split_ints(f[8]),
        }
        E[e.Z] = e
        E[e.symbol] = e
      end
    end
  end
  return E
end

--- crystal.elements[Z] and crystal.elements[symbol]: {Z, symbol, mass, X,
--- electronegativity, metal, oxidation_states, common_oxidation_states}.
C.elements = load_elements()

local SYMBOLS = {} -- every symbol 1..118 (the table covers 1..103)
do
  local syms = [[H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn
    Ga Ge As Se Br Kr Rb Sr Y Zr Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce Pr Nd Pm Sm
    Eu Gd Tb Dy Ho Er Tm Yb Lu Hf Ta W Re Os Ir Pt Au Hg Tl Pb Bi Po At Rn Fr Ra Ac Th Pa U Np Pu
    Am Cm Bk Cf Es Fm Md No Lr Rf Db Sg Bh Hs Mt Ds Rg Cn Nh Fl Mc Lv Ts Og]]
  for s in syms:gmatch("%S+") do SYMBOLS[#SYMBOLS + 1] = s end
end
local Z_OF = {}
for z, s in ipairs(SYMBOLS) do Z_OF[s] = z end

--- crystal.symbol(z) -> "Ba";  crystal.atomic_number("Ba") -> 56
function C.symbol(z)
  local s = SYMBOLS[z]
  if not s then error("crystal.symbol: no element with atomic number " .. tostring(z), 2) end
  return s
end
function C.atomic_number(sym)
  local z = Z_OF[sym]
  if not z then error("crystal.atomic_number: unknown element symbol '" .. tostring(sym) .. "'", 2) end
  return z
end

-- ---- construction --------------------------------------------------------------

local function is_tensor(v) return type(v) == "userdata" and v.totable ~= nil and v.shape ~= nil end

local function rows_of(v, what)
  if is_tensor(v) then v = v:totable() end
  if type(v) ~= "table" then error(string.format("Structure: %s must be a table or tensor, got %s", what, type(v)), 3) end
  return v
end

local function flatten3(rows, what, expect)
  local flat = {}
  if expect and #rows ~= expect then
    error(string.format("Structure: %s must have %d rows, got %d", what, expect, #rows), 3)
  end
  for i, r in ipairs(rows) do
    if type(r) ~= "table" or #r ~= 3 then
      error(string.format("Structure: %s row %d must have 3 numbers", what, i), 3)
    end
    for k = 1, 3 do
      if type(r[k]) ~= "number" then
        error(string.format("Structure: %s[%d][%d] must be a number, got %s", what, i, k, type(r[k])), 3)
      end
      flat[#flat + 1] = r[k]
    end
  end
  return flat
end

--- crystal.Structure{lattice = 3x3, species = {"Ba", ...} or Z numbers, frac = N x 3}
function C.Structure(t)
  if type(t) ~= "table" then error("Structure: expected a table {lattice =, species =, frac =}", 2) end
  for k in pairs(t) do
    if k ~= "lattice" and k ~= "species" and k ~= "frac" and k ~= "cart" then
      error("Structure: unknown field '" .. tostring(k) .. "' (lattice, species, frac or cart)", 2)
    end
  end
  local lat = flatten3(rows_of(t.lattice, "lattice"), "lattice", 3)
  local sp = t.species
  if is_tensor(sp) then sp = sp:totable() end
  if type(sp) ~= "table" then error("Structure: species must be a table of symbols or atomic numbers", 2) end
  local z = {}
  for i, v in ipairs(sp) do
    if type(v) == "string" then
      z[i] = Z_OF[v] or error(string.format("Structure: species %d: unknown element '%s'", i, v), 2)
    elseif math.type(v) == "integer" or (type(v) == "number" and v == math.floor(v)) then
      z[i] = math.tointeger(v)
      if z[i] < 1 or z[i] > 118 then error(string.format("Structure: species %d: atomic number %d", i, z[i]), 2) end
    else
      error(string.format("Structure: species %d must be a symbol or an atomic number, got %s", i, tostring(v)), 2)
    end
  end
  local frac
  if t.frac ~= nil and t.cart ~= nil then error("Structure: give frac or cart, not both", 2) end
  if t.cart ~= nil then
    local cart = rows_of(t.cart, "cart")
    local s0 = core.new(lat, {}, {})
    local inv = C._inverse(s0:lattice_table())
    frac = {}
    for i, r in ipairs(cart) do
      if type(r) ~= "table" or #r ~= 3 then error(string.format("Structure: cart row %d must have 3 numbers", i), 2) end
      for k = 1, 3 do
        frac[#frac + 1] = r[1] * inv[1][k] + r[2] * inv[2][k] + r[3] * inv[3][k]
      end
    end
  else
    frac = flatten3(rows_of(t.frac, "frac"), "frac")
  end
  if #frac ~= 3 * #z then
    error(string.format("Structure: %d species but %d rows of coordinates", #z, #frac // 3), 2)
  end
  return core.new(lat, frac, z)
end

function C._inverse(m)
  local a, b, c = m[1], m[2], m[3]
  local det = a[1] * (b[2] * c[3] - b[3] * c[2]) - a[2] * (b[1] * c[3] - b[3] * c[1]) + a[3] * (b[1] * c[2] - b[2] * c[1])
  if det == 0 then error("lattice is singular", 3) end
  return {
    {(b[2] * c[3] - b[3] * c[2]) / det, (a[3] * c[2] - a[2] * c[3]) / det, (a[2] * b[3] - a[3] * b[2]) / det},
    {(b[3] * c[1] - b[1] * c[3]) / det, (a[1] * c[3] - a[3] * c[1]) / det, (a[3] * b[1] - a[1] * b[3]) / det},
    {(b[1] * c[2] - b[2] * c[1]) / det, (a[2] * c[1] - a[1] * c[2]) / det, (a[1] * b[2] - a[2] * b[1]) / det},
  }
end

--- crystal.is_structure(v) -> boolean
function C.is_structure(v) return getmetatable(v) == core.metatable end

--- crystal.lattice_from_params(a, b, c, alpha, beta, gamma) -> 3x3 table (rows; pymatgen's orientation)
function C.lattice_from_params(a, b, c, al, be, ga)
  local m = {core.lattice_from_params(a, b, c, al, be, ga)}
  return {{m[1], m[2], m[3]}, {m[4], m[5], m[6]}, {m[7], m[8], m[9]}}
end

--- crystal.read_cif(text) -> Structure
function C.read_cif(text)
  if type(text) ~= "string" then error("read_cif: expected CIF text (a string), got " .. type(text), 2) end
  return core.read_cif(text)
end

-- ---- composition and formulae (pymatgen's rules) -------------------------------

--- s:species() -> {"Ba", "Ti", "O", ...}
function M.species(s)
  local out = {}
  for i, z in ipairs(s:numbers_table()) do out[i] = SYMBOLS[z] end
  return out
end

--- s:composition() -> {Ba = 1, Ti = 1, O = 3}
function M.composition(s)
  local c = {}
  for _, z in ipairs(s:numbers_table()) do
    local sym = SYMBOLS[z]
    c[sym] = (c[sym] or 0) + 1
  end
  return c
end

local function X(sym)
  local e = C.elements[sym]
  return e and e.X or math.huge -- pymatgen's X is NaN for the noble gases; they sort last here
end

local function gcd(a, b) while b ~= 0 do a, b = b, a % b end return a end

local function fmt_amount(v, ignore_ones)
  if ignore_ones and v == 1 then return "" end
  if math.abs(v - math.floor(v)) < 1e-8 then return string.format("%d", math.floor(v)) end
  return string.format("%.8g", v)
end

local SPECIAL = {LiO = "Li2O2", NaO = "Na2O2", KO = "K2O2", HO = "H2O2", CsO = "Cs2O2", RbO = "Rb2O2",
                 O = "O2", N = "N2", F = "F2", Cl = "Cl2", H = "H2"}

-- pymatgen's reduce_formula on integer amounts: (formula, factor)
local function reduce_formula(amt)
  local syms = {}
  for k in pairs(amt) do syms[#syms + 1] = k end
  table.sort(syms, function(p, q)
    local xp, xq = X(p), X(q)
    if xp ~= xq then return xp < xq end
    return p < q
  end)
  local factor = 0
  for _, v in pairs(amt) do factor = gcd(factor, v) end
  if factor == 0 then factor = 1 end
  local poly = ""
  local n = #syms
  if n >= 3 and X(syms[n]) - X(syms[n - 1]) < 1.65 then
    local pf, pfac = reduce_formula({[syms[n - 1]] = amt[syms[n - 1]] // factor, [syms[n]] = amt[syms[n]] // factor})
    if pfac ~= 1 then
      poly = string.format("(%s)%d", pf, pfac)
      n = n - 2
    end
  end
  local parts = {}
  for i = 1, n do parts[#parts + 1] = syms[i] .. fmt_amount(amt[syms[i]] / factor, true) end
  return table.concat(parts) .. poly, factor
end

--- crystal.reduced_formula(composition) -> formula, factor (pymatgen's Composition.reduced_formula)
function C.reduced_formula(comp)
  local f, factor = reduce_formula(comp)
  if SPECIAL[f] then return SPECIAL[f], factor // 2 end
  return f, factor
end

--- s:formula() -> reduced formula ("BaTiO3"), in pymatgen's element order
function M.formula(s)
  return (C.reduced_formula(s:composition()))
end

-- pymatgen's Composition.formula: "Ba1 Ti1 O3" (by X; ties keep site order)
local function full_formula(s)
  local comp, order, seen = {}, {}, {}
  for _, sym in ipairs(s:species()) do
    comp[sym] = (comp[sym] or 0) + 1
    if not seen[sym] then seen[sym] = true; order[#order + 1] = sym end
  end
  local rank = {}
  for i, sym in ipairs(order) do rank[sym] = i end
  table.sort(order, function(p, q)
    local xp, xq = X(p), X(q)
    if xp ~= xq then return xp < xq end
    return rank[p] < rank[q]
  end)
  local parts = {}
  for _, sym in ipairs(order) do parts[#parts + 1] = sym .. fmt_amount(comp[sym], false) end
  return table.concat(parts, " ")
end

--- s:to_cif() -> CIF text in pymatgen's P1 layout
function M.to_cif(s)
  if s:natoms() == 0 then error("to_cif: the structure has no atoms", 2) end
  local f, factor = C.reduced_formula(s:composition())
  return s:_to_cif(f, f, full_formula(s), factor)
end

-- ---- geometry --------------------------------------------------------------------

--- s:min_distance{self_images = false} -> shortest periodic distance between two atoms
function M.min_distance(s, opts)
  opts = opts or {}
  for k in pairs(opts) do
    if k ~= "self_images" then error("min_distance: unknown option '" .. tostring(k) .. "' (self_images)", 2) end
  end
  return s:_min_distance(opts.self_images and true or false)
end

--- s:neighbors(cutoff) or s:neighbors{k = 12, cutoff = 8} -> src, dst, dist, image
function M.neighbors(s, arg)
  if type(arg) == "number" then return s:_neighbors(arg) end
  if type(arg) ~= "table" then error("neighbors: expected a cutoff (number) or {k =, cutoff =}", 2) end
  for k in pairs(arg) do
    if k ~= "k" and k ~= "cutoff" then error("neighbors: unknown option '" .. tostring(k) .. "' (k, cutoff)", 2) end
  end
  if arg.k == nil then
    if type(arg.cutoff) ~= "number" then error("neighbors: give k or a numeric cutoff", 2) end
    return s:_neighbors(arg.cutoff)
  end
  if math.type(arg.k) ~= "integer" then error("neighbors: k must be an integer, got " .. tostring(arg.k), 2) end
  if arg.cutoff ~= nil and type(arg.cutoff) ~= "number" then error("neighbors: cutoff must be a number", 2) end
  return s:_knn(arg.k, arg.cutoff or 0)
end

-- ---- symmetry (spglib) -----------------------------------------------------------

local function check_opts(fn, opts, valid)
  if opts == nil then return {} end
  if type(opts) ~= "table" then error(fn .. ": options must be a table, got " .. type(opts), 3) end
  for k in pairs(opts) do
    if not valid[k] then
      local names = {}
      for n in pairs(valid) do names[#names + 1] = n end
      table.sort(names)
      error(string.format("%s: unknown option '%s' (%s)", fn, tostring(k), table.concat(names, ", ")), 3)
    end
  end
  return opts
end

local function num_opt(fn, opts, name, default)
  local v = opts[name]
  if v == nil then return default end
  if type(v) ~= "number" then error(string.format("%s: %s must be a number, got %s", fn, name, type(v)), 3) end
  return v
end

--- s:spacegroup{symprec = 0.01, angle_tolerance = -1} -> {symbol = "Pm-3m", number = 221}
function M.spacegroup(s, opts)
  opts = check_opts("spacegroup", opts, {symprec = true, angle_tolerance = true})
  local sym, num = s:_spacegroup(num_opt("spacegroup", opts, "symprec", 0.01),
                                 num_opt("spacegroup", opts, "angle_tolerance", -1))
  return {symbol = sym, number = num}
end

--- s:niggli{eps = 1e-5} -> Structure on the Niggli-reduced cell (coordinates wrapped)
function M.niggli(s, opts)
  opts = check_opts("niggli", opts, {eps = true})
  return s:_niggli(num_opt("niggli", opts, "eps", 1e-5))
end

--- s:standardize{primitive = false, symprec = 0.01, no_idealize = false} -> Structure (spglib)
function M.standardize(s, opts)
  opts = check_opts("standardize", opts, {primitive = true, symprec = true, no_idealize = true})
  return s:_standardize(opts.primitive and true or false, num_opt("standardize", opts, "symprec", 0.01),
                        opts.no_idealize and true or false)
end

-- ---- matching (pymatgen's StructureMatcher) ---------------------------------------

local MATCH_OPTS = {ltol = true, stol = true, angle_tol = true, anonymous = true, primitive_cell = true, scale = true}

local function match_args(fn, a, b, opts)
  if not C.is_structure(a) or not C.is_structure(b) then
    error(fn .. ": expected two Structures, got " .. type(a) .. " and " .. type(b), 3)
  end
  opts = check_opts(fn, opts, MATCH_OPTS)
  return num_opt(fn, opts, "ltol", 0.2), num_opt(fn, opts, "stol", 0.3), num_opt(fn, opts, "angle_tol", 5),
         opts.anonymous and true or false, opts.primitive_cell ~= false, opts.scale ~= false
end

--- crystal.match(a, b, {ltol = 0.2, stol = 0.3, angle_tol = 5, anonymous = false}) -> matched, rms, max_dist
function C.match(a, b, opts)
  local ltol, stol, atol, anon, prim, scale = match_args("match", a, b, opts)
  local rms, mx = core.match(a, b, ltol, stol, atol, anon, true, prim, scale)
  return rms ~= nil, rms, mx
end

--- crystal.fit(a, b, opts) -> boolean (pymatgen's StructureMatcher.fit / fit_anonymous)
function C.fit(a, b, opts)
  local ltol, stol, atol, anon, prim, scale = match_args("fit", a, b, opts)
  local rms = core.match(a, b, ltol, stol, atol, anon, false, prim, scale)
  return rms ~= nil
end

-- ---- validity, metrics (crystal_metrics.lua) and the bundled data (crystal_data.lua) ----
for k, v in pairs(require("repro.crystal_metrics").install(C)) do C[k] = v end
require("repro.crystal_data").install(C, core, U)

return C
