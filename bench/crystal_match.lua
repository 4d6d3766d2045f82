-- bench/crystal_match.lua: seconds per crystal.match (get_rms_dist semantics,
-- CDVAE's tolerances ltol 0.3, stol 0.5, angle_tol 10) over the 72 pairs of
-- tests/lua/fixtures/match_pymatgen.lua, repeated `reps` times. With
-- --dump FILE it writes the pairs as JSON for bench/crystal_match_pymatgen.py.
-- Run through bench/crystal_match.sh, which interleaves it with pymatgen.
local crystal = require("repro").crystal
local src = os.getenv("REPRO_SOURCE_DIR") or "."
local F = dofile(src .. "/tests/lua/fixtures/match_pymatgen.lua")
local pairs_ = {}
for i = 1, #F, 2 do pairs_[#pairs_ + 1] = F[i] end -- each pair appears once per tolerance set

if arg[1] == "--dump" then
  local function js(x)
    local l = {}
    for _, v in ipairs(x.lattice) do l[#l + 1] = string.format("%.17g", v) end
    local sp = {}
    for _, v in ipairs(x.species) do sp[#sp + 1] = '"' .. v .. '"' end
    local fr = {}
    for _, r in ipairs(x.frac) do fr[#fr + 1] = string.format("[%.17g, %.17g, %.17g]", r[1], r[2], r[3]) end
    return string.format('{"lattice": [%s], "species": [%s], "frac": [%s]}', table.concat(l, ", "),
                         table.concat(sp, ", "), table.concat(fr, ", "))
  end
  local out = {}
  for _, c in ipairs(pairs_) do out[#out + 1] = "[" .. js(c.a) .. ", " .. js(c.b) .. "]" end
  local f = assert(io.open(arg[2], "w"))
  f:write("[" .. table.concat(out, ",\n") .. "]\n")
  f:close()
  return
end

local reps = tonumber(arg[1]) or 3
local function mk(x)
  local l = x.lattice
  return crystal.Structure{lattice = {{l[1], l[2], l[3]}, {l[4], l[5], l[6]}, {l[7], l[8], l[9]}},
                           species = x.species, frac = x.frac}
end
local S = {}
for i, c in ipairs(pairs_) do S[i] = {mk(c.a), mk(c.b)} end
local opts = {ltol = 0.3, stol = 0.5, angle_tol = 10}
local t0 = os.clock()
local matched = 0
for _ = 1, reps do
  for _, p in ipairs(S) do
    if crystal.match(p[1], p[2], opts) then matched = matched + 1 end
  end
end
local dt = os.clock() - t0
print(string.format("repro %.6f s/match (%d matches of %d)", dt / (reps * #S), matched, reps * #S))
