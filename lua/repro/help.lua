-- repro.help: docstrings for every public function of the kit, and help().
--
--   help(T.randn)       help "tensor.randn"      help "randn"      help(nn)
--
-- Docstrings live in lua/repro/doc/*.lua. Each file returns a table mapping a
-- name as reached from `require "repro"` to a string whose first line is the
-- signature and the rest one paragraph of description:
--   ["tensor.randn"] = "T.randn(shape [, {dtype =, requires_grad =, generator =}])\nNormal ..."
-- Names: "module.fn" for functions of module tables ("tensor.randn",
-- "optim.schedule.constant", "manual_seed"), "Class:method" for methods of a
-- type, the class named by its metatable's __name without the "repro."
-- prefix ("Tensor:matmul", "Generator:get_state", "fp8.Quantized:codes",
-- "nn.Llama:loss", "Optimizer:step").
--
-- Every file of the folder is loaded: the folder is listed (core io.listdir),
-- so a new file needs no registration anywhere. Types are found in the Lua
-- registry under their __name (luaL_newmetatable puts C types there; Lua
-- classes register themselves the same way), so the walk over the exported
-- functions (M.exported) reaches every module table and every method table.
-- A function reachable under several names (T.exp is Tensor:exp) needs one
-- docstring under any of them: functions are matched by identity.
local M = {}

local cio = require("repro.core").io

-- ---- the docstring files ------------------------------------------------------

-- The doc folder: beside this file.
function M.doc_dir()
  local here = package.searchpath("repro.help", package.path)
  if not here then error("help: cannot find repro/help.lua on package.path", 2) end
  return (here:gsub("[^/]*$", "")) .. "doc"
end

local cache

-- Load every lua/repro/doc/*.lua (or every *.lua of dir): returns docs
-- {name = text}, files {list of file names loaded}, origin {name = file}.
-- Raises naming the file on a file that does not load, does not return a
-- table of strings, has an entry without a signature line and a
-- description, or repeats a name another file documents. The default folder
-- is read once (force = true reads it again).
function M.load(force, dir)
  if cache and not force and not dir then return cache.docs, cache.files, cache.origin end
  local default = dir == nil
  dir = dir or M.doc_dir()
  local names, err = cio.listdir(dir)
  if not names then error("help: " .. err, 2) end
  local docs, files, origin = {}, {}, {}
  for _, f in ipairs(names) do
    if f:match("%.lua$") then
      local path = dir .. "/" .. f
      local chunk, lerr = loadfile(path, "t", {})
      if not chunk then error("help: " .. lerr, 2) end
      local ok, t = pcall(chunk)
      if not ok then error("help: " .. path .. ": " .. tostring(t), 2) end
      if type(t) ~= "table" then error("help: " .. path .. " must return a table, got " .. type(t), 2) end
      for k, v in pairs(t) do
        if type(k) ~= "string" or type(v) ~= "string" then
          error(string.format("help: %s: entries must map names to strings, got [%s] = %s", path, tostring(k),
            type(v)), 2)
        end
        if origin[k] then
          error(string.format("help: '%s' is documented in both %s and %s", k, origin[k], f), 2)
        end
        if not v:match("^[^\n]+\n%S") then
          error(string.format("help: %s: '%s' needs a signature line, then a description", f, k), 2)
        end
        docs[k], origin[k] = v, f
      end
      files[#files + 1] = f
    end
  end
  if default then cache = { docs = docs, files = files, origin = origin } end
  return docs, files, origin
end

-- ---- the exported surface ---------------------------------------------------------

local function registry_classes()
  local reg, out = debug.getregistry(), {}
  for k, v in pairs(reg) do
    if type(k) == "string" and type(v) == "table" and k:match("^repro%.") and not k:match("%.methods$")
       and rawget(v, "__name") == k then
      out[#out + 1] = k
    end
  end
  table.sort(out)
  return out
end

-- The table holding a type's methods: __index when it is a table, else the
-- `methods` field, else the registry's "<__name>.methods" (the tensor's).
local function method_table(mt)
  local idx = rawget(mt, "__index")
  if type(idx) == "table" then return idx end
  if type(rawget(mt, "methods")) == "table" then return rawget(mt, "methods") end
  local name = rawget(mt, "__name")
  local m = name and debug.getregistry()[name .. ".methods"]
  if type(m) == "table" then return m end
  return nil
end

local function sorted_string_keys(t)
  local ks = {}
  for k in pairs(t) do if type(k) == "string" then ks[#ks + 1] = k end end
  table.sort(ks)
  return ks
end

-- Walk the kit: returns a list of {name =, value =} for every public
-- function (sorted by name), with names "a.b" for module fields and "C:m" for
-- methods (own methods of each class, not inherited ones), and a map from
-- each table module to its dotted name.
function M.exported()
  local repro = require "repro"
  local list, modules, seen = {}, {}, {}
  local function walk(t, prefix, depth)
    if seen[t] or depth > 6 then return end
    seen[t] = true
    modules[t] = prefix == "" and "repro" or prefix:sub(1, -2)
    for _, k in ipairs(sorted_string_keys(t)) do
      if k:sub(1, 1) ~= "_" and not (t == repro and k == "core") then
        local v = rawget(t, k)
        if type(v) == "function" then list[#list + 1] = { name = prefix .. k, value = v }
        elseif type(v) == "table" then
          -- a type registered under its __name is walked below, as a type
          local tn = rawget(v, "__name")
          if not (type(tn) == "string" and debug.getregistry()[tn] == v) then walk(v, prefix .. k .. ".", depth + 1) end
        end
      end
    end
  end
  walk(repro, "", 0)
  for _, cname in ipairs(registry_classes()) do
    local mt = debug.getregistry()[cname]
    local short = cname:sub(#"repro." + 1)
    local methods = method_table(mt)
    if methods then
      modules[methods] = modules[methods] or short
      for _, k in ipairs(sorted_string_keys(methods)) do
        local v = rawget(methods, k)
        if type(v) == "function" and k:sub(1, 1) ~= "_" then list[#list + 1] = { name = short .. ":" .. k, value = v } end
      end
    end
  end
  table.sort(list, function(a, b) return a.name < b.name end)
  return list, modules
end

-- function -> list of its names (in the order of list).
local function names_by_value(list)
  local by = {}
  for _, e in ipairs(list) do
    by[e.value] = by[e.value] or {}
    table.insert(by[e.value], e.name)
  end
  return by
end

-- ---- name resolution ------------------------------------------------------------------

-- The value a documented name stands for, or nil. "a.b.c" walks module
-- tables from repro; "X:m" looks m up in type X (a registry class
-- "repro.X", else the value X resolves to), through __index chains.
function M.resolve(name)
  if type(name) ~= "string" or name == "" then return nil end
  local repro = require "repro"
  local cls, method = name:match("^(.-):([%w_]+)$")
  if cls then
    local reg = debug.getregistry()["repro." .. cls]
    local t = type(reg) == "table" and reg or M.resolve(cls)
    local guard = 0
    while type(t) == "table" and guard < 20 do
      local mtab = method_table(t) or t
      local v = rawget(mtab, method) or rawget(t, method)
      if v ~= nil then return v end
      local parent = getmetatable(t)
      t = parent and rawget(parent, "__index")
      guard = guard + 1
    end
    return nil
  end
  local v = repro
  for part in name:gmatch("[^.]+") do
    if type(v) ~= "table" then return nil end
    v = rawget(v, part)
    if v == nil then return nil end
  end
  return v
end

-- ---- help ---------------------------------------------------------------------------------

local function first_line(s) return (s:match("^[^\n]*")) end

local function wrap(text, width)
  local out = {}
  for para in (text .. "\n"):gmatch("(.-)\n") do
    local line = ""
    for word in para:gmatch("%S+") do
      if #line > 0 and #line + 1 + #word > width then out[#out + 1] = line; line = word
      else line = #line > 0 and (line .. " " .. word) or word end
    end
    out[#out + 1] = line
  end
  return table.concat(out, "\n")
end

local function format_doc(name, text, also)
  local sig, body = text:match("^([^\n]*)\n(.*)$")
  local text = wrap((body:gsub("%s+", " ")), 76)
  local s = sig .. "\n  " .. text:gsub("\n", "\n  ")
  if also and #also > 0 then s = s .. "\n  (also: " .. table.concat(also, ", ") .. ")" end
  -- a constructor whose name is also a type's (nn.Llama): name its methods
  local mt = name and debug.getregistry()["repro." .. name]
  local methods = type(mt) == "table" and method_table(mt)
  if methods then
    local ms = {}
    for _, k in ipairs(sorted_string_keys(methods)) do
      if type(rawget(methods, k)) == "function" and k:sub(1, 1) ~= "_" then ms[#ms + 1] = k end
    end
    if #ms > 0 then
      local w = wrap("methods: " .. table.concat(ms, ", ") .. " (help \"" .. name .. ":NAME\")", 74)
      s = s .. "\n  " .. w:gsub("\n", "\n    ")
    end
  end
  if name then s = s .. "\n  [" .. name .. "]" end
  return s
end

-- The docstring of function f: name, text, other names; or nil.
local function doc_of_value(f, docs, list)
  local names = names_by_value(list)[f]
  if not names then return nil end
  table.sort(names, function(a, b)
    local ca, cb = a:find(":") ~= nil, b:find(":") ~= nil
    if ca ~= cb then return ca end
    return a < b
  end)
  for _, n in ipairs(names) do
    if docs[n] then
      local also = {}
      for _, o in ipairs(names) do if o ~= n then also[#also + 1] = o end end
      return n, docs[n], also
    end
  end
  return names[1], nil, names
end

-- A listing of the documented functions of a module or type `prefix`
-- ("nn", "Tensor", "repro"): one line per function, its signature.
local function listing(prefix, docs, list, title)
  local lines, seen = { title }, {}
  local pat = prefix == "repro" and "^[%w_]+$" or ("^" .. prefix:gsub("%p", "%%%0") .. "[.:][%w_]+$")
  for _, e in ipairs(list) do
    if e.name:match(pat) and not seen[e.value] then
      seen[e.value] = true
      local _, text = doc_of_value(e.value, docs, list)
      lines[#lines + 1] = "  " .. (text and first_line(text) or (e.name .. "  (undocumented)"))
    end
  end
  -- submodules
  local subs = {}
  for _, e in ipairs(list) do
    local rest = prefix == "repro" and e.name or e.name:sub(#prefix + 2)
    if prefix == "repro" or e.name:sub(1, #prefix + 1) == prefix .. "." then
      local sub = rest:match("^([%w_]+)%.")
      if sub then subs[sub] = true end
    end
  end
  local sl = sorted_string_keys(subs)
  if #sl > 0 then
    local full = {}
    for i, n in ipairs(sl) do full[i] = prefix == "repro" and n or (prefix .. "." .. n) end
    lines[#lines + 1] = "modules: " .. table.concat(full, ", ") .. "   (help \"" .. full[1] .. "\" lists one)"
  end
  return table.concat(lines, "\n")
end

local function class_of(v)
  local mt = getmetatable(v)
  local n = type(mt) == "table" and rawget(mt, "__name")
  if type(n) == "string" and n:match("^repro%.") then return n:sub(#"repro." + 1) end
  return nil
end

local OVERVIEW = [[
help(f) or help "name" shows a function's signature and description:
  help(T.randn)   help "tensor.randn"   help "randn"   help "Tensor:matmul"
help(module) lists a module: help(nn), help "optim", help "Tensor" (methods)
Modules: tensor (T), nn, optim, fp8, plot, data, tokenizer, train, checkpoint,
linalg, util, experiment; types: Tensor, Generator, Optimizer, nn.Module ...
Values print readably in the REPL (repro.repr); docs/repl.md has more.]]

-- The help text for x (a function, a name, a module, an object), or nil and
-- a message when nothing matches.
function M.text(x)
  local docs = M.load()
  local list, modules = M.exported()
  if x == nil then return OVERVIEW end
  if type(x) == "string" then
    if docs[x] then
      local v = M.resolve(x)
      local also = {}
      if type(v) == "function" then
        for _, n in ipairs(names_by_value(list)[v] or {}) do if n ~= x then also[#also + 1] = n end end
        table.sort(also)
      end
      return format_doc(x, docs[x], also)
    end
    local v = M.resolve(x) or (x == "repro" and require "repro")
    if v ~= nil and (type(v) == "function" or type(v) == "table") then return M.text(v) end
    if debug.getregistry()["repro." .. x] then
      return listing(x, docs, list, "type " .. x .. " (methods):")
    end
    -- a bare function name: match the last component
    local hits = {}
    for _, n in ipairs(sorted_string_keys(docs)) do
      local last = n:match("[.:]([%w_]+)$") or n
      if last == x then hits[#hits + 1] = n end
    end
    if #hits == 1 then return M.text(hits[1]) end
    if #hits > 1 then
      local lines = { "'" .. x .. "' names several functions:" }
      for _, n in ipairs(hits) do lines[#lines + 1] = "  " .. first_line(docs[n]) .. "   [" .. n .. "]" end
      return table.concat(lines, "\n")
    end
    return nil, "help: nothing is documented under '" .. x .. "' (try help() or help \"tensor\")"
  end
  if type(x) == "function" then
    local name, text, also = doc_of_value(x, docs, list)
    if text then return format_doc(name, text, also) end
    if name then return nil, "help: " .. name .. " has no docstring (add one in lua/repro/doc/)" end
    return nil, "help: this function is not part of the repro API (no docstring found by identity)"
  end
  if type(x) == "table" and modules[x] then
    local name = modules[x]
    return listing(name, docs, list, (name == "repro" and "repro" or name) .. ":")
  end
  local cls = class_of(x)
  if cls then return listing(cls, docs, list, "type " .. cls .. " (methods; help \"" .. cls .. ":NAME\"):") end
  return nil, "help: no help for a " .. type(x) .. " value (give a function, a name or a module)"
end

-- help(x): print the help text; an unknown name prints why, without raising.
function M.help(x)
  local s, err = M.text(x)
  io.write((s or err), "\n")
end

-- ---- checking -----------------------------------------------------------------------------

-- Coverage: returns missing (names of exported functions with no docstring
-- under any of their names, one name per function) and stale (documented
-- names that resolve to nothing). Both lists are sorted. dir: another doc
-- folder to check (tests), default lua/repro/doc.
function M.check(dir)
  local docs = M.load(true, dir)
  local list = M.exported()
  local by = names_by_value(list)
  local missing, done = {}, {}
  for _, e in ipairs(list) do
    if not done[e.value] then
      done[e.value] = true
      local ok = false
      for _, n in ipairs(by[e.value]) do if docs[n] then ok = true break end end
      if not ok then missing[#missing + 1] = e.name end
    end
  end
  local stale = {}
  for _, n in ipairs(sorted_string_keys(docs)) do
    if M.resolve(n) == nil then stale[#stale + 1] = n end
  end
  table.sort(missing)
  return missing, stale
end

return M
