-- bench/dist_comm.lua [ROUNDS]: under mpirun -np N. The kit's gradient
-- reduction against MPI_Allreduce of the same floats, interleaved in rounds
-- (reduce, all-gather reference, MPI_Allreduce, one after the other, ROUNDS
-- times), so the machine's load hits all three alike. One TSV row per size:
-- floats, median ms of each, and the per-round ratios MPI_Allreduce time /
-- kit time (1 = the same bandwidth; >= 0.9 is the target) as median, min, max.
--   reduce: reduce-scatter + all-gather with the fixed fold (repro.dist's default)
--   gather: every row to every rank, each folds all (the reference transport)
local repro = require "repro"
local T, dist = repro.tensor, repro.dist
local C = repro.core.dist
local rounds = math.tointeger(tonumber(arg[1] or "15"))
local bucket = math.tointeger(tonumber(arg[2] or tostring(1 << 22)))
local function median(t) local s = { table.unpack(t) }; table.sort(s); return s[(#s + 1) // 2], s[1], s[#s] end
local function timed(fn)
  dist.barrier()
  local t0 = repro.wtime()
  fn()
  dist.barrier()
  return repro.wtime() - t0
end
if dist.rank() == 0 then
  print("floats\treduce_ms\tgather_ms\tallreduce_ms\tratio_reduce\tratio_reduce_min\tratio_reduce_max\tratio_gather\trounds")
end
for _, P in ipairs { 1 << 18, 1 << 20, 1 << 22 } do
  local buf, out, ar = T.randn(1, P), T.zeros(P), T.randn(P)
  C.reduce(out, buf, 1, bucket); C.fold(out, buf, 1, bucket); C.allreduce_sum(ar)   -- warm-up
  local ta, tg, tb, ra, rg = {}, {}, {}, {}, {}
  for i = 1, rounds do
    ta[i] = timed(function() C.reduce(out, buf, 1, bucket) end)
    tg[i] = timed(function() C.fold(out, buf, 1, bucket) end)
    tb[i] = timed(function() C.allreduce_sum(ar) end)
    ra[i], rg[i] = tb[i] / ta[i], tb[i] / tg[i]
  end
  local r, rmin, rmax = median(ra)
  if dist.rank() == 0 then
    print(string.format("%d\t%.3f\t%.3f\t%.3f\t%.2f\t%.2f\t%.2f\t%.2f\t%d", P, 1e3 * median(ta), 1e3 * median(tg),
      1e3 * median(tb), r, rmin, rmax, (median(rg)), rounds))
  end
end
