-- bench/dist_train.lua STEPS MICRO: samples/s of repro.train on the fast
-- preset's model of soap_lm (dim 64, 2 layers, 4 heads, seq 64, batch 32,
-- AdamW); one process or several (mpirun). Prints samples/s over the steps
-- after the first (rank 0).
local repro = require "repro"
local dist = repro.dist
local steps, micro = math.tointeger(tonumber(arg[1] or "8")), math.tointeger(tonumber(arg[2] or "2"))
local L = repro.data.shakespeare{ seq_len = 64, batch = 32, seed = 1 }
local m = repro.nn.Llama{ vocab = L.vocab_size, dim = 64, layers = 2, heads = 4, seq_len = 64, seed = 1 }
local opt = repro.optim.adamw(m:parameters(), { lr = 1e-3 })
local t1
local r = repro.train{ model = m, optimizer = opt, data = L, steps = steps, batch = 32, micro_batches = micro, quiet = true,
  on_step = function(step) if step == 1 then dist.barrier(); t1 = repro.wtime() end end }
dist.barrier()
local dt = repro.wtime() - t1
if dist.rank() == 0 then print(string.format("%.2f", 32 * (steps - 1) / dt), r.final_train_loss) end
