-- Writes /tmp/crystal_cifs/NNN.cif (our to_cif) and NNN.ref (lattice parameters, species, fractional
-- coordinates) for 41 structures; tools/check_cif_readers.py then reads the CIFs with ASE and pymatgen
-- (Debian python3-ase, python3-pymatgen) and compares. usage: mkdir -p /tmp/crystal_cifs && ./repro tools/write_cif_samples.lua && /usr/bin/python3 tools/check_cif_readers.py
local crystal = require("repro").crystal
local recs = crystal.load("carbon_24", {split = "test"})
local p = crystal.load("perov_5", {split = "test"})
local out = {}
for i = 1, 20 do out[#out + 1] = recs[i].structure end
for i = 1, 20 do out[#out + 1] = p[i].structure end
out[#out + 1] = crystal.Structure{lattice = crystal.lattice_from_params(3.1, 4.3, 5.7, 77, 85, 101), species = {"Li", "Fe", "P", "O", "O", "O", "O"},
  frac = {{0.1, 0.2, 0.3}, {0.45, 0.71, 0.13}, {0.9, 0.1, 0.5}, {0.3, 0.3, 0.8}, {-0.2, 1.3, 0.5}, {0.6, 0.6, 0.6}, {0.05, 0.95, 0.45}}}
for i, s in ipairs(out) do
  local f = io.open(string.format("/tmp/crystal_cifs/%03d.cif", i), "w"); f:write(s:to_cif()); f:close()
  local g = io.open(string.format("/tmp/crystal_cifs/%03d.ref", i), "w")
  local a, b, c, al, be, ga = s:lattice_params()
  g:write(string.format("%.10f %.10f %.10f %.10f %.10f %.10f\n", a, b, c, al, be, ga))
  for k, sp in ipairs(s:species()) do local fr = s:frac_table()[k]; g:write(string.format("%s %.10f %.10f %.10f\n", sp, fr[1], fr[2], fr[3])) end
  g:close()
end
print(#out)
