-- tests/lua/test_crystal_data.lua: the bundled perov_5 and carbon_24 data
-- sets: every row parses, to_cif writes back pymatgen's text (all but the
-- comment line and the volume, which pymatgen computed from more digits),
-- reading that back is exact to the written digits, and the seeded split by
-- composition is disjoint, complete and reproducible.
local A = dofile(arg[0]:match("(.*/)") .. "assert.lua")
local repro = require "repro"
local crystal = repro.crystal
local U = require "repro.util"

local function strip(text)
  local out = {}
  for line in text:gmatch("[^\n]+") do
    if not line:match("^#") and not line:match("^_cell_volume") then out[#out + 1] = line end
  end
  return table.concat(out, "\n")
end

for _, name in ipairs{"perov_5", "carbon_24"} do
  A.test(name .. ": every row parses and round-trips through to_cif", function()
    local all = crystal.load(name)
    A.eq(name == "perov_5" and 7572 or 4062, #all, "rows")
    for i, r in ipairs(all) do
      local s = r.structure
      local text = s:to_cif()
      if strip(text) ~= strip(r.cif) then
        error(string.format("%s row %d (%s): to_cif differs from the file\n--- file\n%s\n--- ours\n%s", name, i,
                            r.source, r.cif, text))
      end
      local t = crystal.read_cif(text)
      A.eq(text, t:to_cif(), "to_cif is a fixed point")
      local p, q = {s:lattice_params()}, {t:lattice_params()}
      for k = 1, 6 do A.near(p[k], q[k], 1e-7, "lattice parameter") end
      local f, g = s:frac_table(), t:frac_table()
      for a = 1, #f do for k = 1, 3 do A.near(f[a][k], g[a][k], 1e-8, "coordinate") end end
    end
    if name == "perov_5" then
      local r = all[1]
      A.eq("val", r.source)
      A.eq("number", type(r.heat_ref)); A.eq("number", type(r.dir_gap)); A.eq("number", type(r.ind_gap))
      A.eq(5, r.structure:natoms())
    else
      A.eq("number", type(all[1].energy_per_atom))
    end
  end)
end

A.test("the split by composition: disjoint, complete, seeded", function()
  local parts, seen = {}, {}
  local total = 0
  for _, split in ipairs{"train", "val", "test"} do
    parts[split] = crystal.load("perov_5", {split = split, seed = 7})
    total = total + #parts[split]
    for _, r in ipairs(parts[split]) do
      A.truthy(seen[r.formula] == nil or seen[r.formula] == split, "composition " .. r.formula .. " in two splits")
      seen[r.formula] = split
    end
  end
  A.eq(7572, total)
  A.truthy(#parts.train > 5500 and #parts.val > 600 and #parts.test > 600, "about 80/10/10")
  local again = crystal.load("perov_5", {split = "val", seed = 7})
  A.eq(#parts.val, #again)
  for i = 1, #again do A.eq(parts.val[i], again[i], "same seed, same split") end
  local other = crystal.load("perov_5", {split = "val", seed = 8})
  local same = #other == #again
  if same then for i = 1, #other do same = same and other[i] == again[i] end end
  A.truthy(not same, "another seed, another split")
  local k = crystal.load("perov_5", {split = "test", seed = 0, fractions = {train = 0.54, val = 0.06, test = 0.40}})
  A.truthy(#k > 2800 and #k < 3300, "a 40% test split")
  -- carbon_24 has one composition: its split is by structure
  local c = crystal.load("carbon_24", {split = "test"})
  A.truthy(#c > 300 and #c < 520)
  A.raises(function() crystal.load("perov_5", {split = "dev"}) end, "split must be")
  A.raises(function() crystal.load("perov_5", {seed = 1.5}) end, "seed must be an integer")
  A.raises(function() crystal.load("perov_5", {fractions = {train = 0.5, val = 0.1, test = 0.1}}) end, "sum to")
  A.raises(function() crystal.load("perov_5", {shuffle = true}) end, "unknown option")
end)

A.test("gzip reader: corrupt and truncated files are errors", function()
  local dir = os.getenv("TMPDIR") or "/tmp"
  local path = string.format("%s/repro_crystal_gz_%d.gz", dir, math.random(1, 1 << 30))
  local gz = U.read_file(U.join(U.source_dir(), "data/perov_5/val.csv.gz"))
  local f = assert(io.open(path, "wb"))
  f:write(gz:sub(1, #gz // 2))
  f:close()
  A.raises(function() repro.core.crystal.read_gz(path) end, "truncated or corrupt")
  os.remove(path)
end)

A.done("test_crystal_data")
