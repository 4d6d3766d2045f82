-- Lua-level fuzz of the public API: random functions of repro.tensor,
-- repro.fp8, repro.optim, repro.linalg, the repro.nn constructors, tensor
-- and optimizer methods, with random arguments (nil, NaN, +-inf, huge and
-- negative numbers, wrong types, closed tensors, views, empty tensors). Only
-- Lua errors are allowed; a crash, hang or sanitizer report fails the test.
-- The parsers written in Lua (tokenizer merges files, checkpoint metadata)
-- are fuzzed here too, with random mutations of valid files.
-- REPRO_FUZZ_SEED and REPRO_FUZZ_ITERS override the fixed seed and count.
local A = dofile(arg[0]:match("(.*/)") .. "assert.lua")
local repro = require "repro"
local T, fp8, optim, linalg, nn = repro.tensor, repro.fp8, repro.optim, repro.linalg, repro.nn
local tokenizer = require "repro.tokenizer"
local checkpoint = require "repro.checkpoint"

local seed = math.tointeger(tonumber(os.getenv("REPRO_FUZZ_SEED") or "")) or 91
local ITER = math.tointeger(tonumber(os.getenv("REPRO_FUZZ_ITERS") or "")) or 2500
math.randomseed(seed)

-- Files, global state and deliberately slow helpers stay out.
local skip = { save = true, load = true, gradcheck = true, set_grad_enabled = true, manual_seed = true,
  set_rng_state = true, no_grad = true, enable_grad = true, class = true }

local targets = {}
local function add(modname, mod)
  local ks = {}
  for k, v in pairs(mod) do if type(v) == "function" and not skip[k] then ks[#ks + 1] = k end end
  table.sort(ks)
  for _, k in ipairs(ks) do targets[#targets + 1] = { modname .. "." .. k, mod[k] } end
end
add("tensor", T); add("fp8", fp8); add("optim", optim); add("linalg", linalg); add("nn", nn)
if type(optim.schedule) == "table" then add("optim.schedule", optim.schedule) end
local methods = debug.getregistry()["repro.Tensor.methods"]
local mnames = {}
for k, v in pairs(methods) do if type(v) == "function" then mnames[#mnames + 1] = k end end
table.sort(mnames)

local function tensor()
  local r = math.random(9)
  if r == 1 then return T.randn(math.random(0, 3), math.random(1, 4)) end
  if r == 2 then return T.randn(3, 2):t() end
  if r == 3 then return T.tensor({ { 1, 2 }, { 3, 4 } }, { dtype = "i32" }) end
  if r == 4 then return T.zeros(4):byte() end
  if r == 5 then local t = T.ones(2); t:close(); return t end
  if r == 6 then return T.tensor { 0 / 0, math.huge, -math.huge, -0.0, 3e38 } end
  if r == 7 then return T.randn({ 4, 4 }, { requires_grad = true }) end
  if r == 8 then return T.zeros(0) end
  return T.randn(2, 3, 4)
end

local scalars = { 0, 1, 2, 3, -1, 0.5, -7.25, 0 / 0, math.huge, -math.huge, 2 ^ 40, -(2 ^ 62), 1e300,
  math.maxinteger, math.mininteger, 1 << 40 }
local strings = { "", "f32", "i32", "u8", "e4m3fn", "e5m2", "bf16", "nearest", "max", "swiglu", "fp8", "\0\255", "x" }

local value
local function opts_table(depth)
  local keys = { "lr", "betas", "dim", "vocab", "layers", "heads", "seq_len", "mlp", "numerics", "dtype",
    "requires_grad", "scale", "saturate", "rounding", "history", "margin", "algo", "eps", "weight_decay",
    "precondition_frequency", "in_features", "out_features", "bias", "momentum", "m_format", "v_format" }
  local t = {}
  for _ = 1, math.random(0, 4) do t[keys[math.random(#keys)]] = value(depth + 1) end
  return t
end

function value(depth)
  depth = depth or 0
  local r = math.random(depth > 1 and 8 or 11)
  if r == 1 then return nil end
  if r <= 3 then return scalars[math.random(#scalars)] end
  if r == 4 then return math.random(0, 5) end
  if r == 5 then return strings[math.random(#strings)] end
  if r <= 7 then return tensor() end
  if r == 8 then return math.random(2) == 1 end
  if r == 9 then return { math.random(0, 3), math.random(1, 3) } end
  if r == 10 then return opts_table(depth) end
  local list = {}
  for i = 1, math.random(0, 3) do list[i] = tensor() end
  return list
end

-- Lua loops driven by a huge argument become an error, not a hang.
local function budget() error("fuzz: instruction budget exceeded", 2) end
local function call(f, ...)
  debug.sethook(budget, "", 20000000)
  local res = table.pack(pcall(f, ...))
  debug.sethook()
  return res
end

local errors, oks = 0, 0
local function check(res, what)
  if res[1] then oks = oks + 1 return end
  errors = errors + 1
  local e = res[2]
  A.truthy(type(e) == "string" or type(e) == "table", what .. ": errors are messages, got " .. type(e))
end

A.test("random calls of every public function and method", function()
  for i = 1, ITER do
    local r = math.random(10)
    if r <= 6 then
      local t = targets[math.random(#targets)]
      local args = {}
      for j = 1, math.random(0, 4) do args[j] = value() end
      check(call(t[2], table.unpack(args, 1, 4)), t[1])
    elseif r <= 9 then
      local self = tensor()
      local m = mnames[math.random(#mnames)]
      check(call(methods[m], self, value(), value(), value()), "method " .. m)
    else
      -- an optimizer over random parameters, stepped with random gradients
      local kinds = { "sgd", "adamw", "adafactor", "shampoo", "soap" }
      local kind = kinds[math.random(#kinds)]
      local res = call(optim[kind], { T.randn({ 3, 2 }, { requires_grad = true }) }, opts_table(1))
      if res[1] then
        local opt = res[2]
        for _, p in ipairs(opt.params or {}) do pcall(function() p.grad = tensor() end) end
        check(call(function() opt:step() end), kind .. ":step")
        check(call(function() opt:load_state_dict(value()) end), kind .. ":load_state_dict")
      else check(res, "optim." .. kind) end
    end
    if i % 500 == 0 then collectgarbage() end
  end
  A.truthy(errors > 0 and oks > 0, string.format("both outcomes seen (%d ok, %d errors)", oks, errors))
end)

A.test("the process is sane afterwards", function()
  collectgarbage(); collectgarbage()
  local x = T.tensor { { 1, 2 }, { 3, 4 } }
  A.eq(10, x:sum():item())
  T.set_grad_enabled(true)
end)

-- Mutate bytes of a valid file: flips, insertions, deletions, truncation.
local function mutate(s)
  local ops = math.random(1, 4)
  for _ = 1, ops do
    local r, i = math.random(4), math.random(math.max(#s, 1))
    if r == 1 then s = s:sub(1, i - 1) .. string.char(math.random(0, 255)) .. s:sub(i + 1)
    elseif r == 2 then s = s:sub(1, i) .. ({ "\n", " ", "\t", "%", "\\", "0", "9", "#", "/" })[math.random(9)] .. s:sub(i + 1)
    elseif r == 3 then s = s:sub(1, i - 1) .. s:sub(i + 2)
    else s = s:sub(1, i) end
  end
  return s
end

local dir = os.tmpname()
os.remove(dir)
local function write(p, s) local f = assert(io.open(p, "wb")) f:write(s) f:close() end
local function read(p) local f = assert(io.open(p, "rb")) local s = f:read("a") f:close() return s end

A.test("mutated tokenizer files: only Lua errors", function()
  local tok = tokenizer.bpe_train("a rose is a rose is a rose, said the rose", 12)
  tok:save(dir .. ".tok")
  local good = read(dir .. ".tok")
  for _ = 1, 400 do
    write(dir .. ".tok", mutate(good))
    local res = call(tokenizer.load, dir .. ".tok")
    check(res, "tokenizer.load")
    if res[1] then check(call(function() return res[2]:decode(res[2]:encode("a rose is")) end), "round trip") end
  end
  local chars = tokenizer.char("hello world")
  chars:save(dir .. ".tok")
  good = read(dir .. ".tok")
  for _ = 1, 200 do
    write(dir .. ".tok", mutate(good))
    check(call(tokenizer.load, dir .. ".tok"), "tokenizer.load char")
  end
  os.remove(dir .. ".tok")
end)

A.test("mutated checkpoint files: only Lua errors (warnings on stderr are expected)", function()
  checkpoint.save_state(dir, { step = 1, w = T.randn(3), meta = { a = 1, b = "x\ty", c = { true, 2.5 } } })
  local p = dir .. "/step-00000001.safetensors"
  local good = read(p)
  for _ = 1, 300 do
    write(p, mutate(good))
    check(call(checkpoint.load_state, dir), "checkpoint.load_state")
  end
  -- the meta text itself, checksum fixed up, so the parser is reached
  local cio = require("repro.core").io
  local text = "\tt\t\n/a\ti\t1\n/b\ts\tx\\09y\n/c\tt\t\n/c/#1\tb\ttrue\n/c/#2\tf\t2.5\n/d%25\tf\tnan"
  for _ = 1, 300 do
    local m = mutate(text)
    -- (a mutation that is not UTF-8 cannot be stored in the JSON header)
    if pcall(T.save, p, {}, { ["repro.checkpoint"] = "repro-checkpoint v2", step = "1", meta = m,
                              ["meta.fnv1a64"] = cio.fnv1a64(m) }) then
      check(call(checkpoint.load_latest, dir), "checkpoint meta")
    end
  end
  os.execute("rm -rf " .. dir)
end)

A.done("test_fuzz_all_api")
