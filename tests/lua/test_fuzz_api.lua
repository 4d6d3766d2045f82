-- Fuzz the Lua tensor API: random functions of T and random tensor methods
-- with random arguments (nil, NaN, huge, negative, strings, tables, closed
-- tensors ...). Only Lua errors are allowed: a crash or sanitizer report
-- fails the test. Bounded by iterations and by wall time.
local A = dofile(arg[0]:match("(.*/)") .. "assert.lua")
local repro = require "repro"
local T = repro.tensor

local seed = tonumber(os.getenv("REPRO_FUZZ_SEED") or "") or 20240917
math.randomseed(seed)
local ITER = tonumber(os.getenv("REPRO_FUZZ_ITERS") or "") or 4000
local DEADLINE = os.clock() + 8

-- functions that would legitimately do heavy work or touch files / global state
local skip = {save = true, load = true, gradcheck = true, format = true, set_grad_enabled = true,
  no_grad = true, enable_grad = true, manual_seed = true, set_rng_state = true}

local fnames, mnames = {}, {}
for k, v in pairs(T) do if type(v) == "function" and not skip[k] then fnames[#fnames + 1] = k end end
local methods = debug.getregistry()["repro.Tensor.methods"]
for k in pairs(methods) do mnames[#mnames + 1] = k end
table.sort(fnames); table.sort(mnames)

local function closed()
  local t = T.ones(2); t:close(); return t
end
local function small_tensor()
  local r = math.random(6)
  if r == 1 then return T.randn(math.random(0, 3), math.random(1, 3)) end
  if r == 2 then return T.randn(2, 3):t() end
  if r == 3 then return T.randint(0, 4, {math.random(1, 4)}) end
  if r == 4 then return T.tensor(2.5) end
  if r == 5 then return T.randn({3}, {requires_grad = true}) * 2 end
  return T.tensor({1, 0, 255}, {dtype = "u8"})
end
local pool = {
  function() return nil end, function() return 0 / 0 end, function() return 1 / 0 end,
  function() return -1 / 0 end, function() return 1e12 end, function() return 2 ^ 62 end,
  function() return -(2 ^ 63) end, function() return -1 end, function() return -3 end,
  function() return 0 end, function() return 1 end, function() return 2 end, function() return 3 end,
  function() return 1.5 end, function() return math.mininteger end, function() return math.maxinteger end,
  function() return "f32" end, function() return "i32" end, function() return "x" end,
  function() return true end, function() return false end,
  function() return {} end, function() return {2, 3} end, function() return {-1} end,
  function() return {1e12, 1e12} end, function() return {{1, 2}, {3}} end, function() return {dtype = "u8"} end,
  function() return {requires_grad = true} end, function() return {1, "a"} end,
  function() return {retain_graph = true} end, function() return {0 / 0} end,
  closed, small_tensor, small_tensor, small_tensor, function() return T.Generator(3) end,
  function() return function() end end, function() return {small_tensor(), small_tensor()} end,
}
local function arg() return pool[math.random(#pool)]() end

local calls, errors = 0, 0
for i = 1, ITER do
  if os.clock() > DEADLINE then break end
  local nargs = math.random(0, 4)
  local args = {}
  for k = 1, nargs do args[k] = arg() end
  local f, name
  if math.random() < 0.5 then
    name = fnames[math.random(#fnames)]; f = T[name]
  else
    name = mnames[math.random(#mnames)]
    local self = math.random() < 0.85 and small_tensor() or arg()
    f = function(...) return methods[name](self, ...) end
  end
  local ok, err = pcall(f, table.unpack(args, 1, nargs))
  calls = calls + 1
  if not ok then
    errors = errors + 1
    A.truthy(type(err) == "string", name .. ": error object is a " .. type(err))
  elseif T.is_tensor(err) and not err:is_closed() then
    tostring(err) -- printing any result must work too
  end
  if i % 200 == 0 then collectgarbage() end
end
T.set_grad_enabled(true)
A.test("fuzz ran", function()
  A.truthy(calls >= 500, "only " .. calls .. " calls")
  A.truthy(errors > 0 and errors < calls, "errors " .. errors .. " of " .. calls)
end)
print(string.format("fuzz: %d calls, %d Lua errors, seed %d", calls, errors, seed))
A.done("test_fuzz_api")
