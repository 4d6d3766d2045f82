-- repro.crystal_data: the bundled crystal benchmarks (data/perov_5,
-- data/carbon_24: the val + test splits of the CDVAE benchmark, gzip CSVs
-- with one pymatgen CIF per row; provenance in data/crystal/README.md) and a
-- seeded split of them. Used through crystal.load(name, opts).
--
-- The split is by group: for perov_5 a group is a composition (reduced
-- formula, so AB and BA orderings of one composition share a group and no
-- composition is in two splits); carbon_24 has one composition (C), so there
-- each structure is its own group. Groups are sorted, shuffled by a
-- counter-based generator from the seed (splitmix64, the same on every
-- machine), and dealt out in order until each split holds its fraction of
-- the groups: the first round(f_train * G) groups train, the next
-- round(f_val * G) validate, the rest test.
local X = {}

local function parse_csv(text, name)
  -- RFC 4180: fields separated by commas, quoted fields may hold commas,
  -- newlines and doubled quotes
  local rows, row, pos, n = {}, {}, 1, #text
  while pos <= n do
    local c = text:sub(pos, pos)
    local field
    if c == '"' then
      local parts, p = {}, pos + 1
      while true do
        local q = text:find('"', p, true)
        if not q then error(string.format("crystal.load: %s: unterminated quoted field", name), 0) end
        parts[#parts + 1] = text:sub(p, q - 1)
        if text:sub(q + 1, q + 1) == '"' then
          parts[#parts + 1] = '"'
          p = q + 2
        else
          pos = q + 1
          break
        end
      end
      field = table.concat(parts)
    else
      local e = text:find("[,\n]", pos)
      e = e or n + 1
      field = text:sub(pos, e - 1):gsub("\r$", "")
      pos = e
    end
    row[#row + 1] = field
    local d = text:sub(pos, pos)
    if d == "," then
      pos = pos + 1
    elseif d == "\n" or d == "" or d == "\r" then
      if d == "\r" then pos = pos + 1 end
      if text:sub(pos, pos) == "\n" then pos = pos + 1 end
      rows[#rows + 1] = row
      row = {}
    else
      error(string.format("crystal.load: %s: unexpected '%s' after a quoted field", name, d), 0)
    end
  end
  if #row > 0 then rows[#rows + 1] = row end
  return rows
end
X.parse_csv = parse_csv

local function mix(z)
  z = (z ~ (z >> 30)) * -4658895280553007687
  z = (z ~ (z >> 27)) * -7723592293110705685
  return z ~ (z >> 31)
end

-- a seeded Fisher-Yates shuffle (in place)
local function shuffle(t, seed)
  for i = #t, 2, -1 do
    local r = mix(seed * -7046029254386353131 + i) -- counter-based: draw i depends on (seed, i) only
    local j = (r & 0x7fffffffffffffff) % i + 1
    t[i], t[j] = t[j], t[i]
  end
end

local SETS = {
  perov_5 = {files = {"data/perov_5/val.csv.gz", "data/perov_5/test.csv.gz"}, by = "composition",
             numeric = {heat_all = true, heat_ref = true, dir_gap = true, ind_gap = true}},
  carbon_24 = {files = {"data/carbon_24/val.csv.gz", "data/carbon_24/test.csv.gz"}, by = "structure",
               numeric = {energy_per_atom = true}},
}

function X.install(C, core, U)
  local pools = {}

  -- every record of a data set, in file order (val then test); cached
  local function pool(name)
    if pools[name] then return pools[name] end
    local spec = SETS[name]
    local recs = {}
    for _, f in ipairs(spec.files) do
      local path = U.join(U.source_dir(), f)
      local rows = parse_csv(core.read_gz(path), f)
      local header = rows[1]
      for r = 2, #rows do
        local row = rows[r]
        if #row ~= #header then
          error(string.format("crystal.load: %s row %d has %d fields, the header %d", f, r, #row, #header), 0)
        end
        local rec = {source = f:match("([^/]+)%.csv%.gz$"), row = r - 1}
        for k, h in ipairs(header) do
          local key = h == "" and "index" or h
          local v = row[k]
          if spec.numeric[key] then v = tonumber(v) end
          if key == "formula" then key = "formula_source" end
          rec[key] = v
        end
        local ok, s = pcall(C.read_cif, rec.cif)
        if not ok then error(string.format("crystal.load: %s row %d: %s", f, r - 1, tostring(s)), 0) end
        rec.structure = s
        rec.formula = s:formula()
        recs[#recs + 1] = rec
      end
    end
    pools[name] = recs
    return recs
  end

  --- crystal.load(name, {split = "train"|"val"|"test"|"all", seed = 0, fractions = {train=, val=, test=}})
  function C.load(name, opts)
    if not SETS[name] then
      error("crystal.load: unknown data set '" .. tostring(name) .. "' (perov_5, carbon_24)", 2)
    end
    opts = opts or {}
    if type(opts) ~= "table" then error("crystal.load: options must be a table", 2) end
    for k in pairs(opts) do
      if k ~= "split" and k ~= "seed" and k ~= "fractions" then
        error("crystal.load: unknown option '" .. tostring(k) .. "' (split, seed, fractions)", 2)
      end
    end
    local split = opts.split or "all"
    if split ~= "train" and split ~= "val" and split ~= "test" and split ~= "all" then
      error("crystal.load: split must be train, val, test or all, got " .. tostring(split), 2)
    end
    local seed = opts.seed or 0
    if math.type(seed) ~= "integer" then error("crystal.load: seed must be an integer, got " .. tostring(seed), 2) end
    local fr = opts.fractions or {train = 0.8, val = 0.1, test = 0.1}
    for _, k in ipairs{"train", "val", "test"} do
      if type(fr[k]) ~= "number" or fr[k] < 0 then
        error("crystal.load: fractions." .. k .. " must be a number >= 0", 2)
      end
    end
    local total = fr.train + fr.val + fr.test
    if math.abs(total - 1) > 1e-9 then error(string.format("crystal.load: fractions sum to %g, not 1", total), 2) end
    local recs = pool(name)
    if split == "all" then return table.move(recs, 1, #recs, 1, {}) end
    local spec = SETS[name]
    local groups, keys = {}, {}
    for i, r in ipairs(recs) do
      local key = spec.by == "composition" and r.formula or string.format("%s/%d", r.source, r.row)
      if not groups[key] then groups[key] = {}; keys[#keys + 1] = key end
      table.insert(groups[key], i)
    end
    table.sort(keys)
    shuffle(keys, seed)
    local G = #keys
    local ntr = math.floor(fr.train * G + 0.5)
    local nva = math.floor(fr.val * G + 0.5)
    if ntr + nva > G then nva = G - ntr end
    local lo, hi
    if split == "train" then lo, hi = 1, ntr
    elseif split == "val" then lo, hi = ntr + 1, ntr + nva
    else lo, hi = ntr + nva + 1, G end
    local idx = {}
    for g = lo, hi do
      for _, i in ipairs(groups[keys[g]]) do idx[#idx + 1] = i end
    end
    table.sort(idx) -- file order within a split
    local out = {}
    for k, i in ipairs(idx) do out[k] = recs[i] end
    return out
  end
end

return X
