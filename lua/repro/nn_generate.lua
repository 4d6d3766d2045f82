-- repro.nn_generate: what generation and RL add to repro.nn: Module:clone(),
-- Module:freeze(), Module:forward_no_grad(...), and on nn.Llama a masked
-- forward (left padding) and generate() with a preallocated K/V cache.
-- repro.nn installs these methods when it loads (install(nn, Llama)).
--
-- Positions and padding: prompts of different lengths are LEFT padded to one
-- width T0; `lengths` gives each row's real length, and a key mask hides the
-- padding from every query. RoPE rotates by the absolute slot (0-based)
-- including the padding; attention scores depend only on the difference of
-- two positions, so a padded row computes what the unpadded prompt would
-- (up to rounding).
local T = require "repro.tensor"

local G = {}

local function shape_str(s) return "{" .. table.concat(s, ",") .. "}" end

local function is_int(v) return math.type(v) == "integer" end

-- ---- Module: clone, freeze, forward without a graph -------------------------

-- A deep copy: every tensor cloned (parameters keep requires_grad), every
-- table copied with its metatable, shared sub-tables stay shared. Userdata
-- other than tensors (an FP8 recipe's state) cannot be copied: an error.
local function deep_clone(v, seen, path)
  if T.is_tensor(v) then
    if seen[v] then return seen[v] end
    local c = T.no_grad(function() return v:detach():clone() end)
    if v.requires_grad then c:requires_grad_(true) end
    seen[v] = c
    return c
  end
  local tv = type(v)
  if tv == "userdata" then error("clone: cannot copy the userdata at " .. path, 3) end
  if tv ~= "table" then return v end
  if seen[v] then return seen[v] end
  local c = {}
  seen[v] = c
  for k, x in pairs(v) do c[k] = deep_clone(x, seen, path .. "." .. tostring(k)) end
  return setmetatable(c, getmetatable(v))
end

local function install_module(Module)
  -- An independent copy of the module (parameters, buffers, settings): the
  -- frozen reference model of RL is model:clone():freeze().
  function Module:clone() return deep_clone(self, {}, self.classname or "module") end

  -- Parameters stop (on = false: start again) requiring gradients; returns self.
  function Module:freeze(on)
    local req = on == false
    for _, p in ipairs(self:parameters()) do
      p.grad = nil
      p:requires_grad_(req)
    end
    return self
  end

  -- self(...) with autograd off: the result records no graph.
  function Module:forward_no_grad(...)
    local args = table.pack(...)
    return T.no_grad(function() return self:forward(table.unpack(args, 1, args.n)) end)
  end
end

-- ---- attention over a cache ---------------------------------------------------

-- One attention sublayer on x (B, n, dim) at slots pos .. pos + n - 1
-- (0-based). cache {k, v} (B, H, Tmax, D) gets this chunk's keys and values
-- and the attention runs over slots 0 .. pos + n - 1; without a cache, over
-- this chunk only (pos must be 0). key_mask (B, >= pos + n) or nil.
local function attention(att, x, pos, cache, key_mask)
  local s = x:shape()
  local B, n, H, D = s[1], s[2], att.heads, att.head_dim
  local function heads(t) return t:view(B, n, H, D):transpose(2, 3) end
  local ropt = { base = att.rope_base, offset = pos }
  local q = T.rope(heads(att.wq(x)), ropt)
  local k = T.rope(heads(att.wk(x)), ropt)
  local v = heads(att.wv(x))
  local len = pos + n
  if cache then
    cache.k:narrow(3, pos + 1, n):copy_(k)
    cache.v:narrow(3, pos + 1, n):copy_(v)
    if pos > 0 then k, v = cache.k:narrow(3, 1, len), cache.v:narrow(3, 1, len) end
  end
  local y
  if key_mask then
    y = T.attention(q, k, v, { key_mask = key_mask:narrow(2, 1, len) })
  elseif pos == 0 then
    y = T.attention(q, k, v, att.att_opts)         -- the training kernel
  else
    y = T.attention(q, k, v, { causal = true })    -- n queries, the last of len keys
  end
  return att.wo(y:transpose(2, 3):contiguous():view(B, n, att.dim))
end

-- Logits (B, n, V) of ids (B, n) at slots pos.. through every block.
local function run_blocks(model, ids, pos, caches, key_mask)
  local x = model.tok_emb(ids)
  for l, b in ipairs(model.blocks) do
    x = x + attention(b.attn, b.attn_norm(x), pos, caches and caches[l], key_mask)
    x = x + b.mlp(b.mlp_norm(x))
  end
  x = model.norm(x)
  if model.config.tie_embeddings then return x:matmul(model.tok_emb.weight:t()) end
  return model.lm_head(x)
end

-- ---- argument checks ---------------------------------------------------------------

local function check_ids(model, ids, fn)
  if not T.is_tensor(ids) then error(fn .. ": ids must be an i32 tensor (B, T), got " .. type(ids), 3) end
  if ids:dtype() ~= "i32" or ids:dim() ~= 2 then
    error(string.format("%s: ids must be an i32 tensor (B, T), got %s %s", fn, ids:dtype(), shape_str(ids:shape())), 3)
  end
  local s = ids:shape()
  if s[1] < 1 or s[2] < 1 then error(fn .. ": ids " .. shape_str(s) .. " must be non-empty", 3) end
  return s[1], s[2]
end

-- lengths (table or i32 tensor of B integers in [1, T0]) -> (B, width) f32
-- key mask with zeros at the left padding; nil when nothing is padded.
local function padding_mask(lengths, B, T0, width, fn)
  if lengths == nil then return nil, nil end
  if T.is_tensor(lengths) then lengths = lengths:totable() end
  if type(lengths) ~= "table" or #lengths ~= B then
    error(string.format("%s: lengths must list %d prompt lengths, got %s", fn, B,
      type(lengths) == "table" and (#lengths .. " entries") or type(lengths)), 3)
  end
  local rows, any = {}, false
  for b = 1, B do
    local n = lengths[b]
    if not is_int(n) or n < 1 or n > T0 then
      error(string.format("%s: lengths[%d] = %s must be an integer in [1, %d]", fn, b, tostring(n), T0), 3)
    end
    local r = {}
    for t = 1, width do r[t] = t > T0 - n and 1 or 0 end
    rows[b] = r
    any = any or n < T0
  end
  if not any then return nil, lengths end
  return T.tensor(rows), lengths
end

-- ids with the padding replaced by id 1 (the padding may hold any value).
local function unpadded_ids(ids, lengths, T0)
  if not lengths then return ids end
  local t = ids:totable()
  for b, n in ipairs(lengths) do for i = 1, T0 - n do t[b][i] = 1 end end
  return T.tensor(t, { dtype = "i32" })
end

local function check_range(ids, V, fn, what)
  if ids:numel() == 0 then return end
  local lo, hi = T.no_grad(function() return ids:min():item(), ids:max():item() end)
  if lo < 1 or hi > V then
    error(string.format("%s: %s must lie in [1, %d], got values in [%d, %d]", fn, what, V, lo, hi), 3)
  end
end

-- ---- Llama methods -------------------------------------------------------------------

local GEN_OPTS = { steps = true, temperature = true, top_k = true, top_p = true, generator = true, seed = true,
                   forced = true, stop = true, cache = true, lengths = true, logits = true }

local function install_llama(Llama)
  -- ids (B, T) i32 -> logits (B, T, V) with the (B, T) key mask (nonzero = a
  -- real token; nil: none) hiding left padding. Differentiable; without a
  -- mask it is model:forward(ids).
  function Llama:forward_masked(ids, key_mask)
    local B, Tn = check_ids(self, ids, "forward_masked")
    if key_mask == nil then return self:forward(ids) end
    if not T.is_tensor(key_mask) or key_mask:dim() ~= 2 or key_mask:size(1) ~= B or key_mask:size(2) < Tn then
      error(string.format("forward_masked: key_mask must be a (B, T) = {%d,%d} tensor", B, Tn), 2)
    end
    return run_blocks(self, ids, 0, nil, key_mask)
  end

  -- ids (B, T0) i32 -> (B, T0 + steps) i32 ids, and an info table
  -- {lengths = prompt lengths (when given), stopped = per row the step
  -- (1..steps) that produced `stop`, or false, logits = (B, steps, V) when
  -- opts.logits: the distribution each generated id was drawn from, zeros
  -- after every row stopped}.
  function Llama:generate(ids, opts)
    opts = opts or {}
    local fn = "generate"
    if type(opts) ~= "table" then error("generate: options must be a table", 2) end
    for k in pairs(opts) do
      if not GEN_OPTS[k] then error("generate: unknown option '" .. tostring(k) .. "'", 2) end
    end
    local B, T0 = check_ids(self, ids, fn)
    local c = self.config
    local N = opts.steps
    if not is_int(N) or N < 1 then error("generate: steps must be a positive integer, got " .. tostring(N), 2) end
    if T0 > c.seq_len then
      error(string.format("generate: the prompt (%d tokens) is longer than the context (seq_len %d)", T0, c.seq_len), 2)
    end
    if T0 + N > c.seq_len then
      error(string.format("generate: prompt %d + steps %d = %d exceeds the context (seq_len %d)", T0, N, T0 + N,
        c.seq_len), 2)
    end
    local mask, lengths = padding_mask(opts.lengths, B, T0, T0 + N, fn)
    local feed = unpadded_ids(ids, mask and lengths, T0)
    check_range(feed, c.vocab, fn, "ids")
    local stop = opts.stop
    if stop ~= nil and (not is_int(stop) or stop < 1 or stop > c.vocab) then
      error(string.format("generate: stop must be an id in [1, %d], got %s", c.vocab, tostring(stop)), 2)
    end
    -- forced[pos] = id | {B ids} | i32 tensor (B), pos in T0+1 .. T0+N
    local forced = {}
    for pos, v in pairs(opts.forced or {}) do
      if not is_int(pos) or pos <= T0 or pos > T0 + N then
        error(string.format("generate: forced position %s outside the generated range [%d, %d]", tostring(pos),
          T0 + 1, T0 + N), 2)
      end
      local row
      if is_int(v) then row = {} for b = 1, B do row[b] = v end
      elseif T.is_tensor(v) then row = v:totable()
      elseif type(v) == "table" then row = v end
      if type(row) ~= "table" or #row ~= B then
        error(string.format("generate: forced[%d] must be an id or %d ids", pos, B), 2)
      end
      for b = 1, B do
        if not is_int(row[b]) or row[b] < 1 or row[b] > c.vocab then
          error(string.format("generate: forced[%d] id %s outside [1, %d]", pos, tostring(row[b]), c.vocab), 2)
        end
      end
      forced[pos] = row
    end
    local sopt = { temperature = opts.temperature or 1, top_k = opts.top_k, top_p = opts.top_p,
                   generator = opts.generator or (opts.seed and T.Generator(opts.seed)) or nil }
    local use_cache = opts.cache ~= false

    return T.no_grad(function()
      local out = T.zeros({ B, T0 + N }, { dtype = "i32" })
      out:narrow(2, 1, T0):copy_(feed)
      local caches
      if use_cache then
        caches = {}
        for l, b in ipairs(self.blocks) do
          local shape = { B, b.attn.heads, T0 + N, b.attn.head_dim }
          caches[l] = { k = T.zeros(shape), v = T.zeros(shape) }
        end
      end
      local function last(logits) return logits:select(2, logits:size(2)) end
      local logits = last(run_blocks(self, feed, 0, caches, mask))
      local done, ndone, stopped = {}, 0, {}
      for b = 1, B do stopped[b] = false end
      local kept = opts.logits and {} or nil
      for s = 1, N do
        local pos = T0 + s
        if kept then kept[s] = logits end
        local tok
        local f = forced[pos]
        if f then tok = T.tensor(f, { dtype = "i32" }) else tok = T.sample(logits, sopt) end
        if stop then
          local t = tok:totable()
          for b = 1, B do
            if done[b] then t[b] = stop
            elseif t[b] == stop then done[b] = true; ndone = ndone + 1; stopped[b] = s end
          end
          tok = T.tensor(t, { dtype = "i32" })
        end
        out:narrow(2, pos, 1):copy_(tok:view(B, 1))
        if s == N then break end
        if stop and ndone == B then
          out:narrow(2, pos + 1, N - s):fill_(stop)
          if kept then for r = s + 1, N do kept[r] = T.zeros(B, c.vocab) end end
          break
        end
        if use_cache then
          logits = last(run_blocks(self, tok:view(B, 1), pos - 1, caches, mask))
        else
          logits = last(run_blocks(self, out:narrow(2, 1, pos), 0, nil, mask))
        end
      end
      if mask then out:narrow(2, 1, T0):copy_(ids) end
      return out, { lengths = lengths, stopped = stop and stopped or nil,
                    logits = kept and T.stack(kept, 2) or nil }
    end)
  end
end

function G.install(nn, Llama)
  install_module(nn.Module)
  install_llama(Llama)
end

return G
