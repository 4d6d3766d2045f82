-- bench/lm_common.lua: what the language-model benchmarks share: the two
-- model shapes of the issues' targets, the command-line flags, and one timed
-- training step (random batch, forward, backward, AdamW) of nn.Llama.
--   local B = dofile(arg[0]:match("(.*/)") .. "lm_common.lua")
local repro = require "repro"
local T, nn, U = repro.tensor, repro.nn, require "repro.util"

local B = {
  configs = {
    { name = "small", dim = 128, layers = 4, heads = 4, seq_len = 128, batch = 16 },
    { name = "large", dim = 384, layers = 6, heads = 6, seq_len = 256, batch = 8 },
  },
  VOCAB = 65,
  WARMUP = 2,
}

-- --steps N and --only small|large from the script's arg.
function B.args(default_steps)
  local steps, only = default_steps, nil
  for i = 1, #arg do
    if arg[i] == "--steps" then steps = math.tointeger(tonumber(arg[i + 1])) end
    if arg[i] == "--only" then only = arg[i + 1] end
  end
  return steps, only
end

-- A function that runs one training step of config c with the given numerics
-- and returns its wall-clock seconds (os.clock would sum the CPU time of all
-- threads). Same seed, same weights and batches for every call of trainer.
function B.trainer(c, numerics)
  repro.manual_seed(0)
  local m = nn.Llama{ vocab = B.VOCAB, dim = c.dim, layers = c.layers, heads = c.heads, seq_len = c.seq_len,
                      seed = 0, numerics = numerics or "fp32" }
  local opt = repro.optim.adamw(m:parameters(), { lr = 1e-3, weight_decay = 0.0 })
  local g = T.Generator(1)
  return function()
    local t0 = U.now()
    local ids = T.randint(1, B.VOCAB + 1, { c.batch, c.seq_len + 1 }, { generator = g, dtype = "i32" })
    opt:zero_grad()
    local loss = m:loss(ids:narrow(2, 1, c.seq_len), ids:narrow(2, 2, c.seq_len))
    loss:backward()
    opt:step()
    return U.now() - t0
  end
end

return B
