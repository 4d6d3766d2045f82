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

-- --steps N, --only small|large and --attention blocked|fused from the
-- script's arg. The benchmarks train with the fused attention kernel unless
-- told otherwise (the library's default stays the kernel the committed
-- results were made with).
function B.args(default_steps)
  local steps, only, attention = default_steps, nil, "fused"
  for i = 1, #arg do
    if arg[i] == "--steps" then steps = math.tointeger(tonumber(arg[i + 1])) end
    if arg[i] == "--only" then only = arg[i + 1] end
    if arg[i] == "--attention" then attention = arg[i + 1] end
  end
  return steps, only, attention
end

-- Model FLOPs of one trained token (forward + backward): 6 per parameter
-- that multiplies (all but the token embedding, a lookup), after Kaplan et
-- al. 2020 and PaLM's MFU (Chowdhery et al. 2022, appendix B), plus the
-- attention's products: per layer q kᵀ and P v over the causal half of the
-- keys, 2 · 2 · (T / 2) · dim forward, 3x that with the backward = 6 T dim.
-- (PaLM counts 12 T dim, all keys; the causal kernels skip the masked half.)
function B.flops_per_token(c, model)
  local n = model:num_parameters() - model.tok_emb.weight:numel()
  return 6 * n + 6 * c.layers * c.seq_len * c.dim
end

-- A function that runs one training step of config c with the given numerics
-- and returns its wall-clock seconds (os.clock would sum the CPU time of all
-- threads), and the model. Same seed, same weights and batches for every
-- call of trainer. attention: nn.Llama's option (nil: the library default).
function B.trainer(c, numerics, attention)
  repro.manual_seed(0)
  local m = nn.Llama{ vocab = B.VOCAB, dim = c.dim, layers = c.layers, heads = c.heads, seq_len = c.seq_len,
                      seed = 0, numerics = numerics or "fp32", attention = attention }
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
  end, m
end

return B
