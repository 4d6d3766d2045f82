-- tests/lua/assert.lua: the assertion library of the Lua tests.
-- Every failure raises an error "file:line: what: expected X, actual Y", so
-- the test script exits 1 and ctest reports it.
local A = {}

local function where(level)
  local info = debug.getinfo(level + 1, "Sl")
  return string.format("%s:%d", info.short_src, info.currentline)
end

local function fail(msg, level)
  error(where((level or 1) + 2) .. ": " .. msg, 0)
end

function A.truthy(v, what)
  if not v then fail((what or "value") .. ": expected a true value, actual " .. tostring(v)) end
end

function A.eq(expected, actual, what)
  if expected ~= actual then
    fail(string.format("%s: expected %s, actual %s", what or "value", tostring(expected), tostring(actual)))
  end
end

function A.near(expected, actual, tol, what)
  tol = tol or 1e-6
  if not (math.abs(expected - actual) <= tol) then
    fail(string.format("%s: expected %.9g, actual %.9g (tol %g)", what or "value", expected, actual, tol))
  end
end

-- Deep equality of nested tables of numbers, with a tolerance.
function A.allclose(expected, actual, tol, what)
  tol = tol or 1e-6
  local function walk(e, a, path)
    if type(e) == "table" then
      if type(a) ~= "table" or #e ~= #a then
        fail(string.format("%s%s: expected a table of %d entries, actual %s", what or "value", path, #e,
          type(a) == "table" and (#a .. " entries") or tostring(a)), 3)
      end
      for i = 1, #e do walk(e[i], a[i], path .. "[" .. i .. "]") end
    elseif not (math.abs(e - a) <= tol or (e ~= e and a ~= a)) then
      fail(string.format("%s%s: expected %.9g, actual %.9g (tol %g)", what or "value", path, e, a, tol), 3)
    end
  end
  walk(expected, actual, "")
end

-- fn must raise an error whose message contains `pattern` (plain text).
function A.raises(fn, pattern, what)
  local ok, err = pcall(fn)
  if ok then fail((what or "call") .. ": expected an error, none was raised") end
  if pattern and not tostring(err):find(pattern, 1, true) then
    fail(string.format("%s: expected an error containing %q, actual %q", what or "call", pattern, tostring(err)))
  end
  return err
end

-- Count and report: call A.done() at the end of a test file.
local tests_run = 0
function A.test(name, fn)
  tests_run = tests_run + 1
  local ok, err = xpcall(fn, debug.traceback)
  if not ok then error("test '" .. name .. "' failed: " .. tostring(err), 0) end
end
function A.done(name) print(string.format("%s: %d tests passed", name or "tests", tests_run)) end

-- A fresh, empty directory for a test's outputs (os.tmpname reserves the
-- name; the file it creates is replaced by the directory).
function A.tmpdir()
  local dir = os.tmpname()
  os.remove(dir)
  require("repro.util").mkdir_p(dir)
  return dir
end

-- experiments/NAME.lua loaded as a module (the scripts return their table
-- when called with "NAME.module" instead of running).
function A.experiment(name)
  local U = require "repro.util"
  local chunk = assert(loadfile(U.join(U.source_dir(), "experiments/" .. name .. ".lua")))
  local M = chunk(name .. ".module")
  if not (type(M) == "table" and type(M.main) == "function") then
    fail("experiments/" .. name .. ".lua: expected it to load as a module with main()")
  end
  return M
end

return A
