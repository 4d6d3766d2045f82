-- tests/lua/test_help.lua: help() and its docstrings. Every exported
-- function of repro.* (module tables and the methods of every type in the
-- registry) has a docstring, every docstring names something that exists,
-- every file of lua/repro/doc is loaded, and the checks themselves catch a
-- missing docstring, a stale name, a duplicate and a malformed file.
local A = dofile(arg[0]:match("(.*/)") .. "assert.lua")
local repro = require "repro"
local H = require "repro.help"
local T, nn = repro.tensor, repro.nn

A.test("every exported function has a docstring, every docstring names something", function()
  local missing, stale = H.check()
  A.eq("", table.concat(missing, ", "), "exported functions without a docstring (add them in lua/repro/doc/)")
  A.eq("", table.concat(stale, ", "), "docstrings naming nothing that exists")
end)

A.test("the walk reaches modules, nested modules and the methods of every type", function()
  local list = H.exported()
  local names = {}
  for _, e in ipairs(list) do names[e.name] = e.value end
  for _, n in ipairs { "tensor.randn", "optim.soap", "optim.schedule.warmup_cosine", "fp8.info", "nn.Llama",
                       "manual_seed", "help", "repr", "Tensor:matmul", "Generator:get_state", "Optimizer:step",
                       "nn.Module:parameters", "nn.Llama:loss", "fp8.Quantized:dequantize",
                       "fp8.DelayedScaling:update", "nn.Sequential:forward", "data.Loader:batch" } do
    A.truthy(names[n], "exported: " .. n)
  end
  A.eq(T.randn, names["tensor.randn"], "values are the functions themselves")
  A.eq(nil, names["core.tensor.randn"], "repro.core (the raw bindings) is not walked")
end)

A.test("every file of lua/repro/doc is loaded (no hand-kept list)", function()
  local on_disk = {}
  for _, f in ipairs(require("repro.core").io.listdir(H.doc_dir())) do
    if f:match("%.lua$") then on_disk[#on_disk + 1] = f end
  end
  local _, files = H.load(true)
  table.sort(files)
  A.eq(table.concat(on_disk, " "), table.concat(files, " "), "doc files loaded")
  A.truthy(#files >= 8, "the kit's doc files are there")
end)

A.test("each docstring: a signature naming the function, then a description", function()
  local docs = H.load()
  for name, text in pairs(docs) do
    local sig, body = text:match("^([^\n]+)\n(.+)$")
    A.truthy(sig and body and #body > 10, name .. ": signature line and description")
    local last = name:match("[.:]([%w_]+)$") or name
    A.truthy(sig:find(last, 1, true), name .. ": the signature names '" .. last .. "' (" .. sig .. ")")
  end
end)

-- A copy of the doc folder in a temporary folder, plus extra files.
local function doc_copy(extra)
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -p '" .. dir .. "'"))
  for _, f in ipairs(require("repro.core").io.listdir(H.doc_dir())) do
    local src = assert(io.open(H.doc_dir() .. "/" .. f, "rb"))
    local dst = assert(io.open(dir .. "/" .. f, "wb"))
    dst:write(src:read("a")); src:close(); dst:close()
  end
  for f, text in pairs(extra or {}) do
    local h = assert(io.open(dir .. "/" .. f, "wb")); h:write(text); h:close()
  end
  return dir
end
local function rmdir(dir) os.execute("rm -rf '" .. dir .. "'") end

A.test("the check fails on a missing docstring, naming the function", function()
  repro.nn.fake_undocumented = function() end
  local Fake = { __name = "repro.FakeType" }
  Fake.__index = Fake
  function Fake:fake_method() end
  debug.getregistry()[Fake.__name] = Fake
  local ok, missing = pcall(H.check)
  repro.nn.fake_undocumented = nil
  debug.getregistry()[Fake.__name] = nil
  A.truthy(ok, "check ran: " .. tostring(missing))
  local s = table.concat(missing, ",")
  A.truthy(s:find("nn.fake_undocumented", 1, true), "module function reported: " .. s)
  A.truthy(s:find("FakeType:fake_method", 1, true), "method of a registered type reported: " .. s)
end)

A.test("a new doc file is picked up; stale names, duplicates and bad files are caught", function()
  local dir = doc_copy { ["zz_new.lua"] = 'return { ["tensor.no_such_function"] = "T.no_such_function()\\nNothing." }' }
  local _, stale = H.check(dir)
  rmdir(dir)
  A.eq("tensor.no_such_function", table.concat(stale, ","), "stale name from a new file")

  dir = doc_copy { ["zz_dup.lua"] = 'return { ["tensor.randn"] = "T.randn()\\nAgain." }' }
  A.raises(function() H.load(true, dir) end, "'tensor.randn' is documented in both tensor.lua and zz_dup.lua")
  rmdir(dir)

  dir = doc_copy { ["zz_bad.lua"] = 'return 42' }
  A.raises(function() H.load(true, dir) end, "zz_bad.lua must return a table")
  rmdir(dir)

  dir = doc_copy { ["zz_nodesc.lua"] = 'return { ["tensor.extra"] = "T.extra()" }' }
  A.raises(function() H.load(true, dir) end, "needs a signature line, then a description")
  rmdir(dir)

  dir = doc_copy { ["zz_syntax.lua"] = 'return {' }
  A.raises(function() H.load(true, dir) end, "zz_syntax.lua")
  rmdir(dir)
end)

A.test("help(f) finds a function by identity; help 'name' by name", function()
  local s = H.text(T.randn)
  A.truthy(s:find("T.randn(shape", 1, true), "help(T.randn): " .. s)
  A.eq(s, H.text("tensor.randn"), "help 'tensor.randn' is the same text")
  A.eq(s, H.text("randn"), "help 'randn': a unique last name")
  -- one function, two names: T.exp is Tensor:exp
  A.truthy(H.text(T.exp):find("x:exp()", 1, true), "T.exp found through Tensor:exp")
  A.truthy(H.text(T.exp):find("also: tensor.exp", 1, true), "other names listed")
  A.truthy(H.text(repro.manual_seed):find("repro.manual_seed(seed)", 1, true), "repro.manual_seed")
  A.truthy(H.text(repro.optim.soap):find("optim.soap(params", 1, true), "optim.soap")
  A.truthy(H.text("Optimizer:step"):find("opt:step()", 1, true), "a Lua type's method by name")
  A.truthy(H.text("nn.Llama:parameters"):find("m:parameters()", 1, true), "an inherited method by name")
  A.truthy(H.text(repro.fp8.info):find("fp8.info(fmt)", 1, true), "fp8.info")
  -- modules and types list their functions
  A.truthy(H.text(nn):find("nn.Linear(in, out", 1, true), "help(nn) lists nn.Linear")
  A.truthy(H.text("optim"):find("optim.soap(", 1, true), "help 'optim'")
  A.truthy(H.text("Tensor"):find("a:matmul(b)", 1, true), "help 'Tensor' lists methods")
  A.truthy(H.text(T.zeros(2)):find("type Tensor", 1, true), "help(a tensor) lists Tensor methods")
  A.truthy(H.text(nn.Linear(2, 3)):find("linear:forward(x)", 1, true), "help(a module) lists its methods")
  A.truthy(H.text():find("help(f)", 1, true), "help() explains itself")
  -- unknown things: a message, no error
  local none, why = H.text("no_such_name_anywhere")
  A.eq(nil, none); A.truthy(why:find("nothing is documented under 'no_such_name_anywhere'", 1, true), why)
  local _, why2 = H.text(function() end)
  A.truthy(why2:find("not part of the repro API", 1, true), why2)
  A.truthy(select(2, H.text("sum")) == nil, "'sum' (Tensor:sum = T.sum) is one function")
  A.eq(repro.help, H.help, "repro.help is help")
end)

A.done("test_help")
