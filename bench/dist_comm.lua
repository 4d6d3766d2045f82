-- bench/dist_comm.lua: under mpirun -np N. The kit's gradient reduction
-- (bucketed all-gather + fixed-order fold, repro.dist) against MPI_Allreduce
-- of the same floats, interleaved A B A B; prints one TSV row per size:
-- floats, fold_ms, allreduce_ms, ratio (allreduce time / fold time: 1 = the
-- same bandwidth), pairs. Medians; min-max in the last columns.
local repro = require "repro"
local T, dist = repro.tensor, repro.dist
local C = repro.core.dist
local pairs_n = tonumber(arg[1] or "7")
local function median(t) local s = { table.unpack(t) }; table.sort(s); return s[(#s + 1) // 2], s[1], s[#s] end
if dist.rank() == 0 then print("floats\tfold_ms\tallreduce_ms\tratio\tratio_min\tratio_max\tpairs") end
for _, P in ipairs { 1 << 18, 1 << 20, 1 << 22 } do
  local buf, out, ar = T.randn(1, P), T.zeros(P), T.randn(P)
  C.fold(out, buf, 1, 1 << 20); C.allreduce_sum(ar)   -- warm-up
  local ta, tb, ratio = {}, {}, {}
  for i = 1, pairs_n do
    dist.barrier(); local t0 = repro.wtime(); C.fold(out, buf, 1, 1 << 20); dist.barrier()
    ta[i] = repro.wtime() - t0
    dist.barrier(); t0 = repro.wtime(); C.allreduce_sum(ar); dist.barrier()
    tb[i] = repro.wtime() - t0
    ratio[i] = tb[i] / ta[i]
  end
  local r, rmin, rmax = median(ratio)
  if dist.rank() == 0 then
    print(string.format("%d\t%.3f\t%.3f\t%.2f\t%.2f\t%.2f\t%d", P, 1e3 * median(ta), 1e3 * median(tb), r, rmin, rmax, pairs_n))
  end
end
