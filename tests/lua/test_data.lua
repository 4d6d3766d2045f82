-- tests/lua/test_data.lua: train/val split, seeded contiguous batches,
-- sampler state save/restore, util config round trip.
local A = dofile(arg[0]:match("(.*/)") .. "assert.lua")
local data = require "repro.data"
local U = require "repro.util"

local function rows_of(t)
  if type(t) == "table" then return t end
  return t:totable()
end

A.test("split is first 90% / last 10%", function()
  local ids = {}
  for i = 1, 1000 do ids[i] = i end
  local tr, va = data.split(ids)
  A.eq(900, #tr); A.eq(100, #va)
  A.eq(900, tr[900]); A.eq(901, va[1]); A.eq(1000, va[100])
  A.raises(function() data.split(ids, 1.5) end, "val_fraction")
end)

A.test("batches are contiguous windows shifted by one, seeded", function()
  local ids = {}
  for i = 1, 5000 do ids[i] = i end
  local tr, va = data.split(ids)
  local L = data.loader{ train = tr, val = va, seq_len = 16, batch = 4, seed = 3 }
  local x, y = L:batch("train")
  x, y = rows_of(x), rows_of(y)
  A.eq(4, #x); A.eq(16, #x[1])
  for b = 1, 4 do
    for t = 1, 16 do
      A.eq(x[b][1] + t - 1, x[b][t], "contiguous")
      A.eq(x[b][t] + 1, y[b][t], "shifted by one")
    end
    A.truthy(x[b][1] >= 1 and y[b][16] <= 4500, "inside the train split")
  end
  local vx = rows_of((L:batch("val")))
  for b = 1, 4 do A.truthy(vx[b][1] > 4500, "val batch from the val split") end
  -- same seed, same batches; state restore replays
  local L2 = data.loader{ train = tr, val = va, seq_len = 16, batch = 4, seed = 3 }
  local x2 = rows_of((L2:batch("train")))
  A.allclose(x, x2, 0, "same seed")
  local st = L2:get_state()
  local a = rows_of((L2:batch("train")))
  L2:set_state(st)
  local b2 = rows_of((L2:batch("train")))
  A.allclose(a, b2, 0, "restored state replays the batch")
  local L3 = data.loader{ train = tr, val = va, seq_len = 16, batch = 4, seed = 4 }
  local x3 = rows_of((L3:batch("train")))
  A.truthy(x3[1][1] ~= x[1][1] or x3[2][1] ~= x[2][1], "different seed, different batch")
end)

A.test("sampler is uniform enough and in range", function()
  local s = data.sampler(42)
  local counts = { 0, 0, 0, 0, 0 }
  for _ = 1, 5000 do
    local v = s:below(5)
    A.truthy(v >= 0 and v < 5, "range")
    counts[v + 1] = counts[v + 1] + 1
  end
  for i = 1, 5 do A.truthy(counts[i] > 900 and counts[i] < 1100, "bucket " .. i .. ": " .. counts[i]) end
end)

A.test("shakespeare loader", function()
  local L = data.shakespeare{ seq_len = 32, batch = 2, seed = 1, as_tables = true }
  A.eq(65, L.vocab_size)
  A.eq(1003854, #L.splits.train, "90% of 1115394 characters")
  local x = L:batch("train")
  local s = L.tokenizer:decode(x[1])
  A.eq(32, #s)
end)

A.test("util config round trip and quoting", function()
  local cfg = { name = "a b\tc", steps = 10, lr = 3e-4, flag = true, fp8 = { margin = 0, scaling = "delayed" },
                betas = { 0.9, 0.95 } }
  local p = os.tmpname()
  U.write_config(p, cfg)
  local back = U.read_config(p)
  os.remove(p)
  A.eq("a b\tc", back.name); A.eq(10, back.steps); A.eq(3e-4, back.lr); A.eq(true, back.flag)
  A.eq(0, back["fp8.margin"]); A.eq("delayed", back["fp8.scaling"])
  A.allclose({ 0.9, 0.95 }, back.betas, 0)
  A.eq("'it'\\''s'", U.shell_quote("it's"))
  A.eq("a/b/c", U.join("a/", "b", "c"))
  A.eq("/x", U.join("a", "/x"))
  A.eq("a", U.dirname("a/b.png")); A.eq("b.png", U.basename("a/b.png"))
end)

A.done("test_data")
