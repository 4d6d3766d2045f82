-- repro.util: small helpers shared by the Lua-side library: shell quoting,
-- paths, mkdir -p, whole-file and atomic writes, key=value config files, TSV,
-- wall-clock timers. Returns a table; sets no globals.
local U = {}

-- Single-quote a string for /bin/sh: the only character that needs care
-- inside single quotes is the single quote itself.
function U.shell_quote(s)
  s = tostring(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

-- Run a shell command; true when it exited with status 0.
function U.run(cmd)
  local ok, how, code = os.execute(cmd)
  return ok == true and how == "exit" and code == 0
end

-- Join path pieces with single slashes ("a/", "b" -> "a/b"); empty pieces are skipped.
function U.join(...)
  local out
  for i = 1, select("#", ...) do
    local p = tostring((select(i, ...)))
    if p ~= "" then
      if not out then out = p
      elseif p:sub(1, 1) == "/" then out = p
      else out = out:gsub("/+$", "") .. "/" .. p end
    end
  end
  return out or ""
end

function U.dirname(p)
  local d = p:match("^(.*)/[^/]*$")
  if d == nil then return "." end
  if d == "" then return "/" end
  return d
end

function U.basename(p) return (p:match("([^/]*)/*$")) end

function U.exists(p)
  local f = io.open(p, "rb")
  if f then f:close() return true end
  -- a directory cannot always be opened for reading; ask the shell
  return U.run("test -e " .. U.shell_quote(p))
end

function U.isdir(p) return U.run("test -d " .. U.shell_quote(p)) end

-- mkdir -p; raises an error naming the path on failure.
function U.mkdir_p(p)
  if p == "" or p == "." then return true end
  if not U.run("mkdir -p -- " .. U.shell_quote(p)) then
    error("mkdir_p: cannot create directory '" .. p .. "'", 2)
  end
  return true
end

function U.read_file(p)
  local f, err = io.open(p, "rb")
  if not f then return nil, err end
  local s = f:read("a")
  f:close()
  return s
end

-- Write via a temporary name in the same folder, then rename: readers (and a
-- crash midway) see either the old file or the whole new one.
function U.write_file_atomic(p, s)
  local tmp = p .. ".tmp"
  local f, err = io.open(tmp, "wb")
  if not f then error("write_file: cannot open '" .. tmp .. "': " .. tostring(err), 2) end
  local ok, werr = f:write(s)
  -- stdio buffers: a full disk may only show when close() flushes
  local cok, cerr = f:close()
  if not (ok and cok) then
    os.remove(tmp)
    error("write_file: cannot write '" .. p .. "': " .. tostring(werr or cerr), 2)
  end
  local rok, rerr = os.rename(tmp, p)
  if not rok then os.remove(tmp) error("write_file: cannot rename to '" .. p .. "': " .. tostring(rerr), 2) end
end

function U.write_file(p, s) U.write_file_atomic(p, s) end

-- ---- key=value configs -------------------------------------------------
-- Nested tables are flattened with dotted keys ("fp8.margin=0"); array
-- tables become comma lists in brackets. Lines are sorted by key so the same
-- settings always produce the same bytes.

local function escape(s)
  return (s:gsub("\\", "\\\\"):gsub("\n", "\\n"):gsub("\t", "\\t"):gsub("\r", "\\r"))
end

local function unescape(s)
  return (s:gsub("\\(.)", { n = "\n", t = "\t", r = "\r", ["\\"] = "\\" }))
end

-- The shortest of %.15g, %.16g, %.17g that reads back as exactly v
-- (0.9, not 0.90000000000000002); integers as integers.
function U.shortest(v)
  if math.type(v) == "integer" then return string.format("%d", v) end
  if v ~= v then return "nan" end
  if v == math.huge then return "inf" elseif v == -math.huge then return "-inf" end
  for _, f in ipairs { "%.15g", "%.16g" } do
    local s = string.format(f, v)
    if tonumber(s) == v then return s end
  end
  return string.format("%.17g", v)
end

local function format_value(v)
  local t = type(v)
  if t == "number" then
    return U.shortest(v)
  elseif t == "boolean" then return tostring(v)
  elseif t == "string" then return escape(v)
  end
  error("config: cannot store a value of type " .. t)
end

local function is_array(t)
  local n = #t
  if n == 0 then return next(t) == nil end
  for k in pairs(t) do
    if math.type(k) ~= "integer" or k < 1 or k > n then return false end
  end
  return true
end

-- Flatten nested tables into {["a.b"] = value}.
function U.flatten(tbl, prefix, out)
  out = out or {}
  for k, v in pairs(tbl) do
    local key = prefix and (prefix .. "." .. tostring(k)) or tostring(k)
    if type(v) == "table" and not is_array(v) then U.flatten(v, key, out)
    else out[key] = v end
  end
  return out
end

function U.sorted_keys(t)
  local ks = {}
  for k in pairs(t) do ks[#ks + 1] = k end
  table.sort(ks, function(a, b) return tostring(a) < tostring(b) end)
  return ks
end

function U.config_string(tbl)
  local flat = U.flatten(tbl)
  local lines = {}
  for _, k in ipairs(U.sorted_keys(flat)) do
    local v = flat[k]
    if type(v) == "table" then
      local parts = {}
      for i = 1, #v do parts[i] = format_value(v[i]):gsub(",", "\\,") end
      v = "[" .. table.concat(parts, ",") .. "]"
    elseif type(v) ~= "function" then
      v = format_value(v)
    else
      v = nil
    end
    if v then lines[#lines + 1] = k .. "=" .. v end
  end
  return table.concat(lines, "\n") .. "\n"
end

function U.write_config(p, tbl) U.write_file_atomic(p, U.config_string(tbl)) end

local function parse_scalar(s)
  if s == "true" then return true elseif s == "false" then return false end
  if s == "nan" then return 0 / 0 elseif s == "inf" then return math.huge elseif s == "-inf" then return -math.huge end
  local n = math.tointeger(tonumber(s))
  if n and s:match("^%-?%d+$") then return n end
  local f = tonumber(s)
  if f and s:match("^[%d%.%-+eE]+$") then return f end
  return unescape(s)
end

-- Read a key=value file into a flat table (dotted keys stay dotted).
function U.read_config(p)
  local s, err = U.read_file(p)
  if not s then return nil, err end
  local out = {}
  local n = 0
  for line in s:gmatch("[^\n]*") do
    n = n + 1
    if line ~= "" and not line:match("^%s*#") then
      local k, v = line:match("^([^=]+)=(.*)$")
      if not k then error(string.format("read_config: %s:%d: expected key=value, got %q", p, n, line)) end
      if v:match("^%[.*%]$") then
        local arr = {}
        for item in v:sub(2, -2):gmatch("[^,]+") do arr[#arr + 1] = parse_scalar(item) end
        out[k] = arr
      else
        out[k] = parse_scalar(v)
      end
    end
  end
  return out
end

-- ---- TSV ----------------------------------------------------------------

function U.tsv_number(v)
  if type(v) ~= "number" then return tostring(v) end
  if math.type(v) == "integer" then return string.format("%d", v) end
  if v ~= v then return "NaN" end
  if v == math.huge then return "Inf" elseif v == -math.huge then return "-Inf" end
  return string.format("%.9g", v)
end

-- Read a TSV with a header line into {columns = {...}, rows = {{...}, ...}};
-- numeric cells become numbers.
function U.read_tsv(p)
  local s, err = U.read_file(p)
  if not s then return nil, err end
  local cols, rows = nil, {}
  for line in s:gmatch("[^\n]+") do
    if not line:match("^#") then
      local cells = {}
      for c in (line .. "\t"):gmatch("([^\t]*)\t") do cells[#cells + 1] = c end
      if not cols then cols = cells
      else
        for i, c in ipairs(cells) do
          local lc = c:lower()
          if lc == "nan" then cells[i] = 0 / 0
          elseif lc == "inf" then cells[i] = math.huge
          elseif lc == "-inf" then cells[i] = -math.huge
          else cells[i] = tonumber(c) or c end
        end
        rows[#rows + 1] = cells
      end
    end
  end
  return { columns = cols or {}, rows = rows }
end

-- ---- time -----------------------------------------------------------------
-- Wall-clock seconds from the core's monotonic clock. (os.clock() is CPU time
-- summed over threads: wrong for timing multi-threaded work.)
U.now = require("repro.core").sys.wtime
U.wall_now = U.now

-- A timer: t = U.timer(); ...; t:elapsed() -> seconds.
function U.timer()
  local t0 = U.now()
  return {
    elapsed = function() return U.now() - t0 end,
    reset = function(self) t0 = U.now() return self end,
  }
end

-- Is file descriptor 2 a terminal? (asked once; the shell inherits our stderr)
local stderr_tty
function U.stderr_is_tty()
  if stderr_tty == nil then
    local env = os.getenv("REPRO_PROGRESS")
    if env == "tty" then stderr_tty = true
    elseif env == "lines" then stderr_tty = false
    else stderr_tty = U.run("test -t 2") end
  end
  return stderr_tty
end

function U.format_duration(s)
  if s ~= s or s == math.huge then return "?" end
  s = math.floor(s + 0.5)
  if s >= 3600 then return string.format("%dh%02dm", s // 3600, (s % 3600) // 60) end
  if s >= 60 then return string.format("%dm%02ds", s // 60, s % 60) end
  return string.format("%ds", s)
end

-- Plain data (numbers, strings, booleans, tables of them) as the text of a
-- Lua chunk that reads back to the same values: floats in hexadecimal (%a),
-- integers as integers, NaN with its sign, infinities. For results that a
-- resumed run must find bit for bit as they were.
local function exact_encode(v, out, who)
  local t = type(v)
  if t == "number" then
    if math.type(v) == "integer" then out[#out + 1] = string.format("%d", v)
    elseif v ~= v then out[#out + 1] = string.format("%a", v):sub(1, 1) == "-" and "(0/0)" or "(-(0/0))"
    elseif v == math.huge then out[#out + 1] = "(1/0)"
    elseif v == -math.huge then out[#out + 1] = "(-1/0)"
    else out[#out + 1] = string.format("%a", v) end
  elseif t == "string" then out[#out + 1] = string.format("%q", v)
  elseif t == "boolean" then out[#out + 1] = tostring(v)
  elseif t == "table" then
    out[#out + 1] = "{"
    for k, x in pairs(v) do
      out[#out + 1] = "["; exact_encode(k, out, who); out[#out + 1] = "]="; exact_encode(x, out, who)
      out[#out + 1] = ","
    end
    out[#out + 1] = "}"
  else
    error((who or "util.write_exact") .. ": cannot save a " .. t, 3)
  end
end

-- Writes v to path (atomically) as such a chunk.
function U.write_exact(path, v, who)
  local out = { "return " }
  exact_encode(v, out, who)
  U.write_file_atomic(path, table.concat(out) .. "\n")
end

-- The value a file of U.write_exact holds, or nil and a message when it is
-- missing or unreadable. The chunk runs with an empty environment.
function U.read_exact(path)
  if not U.exists(path) then return nil, path .. ": no such file" end
  local chunk, err = load(U.read_file(path), "=" .. path, "t", {})
  if not chunk then return nil, err end
  local ok, v = pcall(chunk)
  if not ok then return nil, v end
  return v
end

-- Deep copy of plain tables.
-- Per-row cosine of two {F, D} matrices (tensors or nested tables): row i of
-- a against row i of b; a zero row gives 0. The one cosine of the kit: the
-- SwiGLU W1/W2 alignment (nn) and the FP8 experiments' statistics (fp8exp)
-- both call it. Plain Lua in doubles over totable() so tests can check it by
-- hand. who names the caller in errors.
function U.row_cosines(a, b, who)
  who = who or "util.row_cosines"
  a = type(a) == "table" and a or a:totable()
  b = type(b) == "table" and b or b:totable()
  if #a ~= #b then error(string.format("%s: %d rows against %d rows", who, #a, #b), 2) end
  local out = {}
  for i = 1, #a do
    local ai, bi = a[i], b[i]
    if #ai ~= #bi then error(string.format("%s: row %d has %d and %d entries", who, i, #ai, #bi), 2) end
    local d, na, nb = 0.0, 0.0, 0.0
    for j = 1, #ai do d = d + ai[j] * bi[j]; na = na + ai[j] * ai[j]; nb = nb + bi[j] * bi[j] end
    out[i] = (na > 0 and nb > 0) and d / math.sqrt(na * nb) or 0.0
  end
  return out
end

-- Mean and sample standard deviation (n - 1) of a list: sd 0 for one value,
-- NaN and NaN for none; non-finite values make both NaN. The spread over
-- seeds that the experiments report as mean ± sd.
function U.mean_sd(v)
  local n, s = #v, 0.0
  if n == 0 then return 0 / 0, 0 / 0 end
  for _, x in ipairs(v) do s = s + x end
  local m = s / n
  if m ~= m or m == math.huge or m == -math.huge then return 0 / 0, 0 / 0 end
  if n == 1 then return m, 0.0 end
  local q = 0.0
  for _, x in ipairs(v) do q = q + (x - m) * (x - m) end
  return m, math.sqrt(q / (n - 1))
end

function U.deepcopy(v)
  if type(v) ~= "table" then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = U.deepcopy(x) end
  return out
end

-- The folder holding the kit's data/ and experiments/ (in a source tree also
-- figures/ and bench/): REPRO_SOURCE_DIR if set, else found from where this
-- file was loaded, so every layout works from any working directory:
--   SRC/lua/repro/util.lua                  -> SRC                 (a source tree)
--   TREE/share/lua/5.4/repro/util.lua       -> that folder's repro/share
--                                              (LuaRocks: the data ride in the module folder)
--   PREFIX/share/lua/5.4/repro/util.lua     -> PREFIX/share/repro  (cmake --install)
local function openable(p)   -- files and (on Linux) folders; no shell
  local f = io.open(p, "r")
  if f then f:close() return true end
  return false
end

function U.source_dir()
  local env = os.getenv("REPRO_SOURCE_DIR")
  if env and env ~= "" then return env end
  local src = debug.getinfo(1, "S").source
  local file = src:match("^@(.*)$")
  if not file then return "." end
  local moddir = file:match("^(.*)/util%.lua$") or (file == "util.lua" and ".") or "."
  local root = moddir:match("^(.*)/lua/repro$") or (moddir == "lua/repro" and ".")
  if root and openable(root .. "/data") then return root end
  if openable(moddir .. "/share/data") then return moddir .. "/share" end
  local prefix = moddir:match("^(.*)/share/lua/[^/]+/repro$")
  if prefix and openable(prefix .. "/share/repro/data") then return prefix .. "/share/repro" end
  return root or "."
end

return U
