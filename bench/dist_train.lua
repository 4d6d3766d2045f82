-- bench/dist_train.lua STEPS MICRO: samples/s of repro.train on the fast
-- preset's model of soap_lm (dim 64, 2 layers, 4 heads, seq 64, batch 32,
-- AdamW); one process or several (mpirun). Prints (rank 0), over the steps
-- after the first: samples/s, the final train loss, and the share of the
-- step spent in the gradient exchange (repro.dist's reduce, timed around
-- each call; 0 on one process with MICRO = 1), which bounds what overlapping
-- it with the backward pass could save.
local repro = require "repro"
local dist = repro.dist
local C = repro.core.dist
local steps, micro = math.tointeger(tonumber(arg[1] or "8")), math.tointeger(tonumber(arg[2] or "2"))
local L = repro.data.shakespeare{ seq_len = 64, batch = 32, seed = 1 }
local m = repro.nn.Llama{ vocab = L.vocab_size, dim = 64, layers = 2, heads = 4, seq_len = 64, seed = 1 }
local opt = repro.optim.adamw(m:parameters(), { lr = 1e-3 })
local t1
local t_reduce, timing = 0.0, false
local reduce = C.reduce
C.reduce = function(...)   -- repro.dist looks the transport up in this table at each call
  local t0 = repro.wtime()
  reduce(...)
  if timing then t_reduce = t_reduce + (repro.wtime() - t0) end
end
local r = repro.train{ model = m, optimizer = opt, data = L, steps = steps, batch = 32, micro_batches = micro, quiet = true,
  on_step = function(step) if step == 1 then dist.barrier(); t1 = repro.wtime(); timing = true end end }
dist.barrier()
local dt = repro.wtime() - t1
C.reduce = reduce
if dist.rank() == 0 then print(string.format("%.2f\t%.6f\t%.3f", 32 * (steps - 1) / dt, r.final_train_loss, t_reduce / dt)) end
