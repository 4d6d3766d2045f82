-- tests/lua/test_dist.lua: repro.dist on one process (the multi-process
-- cases are tests/sh/test_dist_*.sh): rank 0 of 1, collectives as copies,
-- the accumulator's fold is the left fold in row order divided by M, bad
-- inputs raise clear errors, the loader's shard equals those rows of the
-- batch, and train's micro_batches checks its arguments.
local A = dofile(arg[0]:match("(.*/)") .. "assert.lua")
local repro = require "repro"
local T, dist, C = repro.tensor, repro.dist, repro.core.dist

A.test("one process: rank 0 of 1, collectives are copies", function()
  A.eq(0, dist.rank()); A.eq(1, dist.size()); A.eq(false, dist.enabled())
  dist.barrier()
  local v = { a = 1, b = { "x", true, 0.1 } }
  A.eq(v, dist.broadcast(v), "broadcast returns its value")
  local all = dist.allgather { 1, 2.5 }
  A.eq(2, #all); A.eq(1, all[1]); A.eq(2.5, all[2])
  A.eq("SIGINT", dist.any_signal("SIGINT")); A.eq(nil, dist.any_signal(nil))
  A.eq("p/q", dist.private_path("p/q")); A.eq(true, dist.writes("anything"))
end)

A.test("the accumulator folds rows left to right, then divides", function()
  local p1 = T.zeros({ 2, 3 }, { requires_grad = true })
  local p2 = T.zeros({ 4 }, { requires_grad = true })
  local acc = dist.accumulator({ p1, p2 }, 3, { bucket = 4 })
  local rows = {}
  for j = 1, 3 do
    repro.manual_seed(j)
    p1.grad, p2.grad = T.randn(2, 3) * 1e3, T.randn(4)
    rows[j] = { p1.grad:totable(), p2.grad:totable() }
    acc:add(j)
  end
  acc:reduce(3)
  -- the same sum in float32 by hand: ((r1 + r2) + r3) / 3
  local f = function(x) return string.unpack("f", string.pack("f", x)) end
  for i = 1, 2 do for k = 1, 3 do
    local s = f(f(rows[1][1][i][k] + rows[2][1][i][k]) + rows[3][1][i][k])
    A.eq(f(s / 3), p1.grad:totable()[i][k], "p1 " .. i .. "," .. k)
  end end
  for k = 1, 4 do
    local s = f(f(rows[1][2][k] + rows[2][2][k]) + rows[3][2][k])
    A.eq(f(s / 3), p2.grad:totable()[k], "p2 " .. k)
  end
  -- the reference transport gives the same bits
  local q1, q2 = T.zeros({ 2, 3 }, { requires_grad = true }), T.zeros({ 4 }, { requires_grad = true })
  local accg = dist.accumulator({ q1, q2 }, 3, { bucket = 3, transport = "gather" })
  for j = 1, 3 do
    q1.grad, q2.grad = T.tensor(rows[j][1]), T.tensor(rows[j][2])
    accg:add(j)
  end
  accg:reduce(3)
  local hash = repro.core.io.fnv1a64
  A.eq(hash(p1.grad), hash(q1.grad), "gather transport, p1")
  A.eq(hash(p2.grad), hash(q2.grad), "gather transport, p2")
  -- a missing grad counts as zeros
  p1.grad = nil; p2.grad = T.ones(4)
  local acc1 = dist.accumulator({ p1, p2 }, 1)
  acc1:add(1); acc1:reduce(1)
  A.eq(0, p1.grad:sum():item()); A.eq(4, p2.grad:sum():item())
  A.truthy(tostring(acc):find("3 micro%-batches per rank"), "tostring")
end)

A.test("bad inputs raise clear errors", function()
  local p = T.zeros(3)
  A.raises(function() dist.accumulator({}, 1) end, "non-empty list")
  A.raises(function() dist.accumulator({ p }, 0) end, "k must be an integer >= 1")
  A.raises(function() dist.accumulator({ p }, 1, { bucket = 0 }) end, "bucket")
  A.raises(function() dist.accumulator({ 5 }, 1) end, "not a tensor")
  A.raises(function() dist.accumulator({ p }, 1, { transport = "ring" }) end, "transport must be 'reduce' or 'gather'")
  A.raises(function() dist.accumulator({ p }, 1, { buckets = 4 }) end, "unknown option 'buckets'")
  local buf = T.zeros(2, 3)
  A.raises(function() C.pack(buf, 3, { p }) end, "row 3 is outside 1..2")
  A.raises(function() C.pack(buf, 1, { T.zeros(4) }) end, "hold 4 numbers")
  A.raises(function() C.pack(buf, 1, { T.zeros({ 3 }, { dtype = "i32" }) }) end, "expected f32")
  A.raises(function() C.pack(T.zeros(6), 1, { p }) end, "(k, P)")
  A.raises(function() C.fold(T.zeros(3), buf, 0) end, "divisor must be > 0")
  A.raises(function() C.fold(T.zeros(4), buf, 1) end, "hold P numbers")
  A.raises(function() C.fold(T.zeros(3), buf, 1, 0) end, "bucket must be >= 1")
  A.raises(function() C.reduce(T.zeros(3), buf, 0) end, "divisor must be > 0")
  A.raises(function() C.reduce(T.zeros(4), buf, 1) end, "hold P numbers")
  A.raises(function() C.reduce(buf[1], buf, 1) end, "must not share storage")
  A.raises(function() C.unpack(T.zeros(2), { p }) end, "hold 3 numbers")
  A.raises(function() C.bcast_tensor(T.zeros(2, 3):transpose(1, 2)) end, "contiguous")
  A.raises(function() C.bcast_string("x", 1) end, "root must be a rank from 0 to 0")
  A.raises(function() C.allgather_numbers { "x" } end, "not a number")
  A.raises(function() dist.broadcast(function() end) end, "cannot send a function")
  A.raises(function() dist.broadcast(setmetatable({}, {})) end, "metatable")
  A.raises(function() dist.require(2) end, "2 processes wanted, running on 1")
  A.raises(function() C.abort(3) end, "not running under MPI")
end)

A.test("loader:batch_rows is those rows of the batch, and the sampler moves alike", function()
  local L1 = repro.data.shakespeare{ seq_len = 8, batch = 6, seed = 9, max_chars = 5000 }
  local L2 = repro.data.shakespeare{ seq_len = 8, batch = 6, seed = 9, max_chars = 5000 }
  local x, y = L1:batch("train", 6)
  local xs, ys = L2:batch_rows("train", 6, 3, 2)
  A.eq(2, xs:shape()[1])
  A.eq(0, (xs - x:narrow(1, 3, 2)):abs():sum():item()); A.eq(0, (ys - y:narrow(1, 3, 2)):abs():sum():item())
  A.eq(L1:get_state().train.counter, L2:get_state().train.counter, "sampler counters")
  A.raises(function() L2:batch_rows("train", 6, 5, 3) end, "outside the batch of 6")
end)

A.test("train: micro_batches checks, and M micro-batches on one process run", function()
  local L = repro.data.shakespeare{ seq_len = 8, batch = 4, seed = 2, max_chars = 5000 }
  local m = repro.nn.Llama{ vocab = L.vocab_size, dim = 8, layers = 1, heads = 2, seq_len = 8, seed = 1 }
  local opt = repro.optim.adamw(m:parameters(), { lr = 1e-3 })
  A.raises(function() repro.train{ model = m, optimizer = opt, data = L, steps = 1, micro_batches = 3, quiet = true } end,
    "batch = 4 must be a multiple of micro_batches = 3")
  A.raises(function() repro.train{ model = m, optimizer = opt, data = L, steps = 1, micro_batches = 0, quiet = true } end,
    "micro_batches must be an integer >= 1")
  local r = repro.train{ model = m, optimizer = opt, data = L, steps = 2, micro_batches = 2, quiet = true }
  A.eq(2, #r.losses); A.truthy(r.losses[2] == r.losses[2], "finite loss")
end)

A.done("test_dist")
