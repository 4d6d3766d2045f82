-- tests/dist/reduce_bits.lua OUT: the two gradient transports of repro.dist
-- (reduce-scatter + all-gather, and the all-gather reference) on awkward
-- sizes: parameter counts that do not split evenly over the ranks or the
-- buckets, odd counts, chunks of zero elements (P < ranks), buckets of one
-- float, k = 1 and k = 3 micro-batches per rank. Row g of the global order
-- is drawn from seed g, so any process count builds the same rows; rows are
-- scaled by different powers of ten, so a change of summation order changes
-- the bits. On every rank the two transports and every bucket size must agree
-- bit for bit; rank 0 writes one hash per case to OUT, which
-- tests/sh/test_dist_reduce.sh compares between 1 and 2 processes.
local repro = require "repro"
local T, dist = repro.tensor, repro.dist
local C = repro.core.dist
local out_path = assert(arg[1], "usage: reduce_bits.lua OUT")
local N, me = dist.size(), dist.rank()
local hash = repro.core.io.fnv1a64

local function rows_of(P, M, first, count)
  local buf = T.zeros(count, P)
  for j = 1, count do
    local g = first + j - 1
    repro.manual_seed(1000 + g)
    buf[j]:copy_(T.randn(P) * (10 ^ (g % 4 - 1)))
  end
  return buf
end

local lines = {}
for _, P in ipairs { 1, 2, 3, 7, 1001, 65537 } do
  for _, kk in ipairs { 1, 3 } do
    local M = kk * 2                      -- the same M on 1 and 2 processes
    local k = M // N
    local buf = rows_of(P, M, me * k + 1, k)
    local buckets = { 1, 3, 100, 1 << 22 }
    local ref = T.zeros(P)
    C.fold(ref, buf, M, 1 << 22)
    for _, bucket in ipairs(buckets) do
      if not (bucket == 1 and P > 2000) then   -- a bucket of one float: small P only (two MPI calls per float)
        local a, b = T.zeros(P), T.zeros(P)
        C.reduce(a, buf, M, bucket)
        C.fold(b, buf, M, bucket)
        assert(hash(a) == hash(ref), string.format("rank %d: reduce P=%d k=%d bucket=%d differs from the reference", me, P, k, bucket))
        assert(hash(b) == hash(ref), string.format("rank %d: fold P=%d k=%d bucket=%d differs from the reference", me, P, k, bucket))
      end
    end
    -- divisor 1 (no division) goes the same way
    local s1, r1 = T.zeros(P), T.zeros(P)
    C.reduce(s1, buf, 1, 5); C.fold(r1, buf, 1, 5)
    assert(hash(s1) == hash(r1), string.format("rank %d: divisor 1, P=%d: transports differ", me, P))
    -- every rank holds the same bits
    local h = tonumber(hash(ref):sub(1, 12), 16)
    local all = dist.allgather { h }
    for r = 2, #all do assert(all[r] == h, "rank " .. (r - 1) .. " holds another result than rank 0") end
    lines[#lines + 1] = string.format("P %d M %d %s %s", P, M, hash(ref), hash(s1))
    -- the test has teeth: on one process, the rows summed in reverse order give other bits
    if N == 1 and P == 65537 and M == 6 then
      local rev = T.zeros(M, P)
      for j = 1, M do rev[j]:copy_(buf[M + 1 - j]) end
      local r = T.zeros(P)
      C.reduce(r, rev, M)
      assert(hash(r) ~= hash(ref), "summing the rows in reverse gave the same bits: the cases check no order")
    end
  end
end
-- bad input is a clear error
local ok, err = pcall(C.reduce, T.zeros(3), T.zeros(1, 4), 1)
assert(not ok and err:match("buf must be %(k, P%)"), tostring(err))
ok, err = pcall(C.reduce, T.zeros(4), T.zeros(1, 4), 1, 0)
assert(not ok and err:match("bucket must be >= 1"), tostring(err))
ok, err = pcall(C.reduce, T.zeros(4), T.zeros(1, 4), 0)
assert(not ok and err:match("divisor must be > 0"), tostring(err))
if me == 0 then repro.util.write_file(out_path, table.concat(lines, "\n") .. "\n") end
