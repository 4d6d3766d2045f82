-- tests/dist/train_bits.lua OPT STEPS MICRO OUT [resume]: a few steps of a
-- tiny Llama with repro.train; writes OUT (rank 0): every step's loss and
-- grad norm as hex floats, then every weight's bytes checksum. Run by
-- tests/sh/test_dist_*.sh under 1 and 2 processes.
local repro = require "repro"
local T, nn, optim, data, dist = repro.tensor, repro.nn, repro.optim, repro.data, repro.dist
local kind, steps, micro, out, resume = arg[1], tonumber(arg[2]), tonumber(arg[3]), arg[4], arg[5]
steps, micro = math.tointeger(steps), math.tointeger(micro)
repro.manual_seed(3)
local L = data.shakespeare{ seq_len = 16, batch = 8, seed = 5, max_chars = 20000 }
local model = nn.Llama{ vocab = L.vocab_size, dim = 16, layers = 1, heads = 2, seq_len = 16, seed = 7 }
local o = { lr = 3e-3, betas = { 0.95, 0.95 }, weight_decay = 0.01 }
if kind ~= "adamw" then o.precondition_frequency = 2 end
local opt = optim[kind](model:parameters(), o)
local stop_at = tonumber(os.getenv("TEST_DIST_DIE_AT") or "")
local ready = os.getenv("TEST_DIST_READY")   -- PREFIX: each rank writes PREFIX.RANK = its pid at step 3
local function pid()
  local f = io.open("/proc/self/stat")
  local s = f and f:read("l")
  if f then f:close() end
  return s and s:match("^(%d+)")
end
local r = repro.train{ model = model, optimizer = opt, data = L, steps = steps, batch = 8, micro_batches = micro,
  grad_clip = 1.0, eval_every = 2, eval_batches = 1, quiet = true, bucket = 100,
  log = out .. ".tsv", checkpoint = out .. ".ck", checkpoint_every = 2, resume = resume == "resume",
  on_step = function(step)
    if ready and step == 3 then repro.util.write_file(ready .. "." .. dist.rank(), pid()) end
    if stop_at and step == stop_at and dist.rank() == 1 then error("rank 1 fails on purpose at step " .. step) end
  end }
local lines = {}
local tsv = dist.rank() == 0 and repro.util.read_tsv(out .. ".tsv") or nil
for i, v in ipairs(r.losses) do lines[#lines + 1] = string.format("loss %d %a", i + (r.resumed_from or 0), v) end
if tsv then
  local col = {}
  for i, c in ipairs(tsv.columns) do col[c] = i end
  for _, row in ipairs(tsv.rows) do
    lines[#lines + 1] = string.format("log %d %a %a %a", row[col.step], row[col.train_loss], row[col.grad_norm], row[col.val_loss])
  end
end
local sd = model:state_dict()
for _, k in ipairs(repro.util.sorted_keys(sd)) do
  lines[#lines + 1] = string.format("w %s %s", k, repro.core.io.fnv1a64(sd[k]))
end
-- every rank holds the same weights
local sums = {}
for _, k in ipairs(repro.util.sorted_keys(sd)) do sums[#sums + 1] = tonumber(repro.core.io.fnv1a64(sd[k]):sub(1, 12), 16) end
local all = dist.allgather(sums)
for rk = 1, dist.size() - 1 do
  for i = 1, #sums do assert(all[rk * #sums + i] == sums[i], "rank " .. rk .. " holds other weights than rank 0") end
end
if dist.rank() == 0 then repro.util.write_file(out, table.concat(lines, "\n") .. "\n") end
