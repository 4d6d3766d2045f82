-- repro.experiment: the runner every experiments/*.lua script uses.
--
--   local exp = repro.experiment.new{name = "fp8_swiglu", default = "fast",
--     presets = {fast = {steps = 200, lr = 1e-3, ...}, paper = {...}}}
--   -- exp.config: the resolved settings (preset + overrides, with seed and steps)
--   -- exp.out: the output folder; exp:path("loss.tsv"); exp:write_results{...}
--   -- exp.pristine: the configuration is exactly the preset's, apart from
--   --   the fields listed in spec.cosmetic (e.g. {"figdir"}): only such runs
--   --   replace the figures committed under figures/
--
-- Flags: --preset NAME, --steps N, --seed N, --out DIR, --resume, --force,
-- --help, and --KEY VALUE (or --KEY=VALUE) for any preset field, converted to
-- the type the preset gives it (integer, number, boolean, string, or a comma
-- list for arrays; nested fields by dotted name: --fp8.margin 1). Unknown
-- flags are errors that list the valid ones.
--
-- The output folder (default out/NAME/PRESET) receives config.txt (every
-- resolved setting, key=value), run.txt (seed, git revision, machine, repro
-- version, command line) and the results. A folder that holds results of
-- another experiment, preset or configuration is never overwritten unless
-- --force (or --resume of the same configuration).
local U = require "repro.util"

local E = {}

local BUILTIN = {
  preset = "string", steps = "integer", seed = "integer", out = "string",
  resume = "flag", force = "flag", help = "flag",
}
local RESERVED = { experiment = true, preset = true }

-- Flattened field types over all presets: {["fp8.margin"] = "integer", ...}.
local function field_types(spec)
  local types = {}
  for _, pname in ipairs(U.sorted_keys(spec.presets)) do
    for k, v in pairs(U.flatten(spec.presets[pname])) do
      local t = type(v)
      if t == "number" then t = math.type(v) == "integer" and "integer" or "number"
      elseif t == "table" then t = "list" end
      -- an integer in one preset and a float in another: accept numbers
      if types[k] and types[k] ~= t then
        if (types[k] == "integer" and t == "number") or (types[k] == "number" and t == "integer") then t = "number"
        else error(string.format("experiment %s: field '%s' has different types in different presets", spec.name, k), 3) end
      end
      types[k] = t
    end
  end
  return types
end

local function valid_flags(types)
  local all = {}
  for k in pairs(BUILTIN) do all[k] = true end
  for k in pairs(types) do all[k] = true end
  local list = {}
  for _, k in ipairs(U.sorted_keys(all)) do list[#list + 1] = "--" .. k end
  return table.concat(list, ", ")
end

local function convert(name, kind, s, what)
  local function bad(expect)
    error(string.format("%s: --%s expects %s, got '%s'", what, name, expect, tostring(s)), 0)
  end
  if kind == "integer" then
    local v = math.tointeger(tonumber(s))
    if not v then bad("an integer") end
    return v
  elseif kind == "number" then
    local v = tonumber(s)
    if not v then bad("a number") end
    return v
  elseif kind == "boolean" or kind == "flag" then
    if s == true or s == "true" or s == "1" or s == "yes" then return true end
    if s == "false" or s == "0" or s == "no" then return false end
    bad("true or false")
  elseif kind == "list" then
    local out = {}
    for item in tostring(s):gmatch("[^,]+") do out[#out + 1] = tonumber(item) or item end
    return out
  end
  return s
end

local function set_dotted(t, key, v)
  local parts = {}
  for p in key:gmatch("[^.]+") do parts[#parts + 1] = p end
  for i = 1, #parts - 1 do
    if type(t[parts[i]]) ~= "table" then t[parts[i]] = {} end
    t = t[parts[i]]
  end
  t[parts[#parts]] = v
end

function E.usage(spec)
  local lines = { string.format("usage: repro %s [--preset NAME] [--steps N] [--seed N] [--out DIR] [--resume] [--force] [--KEY VALUE ...]",
    spec.script or ("experiments/" .. spec.name .. ".lua")) }
  if spec.description then lines[#lines + 1] = spec.description end
  lines[#lines + 1] = "presets (default " .. spec.default .. "):"
  for _, p in ipairs(U.sorted_keys(spec.presets)) do
    local flat = U.flatten(spec.presets[p])
    local items = {}
    for _, k in ipairs(U.sorted_keys(flat)) do
      local v = flat[k]
      items[#items + 1] = k .. "=" .. (type(v) == "table" and table.concat(v, ",") or tostring(v))
    end
    lines[#lines + 1] = "  " .. p .. ": " .. table.concat(items, " ")
  end
  return table.concat(lines, "\n") .. "\n"
end

local function check_spec(spec)
  if type(spec) ~= "table" then error("experiment.new: expected a table", 3) end
  if type(spec.name) ~= "string" or not spec.name:match("^[%w_%-%.]+$") then
    error("experiment.new: name must be a non-empty string of letters, digits, '_', '-', '.'", 3)
  end
  if type(spec.presets) ~= "table" or next(spec.presets) == nil then error("experiment.new: presets are required", 3) end
  spec.default = spec.default or (spec.presets.fast and "fast") or U.sorted_keys(spec.presets)[1]
  if not spec.presets[spec.default] then
    error("experiment.new: default preset '" .. tostring(spec.default) .. "' is not among the presets", 3)
  end
end

-- Are two configurations the same, field by field (arrays compared by value),
-- apart from the keys listed in `ignore` (settings that change no result)?
local function same_config(x, y, ignore)
  local a, b = U.flatten(x), U.flatten(y)
  for _, k in ipairs(ignore or {}) do a[k], b[k] = nil, nil end
  for k, v in pairs(a) do
    local w = b[k]
    if type(v) == "table" then
      if type(w) ~= "table" or table.concat(v, ",") ~= table.concat(w, ",") then return false end
    elseif v ~= w then return false end
  end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end

-- Parse args (a list of strings) against spec; raises an error on bad flags.
-- Returns {preset=, config=, seed=, steps=, pristine=, out=, resume=, force=,
-- help=}; pristine: the configuration is exactly the preset's (no override
-- changed a value), so the run may publish figures into the source tree.
function E.parse(spec, args)
  check_spec(spec)
  local what = "experiment " .. spec.name
  local types = field_types(spec)
  local flags, overrides = {}, {}
  local i = 1
  while i <= #args do
    local a = args[i]
    local key, val = a:match("^%-%-([%w_%.%-]+)=(.*)$")
    if not key then key = a:match("^%-%-([%w_%.%-]+)$") end
    if not key then
      error(string.format("%s: unexpected argument '%s' (flags start with --; valid: %s)", what, a, valid_flags(types)), 0)
    end
    local kind = BUILTIN[key] or types[key]
    if not kind then
      error(string.format("%s: unknown flag '--%s' (valid: %s)", what, key, valid_flags(types)), 0)
    end
    if val == nil then
      if kind == "flag" or (kind == "boolean" and (args[i + 1] == nil or args[i + 1]:match("^%-%-"))) then
        val = true
      else
        val = args[i + 1]
        if val == nil then error(string.format("%s: --%s needs a value", what, key), 0) end
        i = i + 1
      end
    end
    local v = convert(key, kind, val, what)
    if BUILTIN[key] and not types[key] then flags[key] = v
    else
      if BUILTIN[key] then flags[key] = v end
      overrides[#overrides + 1] = { key, v }
    end
    i = i + 1
  end
  local preset = flags.preset or spec.default
  if not spec.presets[preset] then
    error(string.format("%s: unknown preset '%s' (valid: %s)", what, preset, table.concat(U.sorted_keys(spec.presets), ", ")), 0)
  end
  local cfg = U.deepcopy(spec.presets[preset])
  for _, kv in ipairs(overrides) do set_dotted(cfg, kv[1], kv[2]) end
  if flags.steps then cfg.steps = flags.steps end
  cfg.seed = flags.seed or cfg.seed or 1
  for k in pairs(RESERVED) do
    if cfg[k] ~= nil then error(what .. ": '" .. k .. "' is a reserved name and cannot be a preset field", 0) end
  end
  local base = U.deepcopy(spec.presets[preset])
  base.seed = base.seed or 1
  return {
    preset = preset, config = cfg, seed = cfg.seed, steps = cfg.steps,
    pristine = same_config(cfg, base, spec.cosmetic),
    out = flags.out or U.join("out", spec.name, preset),
    resume = flags.resume or false, force = flags.force or false, help = flags.help or false,
  }
end

local function sh(cmd)
  local p = io.popen(cmd .. " 2>/dev/null")
  if not p then return nil end
  local s = p:read("a")
  p:close()
  s = s and s:gsub("%s+$", "")
  if s == "" then return nil end
  return s
end

-- Machine and build facts for run.txt.
function E.machine_info()
  local info = {
    nproc = tonumber(sh("nproc") or "") or 0,
    uname = sh("uname -srvmo") or "unknown",
    lua = _VERSION,
    git_revision = sh("git -C " .. U.shell_quote(U.source_dir()) .. " rev-parse HEAD") or "unknown",
    date = os.date("!%Y-%m-%dT%H:%M:%SZ"),
  }
  local ok, core = pcall(require, "repro.core")
  local sys = ok and type(core) == "table" and core.sys or {}
  local function try(name)
    if type(sys[name]) == "function" then
      local ok2, v = pcall(sys[name])
      if ok2 and v ~= nil then
        if type(v) == "table" then
          for k, x in pairs(v) do if type(x) ~= "table" then info[name .. "." .. tostring(k)] = x end end
        else info[name] = v end
      end
    end
  end
  try("version"); try("get_threads"); try("blas_info")
  return info
end

local Exp = {}
Exp.__index = Exp

-- Does the folder hold results we must not overwrite? Returns a reason or nil.
local function conflict(dir, name, preset, cfg, resume)
  local old = U.read_config(U.join(dir, "config.txt"))
  if not old then
    return nil
  end
  if old.experiment ~= name then
    return string.format("it holds results of experiment '%s'", tostring(old.experiment))
  end
  if old.preset ~= preset then
    return string.format("it holds results of preset '%s'", tostring(old.preset))
  end
  local flat = U.flatten(cfg)
  for _, k in ipairs(U.sorted_keys(flat)) do
    local v, ov = flat[k], old[k]
    local same = (type(v) == "table" and type(ov) == "table" and table.concat(v, ",") == table.concat(ov, ","))
      or ov == v
    if not same and not (resume and k == "steps") then
      return string.format("it holds a run with %s=%s (now %s)", k, tostring(ov),
        type(v) == "table" and table.concat(v, ",") or tostring(v))
    end
  end
  for _, k in ipairs(U.sorted_keys(old)) do
    if flat[k] == nil and not RESERVED[k] then return "it holds a run with the extra setting " .. k end
  end
  return nil
end

-- Create the experiment: parse the script's arguments (spec.args, default
-- the global arg), prepare the output folder, write config.txt and run.txt.
-- On a bad flag it prints the error and usage and exits with status 2 unless
-- spec.exit == false (then it raises).
function E.new(spec)
  local args = spec.args
  if not args then
    args = {}
    if type(arg) == "table" then for i = 1, #arg do args[i] = arg[i] end end
  end
  local ok, r = pcall(E.parse, spec, args)
  if not ok then
    if spec.exit == false then error(r, 2) end
    io.stderr:write(tostring(r), "\n", E.usage(spec))
    os.exit(2, true)
  end
  if r.help then
    io.stdout:write(E.usage(spec))
    if spec.exit == false then return nil end
    os.exit(0, true)
  end
  local self = setmetatable({ name = spec.name, preset = r.preset, config = r.config, seed = r.seed,
                              steps = r.steps, pristine = r.pristine, out = r.out, resume = r.resume, force = r.force }, Exp)
  local reason = conflict(self.out, self.name, self.preset, self.config, self.resume)
  if reason and not self.force then
    error(string.format("experiment %s: refusing to write into '%s': %s; use --out DIR for a new folder, "
      .. "or --force to overwrite", self.name, self.out, reason), 2)
  end
  U.mkdir_p(self.out)
  local stored = U.deepcopy(self.config)
  stored.experiment, stored.preset = self.name, self.preset
  U.write_config(U.join(self.out, "config.txt"), stored)
  local info = E.machine_info()
  info.seed = self.seed
  info.experiment, info.preset = self.name, self.preset
  info.command = table.concat(args, " ")
  info.resume = self.resume
  U.write_config(U.join(self.out, "run.txt"), info)
  self.machine = info
  return self
end

-- A path inside the output folder.
function Exp:path(...) return U.join(self.out, ...) end

-- The checkpoint folder of this run.
function Exp:checkpoint_dir() return self:path("checkpoint") end

-- results.txt: key=value of the run's headline numbers.
function Exp:write_results(tbl)
  U.write_config(self:path("results.txt"), tbl)
end

-- A TSV in the output folder: columns = {"step", "loss"}, rows = {{1, 2.3}, ...}.
function Exp:write_tsv(name, columns, rows)
  local lines = { table.concat(columns, "\t") }
  for _, r in ipairs(rows) do
    local cells = {}
    for i, v in ipairs(r) do cells[i] = U.tsv_number(v) end
    lines[#lines + 1] = table.concat(cells, "\t")
  end
  local p = self:path(name)
  U.write_file_atomic(p, table.concat(lines, "\n") .. "\n")
  return p
end

function Exp:__tostring()
  return string.format("experiment %s (preset %s, seed %d) -> %s", self.name, self.preset, self.seed, self.out)
end

return E
