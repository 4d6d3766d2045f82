-- tests/lua/test_nn_constructors.lua: the familiar constructor forms
-- (nn.Linear(in, out [, opts]) and the table forms, nn.Sequential), their
-- errors at construction, and nn.Llama's errors for ids it cannot take.
local A = dofile(arg[0]:match("(.*/)") .. "assert.lua")
local repro = require "repro"
local T, nn = repro.tensor, repro.nn

A.test("nn.Linear: positional and table forms build the same layer", function()
  local forms = {
    nn.Linear(8, 4, { bias = true, seed = 3 }),
    nn.Linear{ 8, 4, bias = true, seed = 3 },
    nn.Linear{ in_features = 8, out_features = 4, bias = true, seed = 3 },
  }
  for i, m in ipairs(forms) do
    A.eq(8, m.in_features, "form " .. i .. " in"); A.eq(4, m.out_features, "form " .. i .. " out")
    A.eq("4,8", table.concat(m.weight:shape(), ","), "form " .. i .. " weight {out, in}")
    A.truthy(m.bias, "form " .. i .. " bias")
    A.allclose(forms[1].weight:totable(), m.weight:totable(), 0, "form " .. i .. " same seeded weights")
  end
  local plain = nn.Linear(8, 4)
  A.eq(nil, plain.bias, "no bias by default")
  A.eq("2,4", table.concat(plain(T.randn{2, 8}):shape(), ","), "forward")
  A.eq(3, nn.Embedding(3, 5).num); A.eq(5, nn.Embedding{ 3, 5 }.dim)
  A.eq(1e-6, nn.RMSNorm(4, { eps = 1e-6 }).eps); A.eq(4, nn.RMSNorm{ 4 }.dim)
end)

A.test("nn.Linear: bad forms fail at construction, naming the field", function()
  A.raises(function() nn.Linear{} end, "nn.Linear: missing in_features")
  A.raises(function() nn.Linear() end, "nn.Linear: missing in_features")
  A.raises(function() nn.Linear(8) end, "nn.Linear: missing out_features")
  A.raises(function() nn.Linear{ 8 } end, "nn.Linear: missing out_features")
  A.raises(function() nn.Linear(8, 0) end, "out_features must be a positive integer, got 0")
  A.raises(function() nn.Linear(8, 2.5) end, "out_features must be a positive integer, got 2.5")
  A.raises(function() nn.Linear("8", 2) end, "in_features must be a positive integer, got string")
  A.raises(function() nn.Linear(8, 4, true) end, "argument #3 is a boolean, expected an options table")
  A.raises(function() nn.Linear(8, 4, { biass = true }) end, "unknown option biass")
  A.raises(function() nn.Linear(8, 4, { 2 }) end, "sizes go before the options table")
  A.raises(function() nn.Linear(8, 4, {}, {}) end, "unexpected argument #4")
  A.raises(function() nn.Linear({ 8, 4 }, 2) end, "unexpected argument #2 after an options table")
  A.raises(function() nn.Linear{ 8, 4, in_features = 3 } end, "in_features given twice")
  A.raises(function() nn.Embedding(3) end, "nn.Embedding: missing dim")
  A.raises(function() nn.RMSNorm{} end, "nn.RMSNorm: missing dim")
  A.raises(function() nn.RMSNorm(4, { eps = -1 }) end, "eps must be a number >= 0")
end)

A.test("nn.Sequential: modules and functions in order", function()
  local s = nn.Sequential(nn.Linear(4, 8, { seed = 1 }), T.relu, nn.Linear(8, 2, { seed = 2 }))
  local x = T.randn({ 3, 4 }, { generator = T.Generator(9) })
  local y = s(x)
  local ref = s:get(3)(s:get(1)(x):relu())
  A.allclose(ref:totable(), y:totable(), 0, "same as applying the entries by hand")
  A.eq(#s:parameters(), 2, "parameters of the module entries")
  A.eq("1.weight", s:named_parameters()[1][1], "children named by position")
  A.eq(3, #s, "#seq")
  local t = nn.Sequential{ nn.Linear(4, 8, { seed = 1 }), T.relu, nn.Linear(8, 2, { seed = 2 }) }
  A.allclose(y:totable(), t(x):totable(), 0, "table form")
  local text = tostring(s)
  A.truthy(text:find("Sequential(3 entries)", 1, true) and text:find("2: <function tensor.relu>", 1, true)
    and text:find("total: 48 parameters", 1, true), "printed: " .. text)
  local u = nn.Sequential():add(nn.Linear(4, 8, { seed = 1 })):add(T.relu):add(nn.Linear(8, 2, { seed = 2 }))
  A.allclose(y:totable(), u(x):totable(), 0, "built with :add, Torch7 style")
  A.raises(function() nn.Sequential():add(5) end, "expected a module (e.g. nn.Linear(4, 8)) or a function, got a number")
  A.raises(function() nn.Sequential(nn.Linear(4, 8), 3) end, "entry 2 is a number, expected a module")
  A.raises(function() nn.Sequential{ a = nn.Linear(4, 8) } end, "takes a list of modules")
end)

A.test("nn.Llama says what ids it expects", function()
  local m = nn.Llama{ vocab = 65, dim = 16, layers = 1, heads = 2, seed = 1 }
  local expect = "nn.Llama: ids must be (batch, time) i32 with values in 1..65, got "
  local function err(f) local ok, e = pcall(f) A.truthy(not ok, "raised") return e end
  local e = err(function() return m(T.tensor({ 1, 2, 3 }, { dtype = "i32" })) end)
  A.truthy(e:find(expect .. "{3}", 1, true), "1-D ids: " .. e)
  e = err(function() return m(T.ones(2, 3)) end)
  A.truthy(e:find(expect .. "f32 {2,3}", 1, true), "f32 ids: " .. e)
  e = err(function() return m(T.tensor({ { 1, 2, 66 } }, { dtype = "i32" })) end)
  A.truthy(e:find(expect .. "66 at (1, 3)", 1, true), "id above vocab: " .. e)
  e = err(function() return m(T.tensor({ { 1, 2 }, { 0, 5 } }, { dtype = "i32" })) end)
  A.truthy(e:find(expect .. "0 at (2, 1) (ids are 1-based", 1, true), "0-based id: " .. e)
  e = err(function() return m({ { 1, 2 } }) end)
  A.truthy(e:find(expect .. "a table", 1, true), "a Lua table: " .. e)
  e = err(function() return m(T.zeros({ 1, 3, 2 }, { dtype = "i32" })) end)
  A.truthy(e:find(expect .. "{1,3,2}", 1, true), "3-D ids: " .. e)
  e = err(function() return m:loss(T.ones(2, 3):int(), T.ones(2, 4):int()) end)
  A.truthy(e:find("targets must have the shape of ids {2,3}, got {2,4}", 1, true), "loss shapes: " .. e)
  e = err(function() return m:loss(T.ones(2, 3):int(), T.ones(2, 3)) end)
  A.truthy(e:find("targets must be (batch, time) i32", 1, true), "f32 targets: " .. e)
  -- randint follows PyTorch ([low, high)): 1-based ids need high = vocab + 1
  local ids = T.randint(1, 66, { 2, 5 }, { generator = T.Generator(3) })
  A.eq("2,5,65", table.concat(m(ids):shape(), ","), "T.randint(1, vocab + 1, ...) ids are valid")
  A.raises(function() nn.Llama{ vocab = 65, dim = 16, layer = 1, heads = 2 } end, "unknown option 'layer'")
  A.raises(function() nn.Llama(65) end, "expected a table of options")
end)

A.test("0 used as a 1-based index, dimension or id says what is 1-based", function()
  local x = T.ones(3, 4)
  local i32 = { dtype = "i32" }
  A.raises(function() return x:select(1, 0) end, "index 0 out of range 1..3 (indices are 1-based; -1 is the last)")
  A.raises(function() return x[0] end, "index 0 out of range 1..3 (indices are 1-based")
  A.raises(function() return x:sum(0) end, "dimension 0 out of range for a tensor of 2 dimensions (dimensions are 1-based")
  A.raises(function() return x:softmax(0) end, "dimension 0 out of range for a 2-d tensor (dimensions are 1-based")
  A.raises(function() return x:narrow(1, 0, 1) end, "(start is 1-based)")
  A.raises(function() return T.embedding(x, T.tensor({ 0 }, i32)) end, "id 0 at position 1 out of range [1, 3] (ids are 1-based")
  A.raises(function() return T.cross_entropy(x, T.tensor({ 0, 1, 2 }, i32)) end, "(ids are 1-based: add 1 to 0-based ids)")
  -- negative values count from the end, as documented
  A.eq(3, T.tensor{ 1, 2, 3 }:select(1, -1):item(), "select(1, -1) is the last entry")
  -- PyTorch-style values: randint's range is [low, high), arange starts at 0
  A.eq("0,1,2", table.concat(T.arange(3, { dtype = "i32" }):totable(), ","), "arange(3)")
  local r = T.randint(0, 2, { 1000 }, { generator = T.Generator(1) })
  A.eq(0, r:amin():item(), "randint low included"); A.eq(1, r:amax():item(), "randint high excluded")
end)

A.done("test_nn_constructors")
