-- tests/lua/test_crystal.lua: structures, lattices, periodic neighbour lists
-- against brute force, min distance, CIF reading/writing and its errors,
-- spglib (and its lattice-as-columns convention), composition validity.
local A = dofile(arg[0]:match("(.*/)") .. "assert.lua")
local repro = require "repro"
local crystal = repro.crystal

local function perovskite(a)
  a = a or 4.0
  return crystal.Structure{lattice = {{a, 0, 0}, {0, a, 0}, {0, 0, a}}, species = {"Ba", "Ti", "O", "O", "O"},
                           frac = {{0, 0, 0}, {0.5, 0.5, 0.5}, {0.5, 0.5, 0}, {0.5, 0, 0.5}, {0, 0.5, 0.5}}}
end

-- a small deterministic generator (tests must not depend on the tensor RNG)
local seed = 12345
local function rand()
  seed = (seed * 6364136223846793005 + 1442695040888963407) & 0x7fffffffffffffff
  return (seed >> 11) / (1 << 52)
end

local function random_triclinic(n)
  local p = {2 + 3 * rand(), 2 + 3 * rand(), 2 + 3 * rand(), 60 + 60 * rand(), 60 + 60 * rand(), 60 + 60 * rand()}
  local ok, lat = pcall(crystal.lattice_from_params, table.unpack(p))
  if not ok then return random_triclinic(n) end
  -- shear it so that the rows are not a reduced basis
  for k = 1, 3 do lat[3][k] = lat[3][k] + lat[1][k] end
  local frac, sp = {}, {}
  for i = 1, n do
    frac[i] = {rand() * 1.4 - 0.2, rand() * 1.4 - 0.2, rand() * 1.4 - 0.2} -- some outside [0, 1)
    sp[i] = ({"C", "O", "Si"})[i % 3 + 1]
  end
  return crystal.Structure{lattice = lat, species = sp, frac = frac}
end

local function cart_of(L, f)
  return {f[1] * L[1][1] + f[2] * L[2][1] + f[3] * L[3][1], f[1] * L[1][2] + f[2] * L[2][2] + f[3] * L[3][2],
          f[1] * L[1][3] + f[2] * L[2][3] + f[3] * L[3][3]}
end

local function spacings(L)
  local function cross(u, v) return {u[2] * v[3] - u[3] * v[2], u[3] * v[1] - u[1] * v[3], u[1] * v[2] - u[2] * v[1]} end
  local function norm(u) return math.sqrt(u[1] ^ 2 + u[2] ^ 2 + u[3] ^ 2) end
  local c = cross(L[2], L[3])
  local V = math.abs(L[1][1] * c[1] + L[1][2] * c[2] + L[1][3] * c[3])
  return {V / norm(cross(L[2], L[3])), V / norm(cross(L[3], L[1])), V / norm(cross(L[1], L[2]))}
end

-- brute force: every (i, j, image) within cutoff over a generous image range
local function brute(s, cutoff)
  local L, F = s:lattice_table(), s:frac_table()
  local d = spacings(L)
  local r = {}
  for k = 1, 3 do r[k] = math.ceil(cutoff / d[k]) + 3 end
  local edges = {}
  for i = 1, #F do
    for a = -r[1], r[1] do for b = -r[2], r[2] do for c = -r[3], r[3] do
      for j = 1, #F do
        if not (i == j and a == 0 and b == 0 and c == 0) then
          local v = cart_of(L, {F[j][1] + a - F[i][1], F[j][2] + b - F[i][2], F[j][3] + c - F[i][3]})
          local dist = math.sqrt(v[1] ^ 2 + v[2] ^ 2 + v[3] ^ 2)
          if dist <= cutoff then edges[string.format("%d %d %d %d %d", i, j, a, b, c)] = dist end
        end
      end
    end end end
  end
  return edges
end

A.test("lattice parameters, volume, fractional <-> Cartesian, wrap", function()
  local L = crystal.lattice_from_params(3, 4, 5, 80, 95, 110)
  local s = crystal.Structure{lattice = L, species = {"Si", 8}, frac = {{0.1, 0.2, 0.3}, {1.25, -0.5, 0.75}}}
  local a, b, c, al, be, ga = s:lattice_params()
  A.near(3, a, 1e-12); A.near(4, b, 1e-12); A.near(5, c, 1e-12)
  A.near(80, al, 1e-10); A.near(95, be, 1e-10); A.near(110, ga, 1e-10)
  -- pymatgen's orientation: c along z, a in the xz plane
  A.near(0, L[1][2], 1e-12); A.near(0, L[3][1], 1e-12); A.near(0, L[3][2], 1e-12); A.near(5, L[3][3], 1e-12)
  local ca, cb, cg = math.cos(math.rad(80)), math.cos(math.rad(95)), math.cos(math.rad(110))
  A.near(60 * math.sqrt(1 - ca ^ 2 - cb ^ 2 - cg ^ 2 + 2 * ca * cb * cg), s:volume(), 1e-9, "volume")
  A.eq(2, s:natoms())
  A.eq("Si", s:species()[1]); A.eq("O", s:species()[2])
  A.eq(14, s:numbers():totable()[1])
  local cart = s:cart():totable()
  local want = cart_of(L, {1.25, -0.5, 0.75})
  for k = 1, 3 do A.near(want[k], cart[2][k], 1e-5) end
  local w = s:wrap()
  local f = w:frac_table()
  A.near(0.25, f[2][1], 1e-12); A.near(0.5, f[2][2], 1e-12); A.near(0.75, f[2][3], 1e-12)
  local f2 = w:wrap():frac_table()
  for i = 1, 2 do for k = 1, 3 do A.eq(f[i][k], f2[i][k], "wrap is idempotent") end end
  -- a coordinate a hair below 1 wraps to 0, not to 1
  local t = crystal.Structure{lattice = L, species = {"H"}, frac = {{-1e-17, 0.999999999999999, 2}}}:wrap():frac_table()
  for k = 1, 3 do A.truthy(t[1][k] >= 0 and t[1][k] < 1, "in [0, 1)") end
  -- Cartesian input
  local s2 = crystal.Structure{lattice = L, species = {"Si"}, cart = {want}}
  A.near(1.25, s2:frac_table()[1][1], 1e-12)
  -- tensors as input
  local s3 = crystal.Structure{lattice = s:lattice(), species = s:numbers(), frac = s:frac()}
  A.near(s:volume(), s3:volume(), 1e-4)
end)

A.test("composition and reduced formulae in pymatgen's order", function()
  local s = perovskite()
  A.eq("BaTiO3", s:formula())
  local c = s:composition()
  A.eq(1, c.Ba); A.eq(3, c.O)
  A.eq("O2", (crystal.reduced_formula{O = 4}))
  A.eq("Li2O2", (crystal.reduced_formula{Li = 2, O = 2}))
  A.eq("Ba(NO3)2", (crystal.reduced_formula{Ba = 1, N = 2, O = 6}))
  A.eq("CdCuN3", (crystal.reduced_formula{Cu = 2, Cd = 2, N = 6}))
  local f, factor = crystal.reduced_formula{C = 8}
  A.eq("C", f); A.eq(8, factor)
  A.eq(56, crystal.atomic_number("Ba")); A.eq("Og", crystal.symbol(118))
  A.eq(137.327, crystal.elements.Ba.mass)
  A.eq(0.89, crystal.elements[56].electronegativity)
  A.eq(2, crystal.elements.Ba.oxidation_states[1])
  A.truthy(crystal.elements.Ba.metal and not crystal.elements.O.metal)
  A.raises(function() crystal.atomic_number("Xx") end, "unknown element")
end)

A.test("periodic neighbour lists agree with brute force (triclinic cells, cutoffs beyond the cell)", function()
  for trial = 1, 12 do
    local s = random_triclinic(1 + trial % 5)
    local cutoff = ({1.5, 3.0, 6.5, 9.0})[trial % 4 + 1]
    local want = brute(s, cutoff)
    local src, dst, dist, img = s:neighbors(cutoff)
    local n = src:shape()[1]
    local cnt = 0
    for _ in pairs(want) do cnt = cnt + 1 end
    A.eq(cnt, n, "edge count (trial " .. trial .. ")")
    local S, D, R, I = src:totable(), dst:totable(), dist:totable(), img:totable()
    local L, F = s:lattice_table(), s:frac_table()
    for e = 1, n do
      local key = string.format("%d %d %d %d %d", S[e], D[e], I[e][1], I[e][2], I[e][3])
      A.truthy(want[key], "edge " .. key .. " in the brute-force list")
      A.near(want[key], R[e], 1e-4, "distance")
      if e > 1 and S[e] == S[e - 1] then A.truthy(R[e] >= R[e - 1], "sorted by distance") end
      if e > 1 then A.truthy(S[e] >= S[e - 1], "sorted by source") end
    end
    -- k nearest: the first k of each source's sorted list
    local k = 4
    local ks, kd, kr = s:neighbors{k = k}
    local KS, KR = ks:totable(), kr:totable()
    A.eq(k * s:natoms(), #KS, "k per atom")
    local per = {}
    for i = 1, s:natoms() do per[i] = {} end
    local all = brute(s, 7)
    for key, dd in pairs(all) do
      local i = tonumber(key:match("^(%d+)"))
      table.insert(per[i], dd)
    end
    for i = 1, s:natoms() do table.sort(per[i]); A.truthy(#per[i] >= k, "enough brute-force neighbours") end
    local seen = {}
    for e = 1, #KS do
      seen[KS[e]] = (seen[KS[e]] or 0) + 1
      A.near(per[KS[e]][seen[KS[e]]], KR[e], 1e-4, "k-th nearest distance")
    end
    -- k within a cutoff: never farther than it
    local cs, _, cr = s:neighbors{k = 50, cutoff = 2.0}
    for _, dd in ipairs(cr:totable()) do A.truthy(dd <= 2.0 + 1e-6, "within the cutoff") end
    A.truthy(cs:shape()[1] <= 50 * s:natoms())
    _ = kd
  end
end)

A.test("min_distance against the neighbour list, with and without self images", function()
  for trial = 1, 10 do
    local s = random_triclinic(1 + trial % 4)
    local d = s:min_distance()
    local ds = s:min_distance{self_images = true}
    local all = brute(s, 12)
    local best, bests = math.huge, math.huge
    for key, dd in pairs(all) do
      local i, j = key:match("^(%d+) (%d+)")
      if i ~= j then best = math.min(best, dd) end
      bests = math.min(bests, dd)
    end
    if best < 12 then A.near(best, d, 1e-9, "min distance") end
    if bests < 12 then A.near(bests, ds, 1e-9, "min distance with self images") end
  end
  local one = crystal.Structure{lattice = {{3, 0, 0}, {0, 3, 0}, {0, 0, 3}}, species = {"Fe"}, frac = {{0, 0, 0}}}
  A.eq(math.huge, one:min_distance())
  A.near(3, one:min_distance{self_images = true}, 1e-12)
  A.near(2.0, perovskite(4):min_distance(), 1e-12)
end)

A.test("CIF: read, write, read back", function()
  local s = perovskite(3.99)
  local text = s:to_cif()
  A.truthy(text:find("data_BaTiO3", 1, true))
  A.truthy(text:find("_chemical_formula_sum   'Ba1 Ti1 O3'", 1, true))
  A.truthy(text:find("  Ti  Ti1  1  0.50000000  0.50000000  0.50000000  1", 1, true))
  local t = crystal.read_cif(text)
  A.eq(5, t:natoms())
  A.near(s:volume(), t:volume(), 1e-6)
  A.eq(text, t:to_cif(), "write(read(write(s))) == write(s)")
  -- esd suffixes, CRLF line ends, comments, a tag whose value is on the next line, labels only
  local cif = "# a comment\r\ndata_x\r\n_cell_length_a 4.0(2)\r\n_cell_length_b 4.0\r\n_cell_length_c\r\n 4.0\r\n" ..
    "_cell_angle_alpha 90\r\n_cell_angle_beta 90.0(1)\r\n_cell_angle_gamma 90 # right angle\r\n" ..
    "loop_\r\n_atom_site_label\r\n_atom_site_fract_x\r\n_atom_site_fract_y\r\n_atom_site_fract_z\r\n" ..
    "Na1 0 0 0\r\nCl2 0.5 0.5\r\n 0.5\r\n"
  local u = crystal.read_cif(cif)
  A.eq("NaCl", u:formula())
  A.near(64, u:volume(), 1e-9)
end)

A.test("CIF reader errors name the line", function()
  local good = perovskite(3.99):to_cif()
  local function with(pat, rep) return (good:gsub(pat, rep, 1)) end
  local cases = {
    {"", "no data_ block"},
    {"data_a\ndata_b\n", "line 2: a second data block"},
    {with("'P 1'", "'P m -3 m'"), "line 3: space group 'P m -3 m'"},
    {with("_symmetry_Int_Tables_number   1", "_symmetry_Int_Tables_number   221"), "space group number '221'"},
    {with("'x, y, z'", "'-x, -y, -z'"), "symmetry operation '-x, -y, -z'"},
    {with("_cell_length_b   3.99000000\n", ""), "_cell_length_b is missing"},
    {with("_cell_length_a   3.99000000", "_cell_length_a   abc"), "line 4: _cell_length_a: 'abc' is not a number"},
    {with("_cell_length_a   3.99000000", "_cell_length_a   nan"), "'nan' is not a number"},
    {with("_cell_length_a   3.99000000", "_cell_length_a   -3"), "length 1 must be positive"},
    {with("_cell_angle_gamma   90.00000000", "_cell_angle_gamma   200"), "angle 3 must be in (0, 180)"},
    {with("  Ba  Ba0  1  0.00000000  0.00000000  0.00000000  1", "  Ba  Ba0  1  0.00000000  0.00000000  0.00000000  0.5"),
     "occupancy 0.5"},
    {with("  Ba  Ba0  1", "  Ba  Ba0  2"), "site multiplicity '2'"},
    {with("  Ba  Ba0", "  Ba2+  Ba0"), "'Ba2+' is not an element symbol"},
    {with("  O  O4  1  0.00000000  0.50000000  0.50000000  1", "  O  O4  1  0.0"), "line 31: the last row of the loop has 4 of its 7 values"},
    {with("_cell_volume", "_cell_magic"), "unsupported tag '_cell_magic'"},
    {with(" _atom_site_occupancy", " _atom_site_occupancy\n _atom_site_U_iso_or_equiv"), "unsupported atom-site tag"},
    {with(" _atom_site_fract_z\n", " _atom_site_Cartn_z\n"), "unsupported atom-site tag"},
    {with("data_BaTiO3", "data_BaTiO3\n;\ntext\n;"), "semicolon text fields"},
    {with("'x, y, z'", "'x, y, z"), "unterminated quoted value"},
    {with("loop_\n _atom_site_type_symbol", "loop_\n _atom_site_type_symbol\nloop_"), "has tags but no values"},
    {"data_a\n_cell_length_a 1\nstray\n", "line 3: unexpected 'stray'"},
    {"data_a\nloop_\n\n  Fe 0 0 0\n", "line 4: the loop_ of line 2 has no tags"},
    {"_cell_length_a 1\ndata_a\n", "line 1: '_cell_length_a' before the data_ line"},
    {"data_a\n_cell_length_a 1 2\n", "needs exactly one value"},
    {"data_a\n_cell_length_a\n", "has no value"},
    {"data_a\n_cell_length_a 1\n_cell_length_b 1\n_cell_length_c 1\n_cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 90\n",
     "no atoms"},
    {"data_a\n_cell_length_a 1\0\n", "NUL byte"},
  }
  for _, c in ipairs(cases) do
    A.raises(function() crystal.read_cif(c[1]) end, c[2], "read_cif(" .. c[2] .. ")")
  end
  A.raises(function() crystal.read_cif(42) end, "expected CIF text")
end)

A.test("spglib: known space groups, and its lattice-as-columns convention", function()
  A.eq(221, perovskite():spacegroup().number)
  A.eq("Pm-3m", perovskite():spacegroup().symbol)
  -- rock salt, conventional cell
  local f, sp = {}, {}
  for _, p in ipairs{{0, 0, 0}, {0, 0.5, 0.5}, {0.5, 0, 0.5}, {0.5, 0.5, 0}} do
    f[#f + 1] = p; sp[#sp + 1] = "Na"
    f[#f + 1] = {p[1] + 0.5, p[2], p[3]}; sp[#sp + 1] = "Cl"
  end
  local nacl = crystal.Structure{lattice = {{5.64, 0, 0}, {0, 5.64, 0}, {0, 0, 5.64}}, species = sp, frac = f}
  local g = nacl:spacegroup{symprec = 0.01}
  A.eq(225, g.number); A.eq("Fm-3m", g.symbol)
  local prim = nacl:standardize{primitive = true}
  A.eq(2, prim:natoms())
  A.near(5.64 ^ 3 / 4, prim:volume(), 1e-6)
  A.eq(8, prim:standardize():natoms())
  -- a triclinic cell: P1
  local tri = crystal.Structure{lattice = crystal.lattice_from_params(3.1, 4.3, 5.7, 77, 85, 101),
                                species = {"C", "O"}, frac = {{0.1, 0.2, 0.3}, {0.45, 0.71, 0.13}}}
  A.eq(1, tri:spacegroup().number)
  -- hexagonal P6/mmm: rows (a, 0, 0), (-a/2, a sqrt3/2, 0), (0, 0, c). Passed as
  -- rows instead of columns, spglib would see a non-hexagonal metric.
  local a, c = 2.5, 4.1
  local hex = crystal.Structure{lattice = {{a, 0, 0}, {-a / 2, a * math.sqrt(3) / 2, 0}, {0, 0, c}},
                                species = {"Mg"}, frac = {{0, 0, 0}}}
  A.eq(191, hex:spacegroup().number)
  -- the same with the lattice rotated and sheared along c (c' = c + a): still hexagonal
  local hex2 = crystal.Structure{lattice = {{0, a, 0}, {-a * math.sqrt(3) / 2, -a / 2, 0}, {0, a, c}},
                                 species = {"Mg"}, frac = {{0, 0, 0}}}
  A.eq(191, hex2:spacegroup().number)
  -- a body-centred cell given by a skewed basis: Niggli gives the reduced cell
  local bcc = crystal.Structure{lattice = {{3, 0, 0}, {3, 3, 0}, {4.5, 4.5, 1.5}}, species = {"Fe"}, frac = {{0, 0, 0}}}
  A.eq(229, bcc:spacegroup().number)
  local nig = bcc:niggli()
  local na, nb, nc = nig:lattice_params()
  local r = 3 * math.sqrt(3) / 2
  A.near(r, na, 1e-9); A.near(r, nb, 1e-9); A.near(r, nc, 1e-9)
  A.near(bcc:volume(), nig:volume(), 1e-9)
  A.raises(function() perovskite():spacegroup{symprec = -1} end, "symprec must be a positive number")
  A.raises(function() perovskite():spacegroup{tolerance = 1} end, "unknown option 'tolerance'")
end)

A.test("composition validity (SMACT as CDVAE/DiffCSP use it)", function()
  A.truthy(crystal.composition_valid{Na = 1, Cl = 1}, "NaCl")
  A.truthy(not crystal.composition_valid{Na = 1, Cl = 2}, "NaCl2")
  A.truthy(crystal.composition_valid(perovskite()), "BaTiO3")
  A.truthy(crystal.composition_valid{Fe = 3}, "one element")
  A.truthy(crystal.composition_valid{Cu = 1, Zn = 1}, "an alloy of metals")
  A.truthy(not crystal.composition_valid{He = 1, O = 1}, "no oxidation states for He")
  A.truthy(crystal.composition_valid{Fe = 2, O = 3}, "Fe2O3")
  A.truthy(not crystal.composition_valid{O = 2, F = 1, Na = 7}, "Na7O2F is not neutral")
  A.truthy(crystal.structure_valid(perovskite()))
  local close = crystal.Structure{lattice = {{4, 0, 0}, {0, 4, 0}, {0, 0, 4}}, species = {"Na", "Cl"},
                                  frac = {{0, 0, 0}, {0.99, 0.0, 0.0}}}
  A.truthy(not crystal.structure_valid(close), "0.04 A apart (across the boundary)")
  local tiny = crystal.Structure{lattice = {{0.4, 0, 0}, {0, 0.4, 0}, {0, 0, 0.4}}, species = {"H"}, frac = {{0, 0, 0}}}
  A.truthy(not crystal.structure_valid(tiny), "volume < 0.1")
  local heavy = crystal.Structure{lattice = {{4, 0, 0}, {0, 4, 0}, {0, 0, 4}}, species = {110, "O"}, frac = {{0, 0, 0}, {0.5, 0.5, 0.5}}}
  A.truthy(not crystal.composition_valid(heavy), "an element beyond the table")
  A.raises(function() crystal.composition_valid{Xx = 1} end, "unknown element")
  A.raises(function() crystal.composition_valid{Na = 1.5} end, "positive integer")
end)

A.test("bad input raises, never crashes", function()
  A.raises(function() crystal.Structure() end, "expected a table")
  A.raises(function() crystal.Structure{lattice = {{1, 0}, {0, 1, 0}, {0, 0, 1}}, species = {}, frac = {}} end,
           "must have 3 numbers")
  A.raises(function() crystal.Structure{lattice = {{1, 0, 0}, {2, 0, 0}, {0, 0, 1}}, species = {"H"}, frac = {{0, 0, 0}}} end,
           "singular")
  A.raises(function() crystal.Structure{lattice = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}, species = {"H"}, frac = {}} end,
           "1 species but 0 rows")
  A.raises(function() crystal.Structure{lattice = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}, species = {"Q"}, frac = {{0, 0, 0}}} end,
           "unknown element 'Q'")
  A.raises(function() crystal.Structure{lattice = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}, species = {119}, frac = {{0, 0, 0}}} end,
           "atomic number")
  A.raises(function() crystal.Structure{lattice = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}, species = {1}, frac = {{0 / 0, 0, 0}}} end,
           "must be finite")
  A.raises(function() crystal.Structure{lattice = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}, species = {1}, frac = {{0, 0, 0}}, x = 1} end,
           "unknown field 'x'")
  local s = perovskite()
  A.raises(function() s:neighbors(-1) end, "cutoff must be a finite number >= 0")
  A.raises(function() s:neighbors(0 / 0) end, "cutoff")
  A.raises(function() s:neighbors{k = 0} end, "k must be")
  A.raises(function() s:neighbors{k = 1.5} end, "k must be an integer")
  A.raises(function() s:neighbors{q = 1} end, "unknown option 'q'")
  local thin = crystal.Structure{lattice = {{1e-3, 0, 0}, {0, 5, 0}, {0, 0, 5}}, species = {"H"}, frac = {{0, 0, 0}}}
  A.raises(function() thin:neighbors(1e4) end, "too large for this cell")
  A.raises(function() crystal.lattice_from_params(1, 1, 1, 0, 90, 90) end, "angle 1 must be in (0, 180)")
  A.raises(function() crystal.lattice_from_params(1, 1, 1, 10, 10, 60) end, "do not make a cell")
  do
    local t <close> = perovskite()
    A.eq(5, t:natoms())
    getmetatable(t).__close(t)
    A.raises(function() t:natoms() end, "Structure used after close")
  end
  A.raises(function() crystal.match(s, 1) end, "expected two Structures")
  A.raises(function() crystal.match(s, s, {ltol = -1}) end, "tolerances must be")
  A.raises(function() crystal.match(s, s, {foo = 1}) end, "unknown option 'foo'")
  A.raises(function() crystal.load("qm9") end, "unknown data set")
  A.raises(function() repro.core.crystal.read_gz("/nonexistent/file.gz") end, "cannot open")
end)

A.test("random arguments to every crystal function and method: errors, never a crash", function()
  local core = repro.core.crystal
  local s = perovskite()
  local pool = {0, -1, 1, 2, 0.5, 3.7, 1e300, -1e300, 0 / 0, math.huge, -math.huge, 2 ^ 31, 12, "x", "Ba",
                {}, {1, 2, 3}, {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}, true, false, s, function() end}
  local N = #pool + 1
  local function arg()
    local i = math.random(N + 1)
    if i == N then return s elseif i == N + 1 then return nil end
    return pool[i]
  end
  local targets = {}
  for k, v in pairs(core) do if type(v) == "function" and k ~= "read_gz" then targets[#targets + 1] = {"core." .. k, v} end end
  for k, v in pairs(crystal) do if type(v) == "function" and k ~= "load" then targets[#targets + 1] = {k, v} end end
  local methods = {}
  for k, v in pairs(core.methods) do methods[#methods + 1] = {k, v} end
  table.sort(targets, function(a, b) return a[1] < b[1] end)
  table.sort(methods, function(a, b) return a[1] < b[1] end)
  math.randomseed(17)
  for _ = 1, 1500 do
    local t = targets[math.random(#targets)]
    pcall(t[2], arg(), arg(), arg(), arg(), arg(), arg())
    local m = methods[math.random(#methods)]
    pcall(m[2], math.random(4) == 1 and arg() or s, arg(), arg(), arg(), arg())
  end
  A.eq(5, s:natoms(), "the structure is intact")
  A.eq("BaTiO3", s:formula())
end)

A.done("test_crystal")
