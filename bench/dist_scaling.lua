-- bench/dist_scaling.lua: the measured parts of docs/scaling.md's step-cost model.
--   repro bench/dist_scaling.lua compute PRESET ROUNDS
--       one process, one thread: forward + backward of one micro-batch of
--       B, B/2, B/4, B/8 sequences of soap_lm's PRESET model, and one
--       optimizer step (grad clipping + step) of AdamW and of SOAP
--       (frequency 10: the mean over 10 steps holds one refresh). TSV rows
--       "compute PRESET P what value_ms", medians over ROUNDS rounds (the
--       sizes interleaved within a round).
--   mpirun -np 2 repro bench/dist_scaling.lua exchange P ROUNDS
--       the kit's gradient exchange of P floats (default bucket) and
--       MPI_Allreduce of the same floats, interleaved: "exchange P kit_ms allreduce_ms".
--   repro bench/dist_scaling.lua model FILE
--       the model's table (markdown) from those rows.
local repro = require "repro"
local T, dist, U = repro.tensor, repro.dist, repro.util
local C = repro.core.dist
local mode = arg[1]

local function median(t) local s = { table.unpack(t) }; table.sort(s); return s[(#s + 1) // 2] end

local function soap_lm_presets()
  local chunk = assert(loadfile(U.join(os.getenv("REPRO_SOURCE_DIR") or ".", "experiments/soap_lm.lua")))
  return chunk("soap_lm.module").PRESETS
end

if mode == "compute" then
  local pname, rounds = arg[2], math.tointeger(tonumber(arg[3] or "3"))
  repro.set_threads(1)
  local cfg = assert(soap_lm_presets()[pname], "no preset " .. tostring(pname))
  local m = cfg.model
  local L = repro.data.shakespeare{ seq_len = m.seq_len, batch = cfg.batch, seed = 1 }
  local model = repro.nn.Llama{ vocab = L.vocab_size, dim = m.dim, layers = m.layers, heads = m.heads,
                                seq_len = m.seq_len, seed = 1 }
  local params = model:parameters()
  local P = 0
  for _, p in ipairs(params) do P = P + p:numel() end
  local x, y = L:batch("train", cfg.batch)
  local shares = {}
  for _, n in ipairs { 1, 2, 4, 8 } do if cfg.batch % n == 0 then shares[#shares + 1] = n end end
  local opts = {
    adamw = repro.optim.adamw(params, { lr = 1e-3, betas = { 0.95, 0.95 } }),
    soap = repro.optim.soap(params, { lr = 1e-3, betas = { 0.95, 0.95 }, precondition_frequency = 10 }),
  }
  local t_mb, t_opt = {}, { adamw = {}, soap = {} }
  for r = 0, rounds do   -- round 0: warm-up
    for _, n in ipairs(shares) do
      local b = cfg.batch // n
      for _, p in ipairs(params) do p.grad = nil end
      local t0 = repro.wtime()
      local l = model:loss(x:narrow(1, 1, b), y:narrow(1, 1, b))
      l:backward()
      local dt = repro.wtime() - t0
      if r > 0 then t_mb[n] = t_mb[n] or {}; t_mb[n][r] = dt end
    end
    for _, kind in ipairs { "adamw", "soap" } do
      local t0 = repro.wtime()
      for _ = 1, 10 do
        local sq = 0.0
        for _, p in ipairs(params) do if p.grad then sq = sq + (p.grad * p.grad):sum():item() end end
        local c = math.min(1.0, 1.0 / (math.sqrt(sq) + 1e-6))
        if c < 1 then for _, p in ipairs(params) do if p.grad then p.grad = p.grad * c end end end
        opts[kind]:step()
      end
      if r > 0 then t_opt[kind][r] = (repro.wtime() - t0) / 10 end
    end
  end
  for _, n in ipairs(shares) do
    print(string.format("compute\t%s\t%d\tmb_B/%d\t%.3f", pname, P, n, 1e3 * median(t_mb[n])))
  end
  for _, kind in ipairs { "adamw", "soap" } do
    print(string.format("compute\t%s\t%d\topt_%s\t%.3f", pname, P, kind, 1e3 * median(t_opt[kind])))
  end
elseif mode == "exchange" then
  local P, rounds = math.tointeger(tonumber(arg[2])), math.tointeger(tonumber(arg[3] or "9"))
  local buf, out, ar = T.randn(1, P), T.zeros(P), T.randn(P)
  local acc_bucket = 1 << 22   -- repro.dist.accumulator's default
  C.reduce(out, buf, 1, acc_bucket); C.allreduce_sum(ar)
  local ta, tb = {}, {}
  for i = 1, rounds do
    dist.barrier(); local t0 = repro.wtime(); C.reduce(out, buf, 1, acc_bucket); dist.barrier()
    ta[i] = repro.wtime() - t0
    dist.barrier(); t0 = repro.wtime(); C.allreduce_sum(ar); dist.barrier()
    tb[i] = repro.wtime() - t0
  end
  if dist.rank() == 0 then print(string.format("exchange\t%d\t%.3f\t%.3f", P, 1e3 * median(ta), 1e3 * median(tb))) end
elseif mode == "model" then
  local rows = {}
  for line in io.lines(arg[2]) do
    local f = {}
    for v in line:gmatch("[^\t]+") do f[#f + 1] = v end
    rows[#rows + 1] = f
  end
  local comp, exch, order = {}, {}, {}
  for _, f in ipairs(rows) do
    if f[1] == "compute" then
      if not comp[f[2]] then comp[f[2]] = { P = tonumber(f[3]) }; order[#order + 1] = f[2] end
      comp[f[2]][f[4]] = tonumber(f[5])
    elseif f[1] == "exchange" then
      exch[tonumber(f[2])] = { kit = tonumber(f[3]), mpi = tonumber(f[4]) }
    end
  end
  local nets = { { "10 GbE", 1.25e9, 20e-6 }, { "100 Gb IB", 12.5e9, 2e-6 } }
  print("| preset (P params) | optimizer | network | N | t_mb(B/N) ms (measured) | t_opt ms (measured) | t_x ms (model) | step ms (model) | speed-up (model) |")
  print("|---|---|---|---|---|---|---|---|---|")
  for _, pname in ipairs(order) do
    local c = comp[pname]
    for _, kind in ipairs { "adamw", "soap" } do
      for _, net in ipairs(nets) do
        local t1
        for _, N in ipairs { 1, 2, 4, 8 } do
          local mb = c["mb_B/" .. N]
          if mb then
            local tx = 0
            if N > 1 then
              tx = 1e3 * (2 * (N - 1) / N * 4 * c.P / net[2] + 2 * (N - 1) * net[3] * math.ceil(c.P / (1 << 22)))
            end
            local t = mb + c["opt_" .. kind] + tx
            t1 = t1 or t
            print(string.format("| %s (%d) | %s | %s | %d | %.1f | %.1f | %.2f | %.1f | %.2f |", pname, c.P, kind, net[1], N,
              mb, c["opt_" .. kind], tx, t, t1 / t))
          end
        end
      end
    end
  end
  print("")
  print("| P floats | kit exchange, 2 processes, shared memory, ms (measured) | MPI_Allreduce, same floats, ms (measured) | ratio MPI / kit |")
  print("|---|---|---|---|")
  local ps = {}
  for P in pairs(exch) do ps[#ps + 1] = P end
  table.sort(ps)
  for _, P in ipairs(ps) do
    print(string.format("| %d | %.2f | %.2f | %.2f |", P, exch[P].kit, exch[P].mpi, exch[P].mpi / exch[P].kit))
  end
else
  error("usage: dist_scaling.lua compute PRESET ROUNDS | exchange P ROUNDS | model FILE")
end
