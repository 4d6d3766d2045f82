-- repro.crystal_metrics: validity and the metrics of crystal generation as
-- CDVAE (txie-93/cdvae scripts/eval_utils.py, compute_metrics.py) and
-- DiffCSP (jiaor17/DiffCSP, same files) define them. Merged into
-- repro.crystal; use it through that module.
--
--  * composition validity: SMACT's charge-neutrality screen over the smact14
--    oxidation states with the Pauling electronegativity test (DiffCSP's
--    smact_validity, including its quirks: one element or only metals is
--    valid; more than 1e7 oxidation-state combinations is invalid; a missing
--    electronegativity in a cation/anion pair passes, elsewhere fails);
--  * structural validity: every distance between two different atoms over
--    periodic images >= 0.5 A and volume >= 0.1 A^3 (structure_validity);
--  * match rate and RMSE with StructureMatcher(stol 0.5, angle_tol 10,
--    ltol 0.3) get_rms_dist, best of k samples (RecEval / RecEvalBatch);
--  * uniqueness and novelty by StructureMatcher.fit.
-- install(C) returns the functions, given the repro.crystal table C.
local X = {}
function X.install(C)
  local M = {}

  local function gcd(a, b) while b ~= 0 do a, b = b, a % b end return a end

  -- composition argument: a Structure or a table {symbol = count}
  local function comp_of(fn, x)
    if C.is_structure(x) then return x:composition() end
    if type(x) ~= "table" then error(fn .. ": expected a Structure or a composition table, got " .. type(x), 3) end
    for k, v in pairs(x) do
      if not C.elements[k] then error(string.format("%s: unknown element '%s'", fn, tostring(k)), 3) end
      if math.type(v) ~= "integer" or v < 1 then
        error(string.format("%s: count of %s must be a positive integer, got %s", fn, k, tostring(v)), 3)
      end
    end
    return x
  end

  -- smact's eneg_states_test with Python's behaviour on a missing value:
  -- returns true, false, or "error" (a TypeError the caller treats as a pass)
  local function eneg_states_test(ox, chi)
    local n = #ox
    for i = 1, n - 1 do
      for j = i + 1, n do
        if ox[i] > 0 and ox[j] < 0 then
          if chi[i] == nil or chi[j] == nil then return "error" end
          if chi[i] >= chi[j] then return false end
        elseif ox[i] < 0 and ox[j] > 0 then
          if chi[i] == nil or chi[j] == nil then return "error" end
          if chi[i] <= chi[j] then return false end
        elseif chi[i] == nil or chi[j] == nil then
          return false
        end
      end
    end
    return true
  end

  --- crystal.composition_valid(s or {symbol = count}) -> boolean (SMACT screen as in CDVAE/DiffCSP)
  function M.composition_valid(x)
    local comp = comp_of("composition_valid", x)
    local els = {}
    for sym in pairs(comp) do
      local e = C.elements[sym]
      if not e then return false end -- beyond the table (Z > 103): no oxidation states, SMACT knows no such element
      els[#els + 1] = e
    end
    if #els == 0 then return false end
    table.sort(els, function(p, q) return p.Z < q.Z end)
    if #els == 1 then return true end
    local all_metal = true
    for _, e in ipairs(els) do all_metal = all_metal and e.metal end
    if all_metal then return true end
    local g = 0
    for _, e in ipairs(els) do g = gcd(g, comp[e.symbol]) end
    local count, chi, combos = {}, {}, 1
    for i, e in ipairs(els) do
      count[i] = comp[e.symbol] // g
      chi[i] = e.electronegativity
      combos = combos * #e.oxidation_states
    end
    if combos > 1e7 then return false end
    if combos == 0 then return false end
    -- every combination of oxidation states, first element slowest (itertools.product)
    local n = #els
    local idx, ox = {}, {}
    for i = 1, n do idx[i] = 1 end
    while true do
      local charge = 0
      for i = 1, n do
        ox[i] = els[i].oxidation_states[idx[i]]
        charge = charge + ox[i] * count[i]
      end
      if charge == 0 then
        local ok = eneg_states_test(ox, chi)
        if ok then return true end -- true or "error" (CDVAE: no data, assume it is okay)
      end
      local i = n
      while i >= 1 do
        idx[i] = idx[i] + 1
        if idx[i] <= #els[i].oxidation_states then break end
        idx[i] = 1
        i = i - 1
      end
      if i == 0 then return false end
    end
  end

  --- crystal.structure_valid(s, {cutoff = 0.5, min_volume = 0.1}) -> boolean
  function M.structure_valid(s, opts)
    if not C.is_structure(s) then error("structure_valid: expected a Structure, got " .. type(s), 2) end
    opts = opts or {}
    local cutoff, vmin = opts.cutoff or 0.5, opts.min_volume or 0.1
    if s:volume() < vmin then return false end
    -- a cell too thin to search (min_distance refuses) counts as invalid
    local ok, d = pcall(s.min_distance, s)
    return ok and d >= cutoff
  end

  --- crystal.valid(s) -> valid, composition_valid, structure_valid
  function M.valid(s)
    local cv, sv = M.composition_valid(s), M.structure_valid(s)
    return cv and sv, cv, sv
  end

  local METRIC_OPTS = {ltol = 0.3, stol = 0.5, angle_tol = 10}

  local function metric_opts(fn, opts, extra)
    opts = opts or {}
    if type(opts) ~= "table" then error(fn .. ": options must be a table", 3) end
    local o = {}
    for k, v in pairs(opts) do
      if METRIC_OPTS[k] ~= nil or k == "anonymous" or (extra and extra[k]) then o[k] = v
      else error(string.format("%s: unknown option '%s'", fn, tostring(k)), 3) end
    end
    for k, v in pairs(METRIC_OPTS) do if o[k] == nil then o[k] = v end end
    return o
  end

  local function safe_rms(a, b, o)
    local ok, m, rms = pcall(C.match, a, b, {ltol = o.ltol, stol = o.stol, angle_tol = o.angle_tol, anonymous = o.anonymous})
    if ok and m then return rms end
    return nil -- CDVAE counts a matcher exception as no match
  end

  --- crystal.match_rate(generated, reference, opts) -> rate, mean_rms, rms_list
  function M.match_rate(gen, ref, opts)
    if type(gen) ~= "table" or type(ref) ~= "table" then error("match_rate: expected two lists", 2) end
    if #gen ~= #ref then error(string.format("match_rate: %d generated entries for %d references", #gen, #ref), 2) end
    local o = metric_opts("match_rate", opts, {check_validity = true})
    local check = o.check_validity ~= false
    o.check_validity = nil
    local vcache = setmetatable({}, {__mode = "k"})
    local function valid(s)
      if not check then return true end
      if vcache[s] == nil then vcache[s] = M.valid(s) end
      return vcache[s]
    end
    local matched, sum, rms_list = 0, 0, {}
    for i = 1, #ref do
      local g, r = gen[i], ref[i]
      local best
      if C.is_structure(g) then
        -- k = 1 (RecEval): both the prediction and the reference must be valid
        if valid(g) and valid(r) then best = safe_rms(g, r, o) end
      elseif type(g) == "table" then
        -- k samples (RecEvalBatch): each valid sample tried, the smallest rms kept
        for _, s in ipairs(g) do
          if C.is_structure(s) and valid(s) then
            local v = safe_rms(s, r, o)
            if v and (not best or v < best) then best = v end
          end
        end
      end
      rms_list[i] = best or false
      if best then matched = matched + 1; sum = sum + best end
    end
    local n = #ref
    return n > 0 and matched / n or 0, matched > 0 and sum / matched or 0 / 0, rms_list
  end

  local function anon_key(s, anonymous)
    if not anonymous then return (C.reduced_formula(s:composition())) end
    local counts = {}
    for _, v in pairs(s:composition()) do counts[#counts + 1] = v end
    table.sort(counts)
    local g = 0
    for _, v in ipairs(counts) do g = gcd(g, v) end
    for i, v in ipairs(counts) do counts[i] = v // g end
    return table.concat(counts, ",")
  end

  local function fit(a, b, o)
    local ok, r = pcall(C.fit, a, b, {ltol = o.ltol, stol = o.stol, angle_tol = o.angle_tol, anonymous = o.anonymous})
    return ok and r
  end

  --- crystal.uniqueness(list, opts) -> fraction, unique_indices
  function M.uniqueness(list, opts)
    if type(list) ~= "table" then error("uniqueness: expected a list of Structures", 2) end
    local o = metric_opts("uniqueness", opts)
    local seen, uniq = {}, {}
    for i, s in ipairs(list) do
      if not C.is_structure(s) then error("uniqueness: entry " .. i .. " is not a Structure", 2) end
      local k = anon_key(s, o.anonymous)
      local bucket = seen[k] or {}
      seen[k] = bucket
      local dup = false
      for _, t in ipairs(bucket) do
        if fit(s, t, o) then dup = true; break end
      end
      if not dup then bucket[#bucket + 1] = s; uniq[#uniq + 1] = i end
    end
    return #list > 0 and #uniq / #list or 0, uniq
  end

  --- crystal.novelty(list, reference, opts) -> fraction, novel_indices
  function M.novelty(list, reference, opts)
    if type(list) ~= "table" or type(reference) ~= "table" then error("novelty: expected two lists of Structures", 2) end
    local o = metric_opts("novelty", opts)
    local by = {}
    for i, t in ipairs(reference) do
      if not C.is_structure(t) then error("novelty: reference entry " .. i .. " is not a Structure", 2) end
      local k = anon_key(t, o.anonymous)
      by[k] = by[k] or {}
      table.insert(by[k], t)
    end
    local novel = {}
    for i, s in ipairs(list) do
      if not C.is_structure(s) then error("novelty: entry " .. i .. " is not a Structure", 2) end
      local known = false
      for _, t in ipairs(by[anon_key(s, o.anonymous)] or {}) do
        if fit(s, t, o) then known = true; break end
      end
      if not known then novel[#novel + 1] = i end
    end
    return #list > 0 and #novel / #list or 0, novel
  end

  return M
end

return X
