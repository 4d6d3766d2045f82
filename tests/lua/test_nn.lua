-- tests/lua/test_nn.lua: nn modules: parameter bookkeeping, state dicts,
-- deterministic init, Llama forward/loss, statistics hooks, and a gradient
-- check of a whole transformer block.
local A = dofile(arg[0]:match("(.*/)") .. "assert.lua")
local repro = require "repro"
local T, nn = repro.tensor, repro.nn

local function tiny(seed, extra)
  local o = { vocab = 11, dim = 16, layers = 2, heads = 2, seq_len = 8, seed = seed or 1 }
  for k, v in pairs(extra or {}) do o[k] = v end
  return nn.Llama(o)
end

local function ids_tensor(B, Tn, V, seed)
  local rows, s = {}, seed or 7
  for b = 1, B do
    rows[b] = {}
    for t = 1, Tn do s = (s * 1103515245 + 12345) % 2147483648; rows[b][t] = s % V + 1 end
  end
  return T.tensor(rows, { dtype = "i32" })
end

A.test("parameters, names, counts, summary", function()
  local m = tiny()
  local ffn = nn.default_ffn_dim(16)
  A.eq(48, ffn, "8/3*16 rounded up to a multiple of 8")
  local per_layer = 4 * 16 * 16 + 3 * 16 * ffn + 2 * 16
  A.eq(11 * 16 + 2 * per_layer + 16 + 11 * 16, m:num_parameters(), "parameter count")
  local np = m:named_parameters()
  for i = 2, #np do A.truthy(np[i - 1][1] < np[i][1], "sorted names") end
  A.eq(#np, #m:parameters())
  A.eq("layers.1.attn_norm.weight", m:named_parameters_ordered()[2][1], "registration order")
  A.eq("layers.1.attn.wq.weight", m:named_parameters_ordered()[3][1], "registration order")
  local s = tostring(m)
  A.truthy(s:find("Llama", 1, true) and s:find("total: " .. m:num_parameters() .. " parameters", 1, true), "summary")
  m:eval(); A.eq(false, m.blocks[1].attn.training); m:train(); A.eq(true, m.blocks[2].mlp.w1.training)
  local tied = tiny(1, { tie_embeddings = true })
  A.eq(m:num_parameters() - 11 * 16, tied:num_parameters(), "tied head shares the embedding")
  A.raises(function() nn.Llama{ vocab = 11, dim = 15, layers = 1, heads = 2 } end, "not divisible by heads")
  A.raises(function() nn.Llama{ vocab = 11, dim = 16, layers = 1, heads = 2, mlp = "relu" } end, "mlp must be")
end)

A.test("deterministic init and state dict round trip", function()
  local a, b, c = tiny(3), tiny(3), tiny(4)
  local wa, wb, wc = a.blocks[1].mlp.w1.weight:totable(), b.blocks[1].mlp.w1.weight:totable(), c.blocks[1].mlp.w1.weight:totable()
  A.allclose(wa, wb, 0, "same seed, same weights")
  A.truthy(wa[1][1] ~= wc[1][1], "another seed, other weights")
  -- std 0.02
  local flat, s2 = 0, 0.0
  for _, row in ipairs(a.tok_emb.weight:totable()) do for _, v in ipairs(row) do flat = flat + 1; s2 = s2 + v * v end end
  A.near(0.02, math.sqrt(s2 / flat), 0.004, "init std")
  c:load_state_dict(a:state_dict())
  A.allclose(wa, c.blocks[1].mlp.w1.weight:totable(), 0, "loaded")
  local sd = a:state_dict()
  sd["layers.1.attn.wq.weight"] = nil
  sd["extra.weight"] = T.zeros(2)
  local e = A.raises(function() c:load_state_dict(sd) end, "missing keys: layers.1.attn.wq.weight")
  A.truthy(e:find("unexpected keys: extra.weight", 1, true), "unexpected key named")
  local sd2 = a:state_dict()
  sd2["norm.weight"] = T.zeros(5)
  A.raises(function() c:load_state_dict(sd2) end, "norm.weight: model {16}, checkpoint {5}")
end)

A.test("forward shape, initial loss near log(vocab), stats do not change outputs", function()
  local m = tiny(5)
  local x = ids_tensor(2, 8, 11)
  local logits = m(x)
  local s = logits:shape()
  A.eq(2, s[1]); A.eq(8, s[2]); A.eq(11, s[3])
  local y = ids_tensor(2, 8, 11, 99)
  A.near(math.log(11), m:loss(x, y):item(), 0.1, "loss at init")
  m:collect_stats(true)
  local l2 = m(x)
  m:collect_stats(false)
  A.allclose(logits:totable(), l2:totable(), 0, "stats hooks leave the outputs alone")
  local st = m:stats()
  A.truthy(st["layers.1.mlp.h_amax"] > 0, "h amax")
  A.truthy(st["layers.2.attn.wq.amax_in"] > 0, "linear input amax")
  A.truthy(st["layers.1.mlp.w3.amax_in"] > 0, "w3 input amax")
  local cos = m:swiglu_alignment(1)
  A.eq(m.config.ffn_dim, #cos, "one cosine per channel")
  local w1, w2 = m.blocks[1].mlp.w1.weight:totable(), m.blocks[1].mlp.w2.weight:totable()
  local d, n1, n2 = 0, 0, 0
  for j = 1, 16 do d = d + w1[3][j] * w2[3][j]; n1 = n1 + w1[3][j] ^ 2; n2 = n2 + w2[3][j] ^ 2 end
  A.near(d / math.sqrt(n1 * n2), cos[3], 1e-6, "cosine of channel 3")
  A.near(st["layers.1.mlp.align_max"], math.max(table.unpack(cos)), 1e-12)
  A.raises(function() m:swiglu_alignment(3) end, "outside 1..2")
end)

A.test("gradcheck of a whole transformer block", function()
  local blk = nn.TransformerBlock{ dim = 8, heads = 2, ffn_dim = 16, seed = 11 }
  -- larger weights than the 0.02 init so every path carries a visible gradient
  local g = T.Generator(12)
  local names, inputs = {}, {}
  local x = T.randn({ 1, 4, 8 }, { generator = g, requires_grad = true })
  inputs[1] = x
  for _, np in ipairs(blk:named_parameters_ordered()) do
    local w = T.randn(np[2]:shape(), { generator = g }) * 0.2 + (np[1]:find("norm") and 1 or 0)
    w = w:detach(); w.requires_grad = true
    names[#names + 1] = np[1]; inputs[#inputs + 1] = w
  end
  local function install(args)
    for i, n in ipairs(names) do
      local mod = blk
      local path = {}
      for seg in n:gmatch("[^.]+") do path[#path + 1] = seg end
      for k = 1, #path - 1 do mod = mod[path[k]] end
      mod[path[#path]] = args[i + 1]
      mod._params[path[#path]] = args[i + 1]
    end
  end
  local ok, err = T.gradcheck(function(...)
    local args = { ... }
    install(args)
    return blk(args[1])
  end, inputs)
  A.truthy(ok, "gradcheck: " .. tostring(err))
end)

A.done("test_nn")
