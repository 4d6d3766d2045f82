-- repro.experiment: the one shape of every experiments/*.lua script.
--
--   local exp = repro.experiment.new{
--     name = "fp8_swiglu", default = "fast", script = "experiments/fp8_swiglu.lua",
--     about = "what it reproduces (a paragraph for --help)",
--     times = {smoke = "10 s", fast = "15 min", paper = "hours"},   -- on 2 cores
--     presets = {smoke = {...}, fast = {steps = 200, lr = 1e-3, ...}, paper = {...}},
--     options = {steps = {help = "training steps per run", min = 1},
--                lr = {help = "peak learning rate", gt = 0},
--                runs = {help = "runs to train", list = true, choices = {"a", "b"}}, ...},
--     cosmetic = {"figdir"},                      -- fields that change no result
--     dist = true}                                -- runs data-parallel under mpirun (repro.dist);
--                                                 -- without it, mpirun or --dist is refused
--   exp:run(function(exp) ... end)               -- the experiment's body
--
--   exp.config: the resolved settings (preset + overrides, with seed and steps)
--   exp.out: the output folder; exp:path("loss.tsv"); exp:write_results{...}
--   exp.pristine: the configuration is exactly the preset's, apart from the
--     cosmetic fields: only such runs replace the figures committed under figures/
--
-- Flags: --preset NAME, --seed N, --out DIR, --resume, --force, --dist, --help, and
-- --KEY VALUE (or --KEY=VALUE) for every preset field (nested fields by dotted
-- name: --fp8.margin 1). Every field has a declared option: its type comes
-- from the presets, its range from `options` (min / max inclusive, gt / lt
-- exclusive, choices by name; lists are checked element by element). A bad
-- flag or value is reported in one line naming the option, the value and what
-- is valid, and the script exits with status 2 before anything is written.
--
-- The output folder (default out/NAME/PRESET) receives config.txt (every
-- resolved setting, key=value), run.txt (seed, git revision, machine, repro
-- version, command line) and the results. A folder that holds results of
-- another experiment, preset or configuration is never overwritten unless
-- --force. --resume continues the runs of the same configuration from their
-- checkpoints (exp:checkpoint_dir(run)); without it the checkpoints of an
-- earlier run in the folder are removed first.
--
-- exp:run(body) catches SIGINT/SIGTERM for the whole experiment: a training
-- loop finishes its step, writes its checkpoint and unwinds; the script says
-- where it stopped and the exact command that resumes it, and exits 130.
-- Other errors print one line (a traceback only with REPRO_DEBUG=1), exit 1.
local U = require "repro.util"
local I = require "repro.train.interrupt"
local signal = require("repro.core").signal

local E = {}

local BUILTIN = {
  preset = { kind = "string", help = "the preset to start from", meta = "NAME" },
  seed = { kind = "integer", min = 0, help = "random seed (default 1)", meta = "N" },
  out = { kind = "string", help = "output folder (default out/NAME/PRESET)", meta = "DIR", nonempty = true },
  resume = { kind = "flag", help = "continue from the checkpoints in --out: finished runs are skipped" },
  force = { kind = "flag", help = "write into a folder that holds another configuration" },
  dist = { kind = "flag", help = "data-parallel on the processes of mpirun -np N (detected without the flag; with it, "
    .. "a missing MPI or mpirun is an error; docs/dist.md)" },
  workers = { kind = "integer", min = 0, opt_in = "parts", meta = "N",
    help = "train the independent runs in N processes of one thread each (0, the default: one per thread "
      .. "REPRO_THREADS allows, i.e. per core; 1: in this process); the numbers are the same" },
  part = { kind = "string", opt_in = "parts", meta = "I/N",
    help = "train only the I-th of N shares of the runs and stop before the report (what --workers starts; "
      .. "shares may run on other machines: copy their folders in, then run without --part, with --resume)" },
  help = { kind = "flag", help = "this text" },
}
local BUILTIN_ORDER = { "preset", "seed", "out", "resume", "force", "dist", "workers", "part", "help" }
local RESERVED = { experiment = true, preset = true }
local RANGE_KEYS = { help = true, min = true, max = true, gt = true, lt = true, choices = true, list = true,
                     nonempty = true, meta = true }

local function kind_of(v)
  local t = type(v)
  if t == "number" then return math.type(v) == "integer" and "integer" or "number" end
  if t == "table" then return "list" end
  return t
end

-- Flattened field types over all presets: {["fp8.margin"] = "integer", ...};
-- lists also give their element kind.
local function field_types(spec)
  local types, elem = {}, {}
  for _, pname in ipairs(U.sorted_keys(spec.presets)) do
    for k, v in pairs(U.flatten(spec.presets[pname])) do
      local t = kind_of(v)
      -- an integer in one preset and a float in another: accept numbers
      if types[k] and types[k] ~= t then
        if (types[k] == "integer" and t == "number") or (types[k] == "number" and t == "integer") then t = "number"
        else error(string.format("experiment %s: field '%s' has different types in different presets", spec.name, k), 3) end
      end
      types[k] = t
      if t == "list" then
        for _, x in ipairs(v) do
          local et = kind_of(x)
          if et == "integer" and elem[k] == "number" then et = "number" end
          if elem[k] == "integer" and et == "number" then elem[k] = "number" end
          elem[k] = elem[k] or et
        end
      end
    end
  end
  return types, elem
end

-- "an integer >= 1", "a number > 0", "one of a, b", "a comma list of numbers > 0"
local function describe(opt, kind, elem)
  local function range(o)
    local r = {}
    if o.gt then r[#r + 1] = "> " .. U.shortest(o.gt) end
    if o.min then r[#r + 1] = ">= " .. U.shortest(o.min) end
    if o.lt then r[#r + 1] = "< " .. U.shortest(o.lt) end
    if o.max then r[#r + 1] = "<= " .. U.shortest(o.max) end
    return #r > 0 and (" " .. table.concat(r, " and ")) or ""
  end
  if opt.choices then
    local c = table.concat(opt.choices, ", ")
    if kind == "list" or opt.list then return "a comma list of " .. c end
    return "one of " .. c
  end
  if kind == "integer" then return "an integer" .. range(opt) end
  if kind == "number" then return "a number" .. range(opt) end
  if kind == "boolean" or kind == "flag" then return "true or false" end
  if kind == "list" then
    local what = elem == "integer" and "integers" or elem == "number" and "numbers" or "values"
    return "a comma list of " .. what .. range(opt)
  end
  if opt.nonempty then return "a non-empty string" end
  return "a string"
end

local function show(v)
  if type(v) == "table" then
    local p = {}
    for i, x in ipairs(v) do p[i] = type(x) == "number" and U.shortest(x) or tostring(x) end
    return table.concat(p, ",")
  end
  if type(v) == "number" then return U.shortest(v) end
  return tostring(v)
end

local function in_range(opt, x)
  if opt.gt and not (x > opt.gt) then return false end
  if opt.min and not (x >= opt.min) then return false end
  if opt.lt and not (x < opt.lt) then return false end
  if opt.max and not (x <= opt.max) then return false end
  return x == x
end

local function is_choice(opt, s)
  for _, c in ipairs(opt.choices) do if c == s then return true end end
  return false
end

-- Convert (from a string) and check one value; returns the value or raises
-- "NAME: invalid --KEY VALUE: expected ...".
local function check_value(what, key, kind, elem, opt, raw)
  local function bad(detail)
    error(string.format("%s: invalid --%s '%s'%s: expected %s", what, key, show(raw), detail and (" (" .. detail .. ")") or "",
      describe(opt, kind, elem)), 0)
  end
  local function scalar(k, s, o)
    if k == "integer" then
      local v = type(s) == "number" and s or (type(s) == "string" and s:match("^%s*[-+]?%d+%s*$") and tonumber(s))
      v = v and math.tointeger(v)
      if not v or not in_range(o, v) then return nil end
      return v
    elseif k == "number" then
      local v = type(s) == "number" and s or tonumber(s)
      if not v or not in_range(o, v) then return nil end
      return v
    elseif k == "boolean" or k == "flag" then
      if s == true or s == "true" or s == "1" or s == "yes" then return true end
      if s == false or s == "false" or s == "0" or s == "no" then return false end
      return nil
    end
    if type(s) ~= "string" then return nil end
    if o.nonempty and s == "" then return nil end
    if o.choices and not o.list and not is_choice(o, s) then return nil end
    return s
  end
  if kind == "list" then
    local items = raw
    if type(raw) == "string" then
      items = {}
      for item in (raw .. ","):gmatch("([^,]*),") do items[#items + 1] = item end
    end
    if #items == 0 or (#items == 1 and items[1] == "") then bad("empty list") end
    local out = {}
    for i, s in ipairs(items) do
      local ek = elem or "string"
      local v = scalar(ek, s, opt.choices and {} or opt)
      if v ~= nil and opt.choices and not is_choice(opt, v) then v = nil end
      if v == nil then bad(string.format("element %d '%s'", i, show(s))) end
      out[i] = v
    end
    return out
  end
  local v = scalar(kind, raw, opt)
  if v == nil then bad() end
  if kind == "string" and opt.list and opt.choices then
    local n = 0
    for item in (v .. ","):gmatch("([^,]*),") do
      n = n + 1
      if not is_choice(opt, item) then bad(string.format("element %d '%s'", n, item)) end
    end
  end
  return v
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
  if spec.options ~= nil and type(spec.options) ~= "table" then error("experiment.new: options must be a table", 3) end
  local types, elem = field_types(spec)
  for k, opt in pairs(spec.options or {}) do
    if not types[k] then error(string.format("experiment %s: option '%s' is in no preset", spec.name, k), 3) end
    for f in pairs(opt) do
      if not RANGE_KEYS[f] then error(string.format("experiment %s: option '%s': unknown field '%s'", spec.name, k, f), 3) end
    end
  end
  if spec.options then
    -- every field is declared, and every preset's value is valid
    for _, k in ipairs(U.sorted_keys(types)) do
      if not spec.options[k] then error(string.format("experiment %s: field '%s' has no entry in options", spec.name, k), 3) end
    end
    for _, p in ipairs(U.sorted_keys(spec.presets)) do
      for k, v in pairs(U.flatten(spec.presets[p])) do
        local ok, err = pcall(check_value, "experiment " .. spec.name .. " preset " .. p, k, types[k], elem[k], spec.options[k], v)
        if not ok then error(err, 3) end
      end
    end
  end
  return types, elem
end

-- A common flag this experiment accepts (opt-in flags only where the spec asks).
local function builtin(spec, key)
  local b = BUILTIN[key]
  if b and b.opt_in and not spec[b.opt_in] then return nil end
  return b
end

local function valid_flags(spec, types)
  local all = {}
  for k in pairs(BUILTIN) do if builtin(spec, k) then all[k] = true end end
  for k in pairs(types) do all[k] = true end
  local list = {}
  for _, k in ipairs(U.sorted_keys(all)) do list[#list + 1] = "--" .. k end
  return table.concat(list, ", ")
end

-- --help: what it reproduces, the presets with their time on 2 cores, one
-- line per option.
function E.usage(spec)
  local types, elem = check_spec(spec)
  local script = spec.script or ("experiments/" .. spec.name .. ".lua")
  local L = { string.format("usage: repro %s [--preset NAME] [--OPTION VALUE ...] [--out DIR] [--resume] [--force]", script) }
  local about = spec.about or spec.description
  if about then L[#L + 1] = ""; L[#L + 1] = about end
  L[#L + 1] = ""
  L[#L + 1] = "presets (time on 2 cores):"
  local pnames = U.sorted_keys(spec.presets)
  for _, p in ipairs(pnames) do
    L[#L + 1] = string.format("  %-22s %s", p .. (p == spec.default and " (default)" or ""),
      spec.times and spec.times[p] or "")
  end
  L[#L + 1] = ""
  L[#L + 1] = string.format("options (value in preset %s; other presets' values where they differ):", spec.default)
  local flat = {}
  for _, p in ipairs(pnames) do flat[p] = U.flatten(spec.presets[p]) end
  local width = 0
  for k in pairs(types) do width = math.max(width, #k + 2) end
  for _, k in ipairs(U.sorted_keys(types)) do
    local opt = (spec.options or {})[k] or {}
    local dv = flat[spec.default][k]
    local others = {}
    for _, p in ipairs(pnames) do
      local v = flat[p][k]
      if p ~= spec.default and v ~= nil and show(v) ~= show(dv) then others[#others + 1] = p .. " " .. show(v) end
    end
    L[#L + 1] = string.format("  %-" .. width .. "s %s; %s [%s%s]", "--" .. k, opt.help or "", describe(opt, types[k], elem[k]),
      dv == nil and "-" or show(dv), #others > 0 and ("; " .. table.concat(others, "; ")) or "")
  end
  L[#L + 1] = ""
  L[#L + 1] = "common flags:"
  for _, k in ipairs(BUILTIN_ORDER) do
    local b = builtin(spec, k)
    if types[k] or not b then goto continue end   -- a preset field of that name is listed above
    local help = b.help
    if k == "preset" then help = help .. ": " .. table.concat(pnames, ", ") .. " (default " .. spec.default .. ")" end
    L[#L + 1] = string.format("  %-" .. width .. "s %s", "--" .. k .. (b.meta and (" " .. b.meta) or ""), help)
    ::continue::
  end
  return table.concat(L, "\n") .. "\n"
end

-- Are two configurations the same, field by field (arrays compared by value),
-- apart from the keys listed in `ignore` (settings that change no result)?
local function differences(x, y, ignore)
  local a, b = U.flatten(x), U.flatten(y)
  for _, k in ipairs(ignore or {}) do a[k], b[k] = nil, nil end
  local diff = {}
  for _, k in ipairs(U.sorted_keys(a)) do
    if b[k] == nil or show(a[k]) ~= show(b[k]) then
      diff[#diff + 1] = k
    end
  end
  for _, k in ipairs(U.sorted_keys(b)) do if a[k] == nil then diff[#diff + 1] = k end end
  return diff
end

-- Parse args (a list of strings) against spec; raises a one-line error on a
-- bad flag or value. Returns {preset=, config=, seed=, steps=, pristine=,
-- changed=, out=, resume=, force=, help=}; pristine: the configuration is
-- exactly the preset's (no override changed a value), so the run may publish
-- figures into the source tree; changed: the fields that differ from it.
function E.parse(spec, args)
  local types, elem = check_spec(spec)
  local what = spec.name
  local flags, overrides = {}, {}
  local i = 1
  while i <= #args do
    local a = args[i]
    local key, val = a:match("^%-%-([%w_%.%-]+)=(.*)$")
    if not key then key = a:match("^%-%-([%w_%.%-]+)$") end
    if not key then
      error(string.format("%s: unexpected argument '%s' (flags start with --; valid: %s)", what, a, valid_flags(spec, types)), 0)
    end
    local b = builtin(spec, key)
    local kind = types[key] or (b and b.kind)
    if not kind then
      error(string.format("%s: unknown flag '--%s' (valid: %s)", what, key, valid_flags(spec, types)), 0)
    end
    if val == nil then
      if kind == "flag" or (kind == "boolean" and (args[i + 1] == nil or args[i + 1]:match("^%-%-"))) then
        val = true
      else
        val = args[i + 1]
        if val == nil or val:match("^%-%-") then error(string.format("%s: --%s needs a value: %s", what, key,
          describe(types[key] and (spec.options or {})[key] or b or {}, kind, elem[key])), 0) end
        i = i + 1
      end
    end
    if types[key] then
      overrides[#overrides + 1] = { key, check_value(what, key, kind, elem[key], (spec.options or {})[key] or {}, val) }
      if b then flags[key] = overrides[#overrides][2] end
    else
      flags[key] = check_value(what, key, kind, nil, b, val)
    end
    i = i + 1
  end
  local preset = flags.preset or spec.default
  if not spec.presets[preset] then
    error(string.format("%s: invalid --preset '%s': expected one of %s", what, preset,
      table.concat(U.sorted_keys(spec.presets), ", ")), 0)
  end
  local cfg = U.deepcopy(spec.presets[preset])
  for _, kv in ipairs(overrides) do set_dotted(cfg, kv[1], kv[2]) end
  cfg.seed = flags.seed or cfg.seed or 1
  for k in pairs(RESERVED) do
    if cfg[k] ~= nil then error(what .. ": '" .. k .. "' is a reserved name and cannot be a preset field", 0) end
  end
  if spec.check then
    local msg = spec.check(cfg)
    if msg then error(what .. ": " .. msg, 0) end
  end
  local part
  if flags.part then
    local i, n = flags.part:match("^(%d+)/(%d+)$")
    i, n = tonumber(i), tonumber(n)
    if not i or i < 1 or i > n then
      error(string.format("%s: invalid --part '%s': expected I/N with 1 <= I <= N (the I-th of N shares of the runs)",
        what, flags.part), 0)
    end
    if (flags.workers or 0) > 1 then error(what .. ": --part trains one share in this process: drop --workers", 0) end
    part = { i = i, n = n }
  end
  local base = U.deepcopy(spec.presets[preset])
  base.seed = base.seed or 1
  local changed = differences(cfg, base, spec.cosmetic)
  return {
    preset = preset, config = cfg, seed = cfg.seed, steps = cfg.steps,
    pristine = #changed == 0, changed = changed,
    out = flags.out or U.join("out", spec.name, preset),
    resume = flags.resume or false, force = flags.force or false, help = flags.help or false,
    dist = flags.dist or false, workers = flags.workers or 0, part = part,
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
  local sys = require("repro.core").sys
  for _, name in ipairs { "version", "get_threads", "blas_info" } do
    if type(sys[name]) == "function" then
      local ok, v = pcall(sys[name])
      if ok and v ~= nil then
        if type(v) == "table" then
          for k, x in pairs(v) do if type(x) ~= "table" then info[name .. "." .. tostring(k)] = x end end
        else info[name] = v end
      end
    end
  end
  return info
end

local Exp = {}
Exp.__index = Exp
Exp.__name = "repro.Experiment"
debug.getregistry()[Exp.__name] = Exp   -- found by repro.help, as C types are

-- Does the folder hold results we must not overwrite? Returns a reason or nil.
local function conflict(dir, name, preset, cfg, cosmetic)
  local ok, old = pcall(U.read_config, U.join(dir, "config.txt"))
  if not ok then return "its config.txt is unreadable" end
  if not old then return nil end
  if old.experiment ~= name then
    return string.format("it holds results of experiment '%s'", tostring(old.experiment))
  end
  if old.preset ~= preset then
    return string.format("it holds results of preset '%s'", tostring(old.preset))
  end
  local skip = {}
  for _, k in ipairs(cosmetic or {}) do skip[k] = true end
  local flat = U.flatten(cfg)
  for _, k in ipairs(U.sorted_keys(flat)) do
    if not skip[k] and show(flat[k]) ~= show(old[k]) then
      return string.format("it holds a run with %s=%s (now %s)", k, old[k] == nil and "(unset)" or show(old[k]), show(flat[k]))
    end
  end
  for _, k in ipairs(U.sorted_keys(old)) do
    if flat[k] == nil and not RESERVED[k] and not skip[k] then return "it holds a run with the extra setting " .. k end
  end
  return nil
end

-- A user error: one line on stderr, exit 2 (or raise when spec.exit == false).
local function usage_error(spec, msg, status)
  if spec.exit == false then error(msg, 0) end
  io.stderr:write(msg, "\n")
  os.exit(status or 2, true)
end

-- Create the experiment: parse and check the script's arguments (spec.args,
-- default the global arg), then prepare the output folder, write config.txt
-- and run.txt. Bad flags or values exit with status 2 (raise when
-- spec.exit == false) before anything is written. --help prints the usage and
-- exits 0 (returns nil when spec.exit == false).
function E.new(spec)
  local args = spec.args
  if not args then
    args = {}
    if type(arg) == "table" then for i = 1, #arg do args[i] = arg[i] end end
  end
  check_spec(spec)   -- a mistake of the script itself: raised as usual
  local ok, r = pcall(E.parse, spec, args)
  if not ok then usage_error(spec, tostring(r)) end
  if r.help then
    io.stdout:write(E.usage(spec))
    if spec.exit == false then return nil end
    os.exit(0, true)
  end
  local self = setmetatable({ name = spec.name, preset = r.preset, config = r.config, seed = r.seed,
                              steps = r.steps, pristine = r.pristine, changed = r.changed, out = r.out,
                              resume = r.resume, force = r.force, args = args, spec = spec,
                              workers = r.workers, part = r.part,
                              script = spec.script or ("experiments/" .. spec.name .. ".lua") }, Exp)
  -- several processes (repro.dist): rank 0 writes the output folder; every
  -- other rank runs the same script in a private copy (removed at its exit)
  local dist = require "repro.dist"
  if (r.dist or dist.size() > 1) and not spec.dist then
    usage_error(spec, string.format("%s does not run on several processes (data-parallel experiments: soap_lm; "
      .. "docs/dist.md); start it without mpirun and --dist", self.name), 2)
  end
  if r.dist then
    -- asked for processes: say what is missing rather than run one process
    if not dist.available() then
      usage_error(spec, self.name .. ": --dist: this repro was built without MPI: install the Debian packages "
        .. "libopenmpi-dev and openmpi-bin (./repro --with-mpi does) and rebuild", 1)
    end
    if not dist.launched() then
      usage_error(spec, string.format("%s: --dist: not started by mpirun; run: mpirun -np N repro %s %s",
        self.name, self.script, table.concat(args, " ")), 2)
    end
  end
  if self.part and (r.dist or dist.size() > 1) then
    usage_error(spec, self.name .. ": --part and several MPI processes do not mix: use one or the other", 2)
  end
  if dist.rank() > 0 then self.out_rank0, self.out = self.out, dist.private_path(self.out) end
  local reason = conflict(self.out, self.name, self.preset, self.config, spec.cosmetic)
  if reason and not self.force then
    usage_error(spec, string.format("%s: refusing to write into '%s': %s; use --out DIR for a new folder, "
      .. "or --force to overwrite", self.name, self.out, reason))
  end
  if U.exists(self.out) and not U.isdir(self.out) then
    usage_error(spec, string.format("%s: invalid --out '%s': it is a file, not a folder", self.name, self.out))
  end
  if not pcall(U.mkdir_p, self.out) then
    usage_error(spec, string.format("%s: cannot create the output folder '%s'", self.name, self.out), 1)
  end
  -- a share (--part) keeps the folder's other checkpoints: other shares may be writing them
  if (not self.resume or reason) and not self.part then U.run("rm -rf -- " .. U.shell_quote(self:path("checkpoint"))) end
  local stored = U.deepcopy(self.config)
  stored.experiment, stored.preset = self.name, self.preset
  -- shares (--part) start together: the first writer's config.txt is the same
  -- (conflict() compared it), and two writers would race on its temporary file
  if not (self.part and U.exists(U.join(self.out, "config.txt"))) then
    U.write_config(U.join(self.out, "config.txt"), stored)
  end
  local info = E.machine_info()
  info.seed = self.seed
  info.experiment, info.preset = self.name, self.preset
  info.command = table.concat(args, " ")
  info.resume = self.resume
  if dist.size() > 1 then info.processes = dist.size() end
  if self.part then info.part = string.format("%d/%d", self.part.i, self.part.n) end
  U.write_config(U.join(self.out, self.part and string.format("run.part%d-of-%d.txt", self.part.i, self.part.n)
    or "run.txt"), info)
  self.machine = info
  -- the plan of runs (exp:plan) and where the experiment is
  self.nruns, self.units_total, self.run_index = 0, 0, 0
  self.units_done, self.measured_units, self.measured_time = 0, 0, 0.0
  local hook = os.getenv("REPRO_SELF_SIGNAL")   -- "RUN:STEP": a test sends itself SIGINT there
  if hook and hook ~= "" then
    local ri, st = hook:match("^(%d+):(%d+)$")
    self.self_signal = ri and { run = tonumber(ri), step = tonumber(st) } or nil
  end
  return self
end

-- A path inside the output folder.
function Exp:path(...) return U.join(self.out, ...) end

-- The checkpoint folder of a run (of the whole experiment without a name).
function Exp:checkpoint_dir(run)
  if run then return self:path("checkpoint", run) end
  return self:path("checkpoint")
end

-- results.txt: key=value of the run's headline numbers.
function Exp:write_results(tbl)
  U.write_config(self:path("results.txt"), tbl)
end

-- Copy outputs into the source tree's folder `dest` (the preset's `publish`
-- option; "" publishes nothing), only when the configuration is the preset's.
-- names: paths inside the output folder; a name may end in a shell glob
-- ("figures/score_*", "*.tsv"); with o.existing only the names that exist are
-- copied (optional outputs). Folders are copied whole. Returns the source-tree
-- folder, false when the settings differ from the preset, nil for dest "".
function Exp:publish(dest, names, o)
  if dest == "" then return nil end
  if not self.pristine then return false end
  local dir = U.join(U.source_dir(), dest)
  U.mkdir_p(dir)
  local args = {}
  for _, n in ipairs(names) do
    local head, glob = n:match("^(.-)([^/]*[%*%?%[][^/]*)$")
    if glob then
      args[#args + 1] = U.shell_quote(head == "" and self.out or self:path(head:sub(1, -2))) .. "/" .. glob
    elseif not (o and o.existing) or U.exists(self:path(n)) then
      args[#args + 1] = U.shell_quote(self:path(n))
    end
  end
  U.run("cp -r -- " .. table.concat(args, " ") .. " " .. U.shell_quote(dir) .. "/")
  return dir
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

-- "preset fast" or "preset fast, changed: steps=50, lr=0.02": for figure
-- titles and summaries, naming every setting that differs from the preset.
function Exp:settings()
  if #self.changed == 0 then return "preset " .. self.preset end
  local flat, parts = U.flatten(self.config), {}
  for _, k in ipairs(self.changed) do parts[#parts + 1] = k .. "=" .. show(flat[k]) end
  return "preset " .. self.preset .. ", changed: " .. table.concat(parts, ", ")
end

-- ---- runs, progress and the whole experiment's ETA ----------------------------

-- Declare the work: n runs of `units` steps in all (an estimate is fine).
function Exp:plan(n, units)
  self.nruns, self.units_total = n, units
end

function Exp:_close_run()
  local c = self.current
  if not c then return end
  if c.last_step then
    self.measured_units = self.measured_units + (c.last_step - c.first_step)
    self.measured_time = self.measured_time + (c.t_last - c.t0)
  end
  self.units_done = self.units_done + c.units
  self.last_label = c.label
  self.current = nil
end

-- Start the next run of the plan; returns its progress context for
-- repro.train{progress = ...} / repro.train.progress: the label "run i/N
-- name" and the whole experiment's ETA.
function Exp:begin_run(name, units)
  self:_close_run()
  self:check_interrupt()
  self.run_index = self.run_index + 1
  if self.run_index > self.nruns then self.nruns = self.run_index end
  local c = { index = self.run_index, name = name, units = units or 0, t0 = U.now() }
  c.label = string.format("%srun %d/%d %s", self.label_prefix or "", c.index, self.nruns, name)
  c.on_step = function(step)
    if not c.first_step then c.first_step = step - 1 end
    c.last_step, c.t_last = step, U.now()
    local h = self.self_signal
    if h and h.run == c.index and h.step == step then signal.raise("SIGINT") end
  end
  c.eta = function(step, steps)
    local done = self.measured_units + (c.last_step and (c.last_step - c.first_step) or 0)
    if done <= 0 then return nil end
    local rate = (self.measured_time + (U.now() - c.t0)) / done
    local left_here = c.units * (steps - step) / math.max(1, steps)
    local later = math.max(0, self.units_total - self.units_done - c.units)
    return rate * (left_here + later)
  end
  self.current = c
  return c
end

-- A run found finished (--resume): counted, not timed.
function Exp:skip_run(name, units)
  self:_close_run()
  self.run_index = self.run_index + 1
  if self.run_index > self.nruns then self.nruns = self.run_index end
  self.units_done = self.units_done + (units or 0)
  if self.quiet_skip then return end
  io.stderr:write(string.format("%srun %d/%d %s: finished earlier, reused\n", self.label_prefix or "", self.run_index,
    self.nruns, name))
end

-- Between phases: stop here if a signal came (the runs so far are saved).
function Exp:check_interrupt(where)
  if I.pending() then
    I.enter_exit()
    I.stop{ where = where }
  end
end

function Exp:_report_interrupt(e)
  local c = self.current
  local msg = {}
  local place
  if c and e.step then
    place = string.format("in %s at step %d%s", c.label, e.step, e.steps and ("/" .. e.steps) or "")
  elseif c then place = "in " .. c.label
  elseif e.where then place = "during " .. e.where
  elseif self.last_label then place = "after " .. self.last_label .. " (finished)"
  else place = "before the first run" end
  msg[#msg + 1] = string.format("\n%s: stopped by %s %s", self.name, e.signal or "a signal", place)
  if e.checkpoint then msg[#msg + 1] = string.format("%s: checkpoint written to %s", self.name, e.checkpoint) end
  msg[#msg + 1] = string.format("%s: finished runs and checkpoints are kept in %s%s", self.name, self.out,
    c and "; nothing was recorded for the stopped run" or "")
  msg[#msg + 1] = string.format("%s: resume with: %s", self.name, I.resume_command(self.args) or "the same command with --resume")
  io.stderr:write(table.concat(msg, "\n"), "\n")
end

-- Run the experiment's body(exp) with SIGINT/SIGTERM caught: returns what
-- body returns. Interrupted: message and exit 130. Another error: one line
-- (a traceback with REPRO_DEBUG=1) and exit 1. With spec.exit == false both
-- are raised instead.
function Exp:run(body)
  I.begin()
  I.set_owner(self.name)
  local debug_on = os.getenv("REPRO_DEBUG") == "1"
  local r = table.pack(xpcall(body, function(e)
    if debug_on and not I.is(e) then return debug.traceback(tostring(e), 2) end
    return e
  end, self))
  I.set_owner(nil)
  if r[1] then
    self:_close_run()
    I.finish()
    return table.unpack(r, 2, r.n)
  end
  local e = r[2]
  if I.is(e) then
    I.enter_exit()
    if self.spec.exit == false then self.current = nil; error(e, 0) end
    self:_report_interrupt(e)
    io.stderr:flush()
    os.exit(130)
  end
  I.finish()
  if self.spec.exit == false then error(e, 0) end
  local s = tostring(e)
  if not debug_on and s:find("%.lua:%d+:") then s = s .. "\n(REPRO_DEBUG=1 shows where it happened)" end
  io.stderr:write(s:find("^" .. self.name .. ":") and "" or (self.name .. ": "), s, "\n")
  os.exit(1)
end

function Exp:__tostring()
  return string.format("experiment %s (%s, seed %d) -> %s", self.name, self:settings(), self.seed, self.out)
end

require("repro.experiment_parts")(Exp)

return E
