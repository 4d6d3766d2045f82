-- repro.fp8exp: shared pieces of the FP8 experiments (experiments/fp8_*.lua):
-- the statistics (W1/W2 per-channel cosine, per-channel amax of the SwiGLU
-- output, overflow counts by hand, the delayed-scaling "surprise" ratio), a
-- fp32 probe of a model's weights, TSV helpers and small table printing.
--
-- The statistics are plain Lua over tensor:totable() so the test can check
-- them against hand computation without going through the FP8 module.
local T = require "repro.tensor"
local U = require "repro.util"

local X = {}

-- ---- statistics ----------------------------------------------------------------

-- Per-row cosine of two {F, D} matrices (tensors or nested tables): row i of
-- w1 against row i of w2. A zero row gives 0.
function X.cosines(w1, w2) return U.row_cosines(w1, w2, "fp8exp.cosines") end

-- Channel indices ordered by |v| descending (ties: lower index first); the first k.
function X.top_channels(v, k)
  local idx = {}
  for i = 1, #v do idx[i] = i end
  table.sort(idx, function(i, j)
    local a, b = math.abs(v[i]), math.abs(v[j])
    if a ~= b then return a > b end
    return i < j
  end)
  local out = {}
  for i = 1, math.min(k or #idx, #idx) do out[i] = idx[i] end
  return out
end

-- How many of the values have |v| > thr.
function X.count_above(v, thr)
  local n = 0
  for _, x in ipairs(v) do if math.abs(x) > thr then n = n + 1 end end
  return n
end

-- max |v| of a list (NaN if any NaN).
function X.list_amax(v)
  local m = 0.0
  for _, x in ipairs(v) do
    if x ~= x then return 0 / 0 end
    if math.abs(x) > m then m = math.abs(x) end
  end
  return m
end

-- Overflow boundary of a round-to-nearest-even cast: a scaled value x
-- overflows when |x| > thr (strict) or |x| >= thr (inclusive). The boundary
-- is halfway between the largest finite value and the next binade step; at
-- the tie RNE keeps max if max's last mantissa bit is even (e4m3fn: 448 =
-- 1.110b·2^8, so 464 still gives 448) and rounds away if odd (e5m2: 57344 =
-- 1.11b·2^15, so 61440 gives inf).
local BOUNDS = {
  e4m3fn = { max = 448, thr = 464, inclusive = false },
  e5m2 = { max = 57344, thr = 61440, inclusive = true },
}
function X.overflow_bound(fmt)
  local b = BOUNDS[fmt]
  if not b then error("fp8exp.overflow_bound: format must be e4m3fn or e5m2, got " .. tostring(fmt), 2) end
  return b.thr, b.inclusive, b.max
end

-- Elements of v (a list or a tensor) whose |v * scale| overflows fmt (NaN not counted).
function X.count_overflow(v, scale, fmt)
  if type(v) ~= "table" then
    local flat = {}
    local function walk(t) for _, x in ipairs(t) do if type(x) == "table" then walk(x) else flat[#flat + 1] = x end end end
    local tv = v:totable()
    if type(tv) == "table" then walk(tv) else flat[1] = tv end
    v = flat
  end
  local thr, incl = X.overflow_bound(fmt)
  local n = 0
  for _, x in ipairs(v) do
    local a = math.abs(x * scale)
    if a == a and (a > thr or (incl and a == thr)) then n = n + 1 end
  end
  return n
end

-- The quantity delayed scaling gets wrong: this step's amax over the largest
-- amax of the previous `len` steps (history: a list, oldest first). 1 when
-- there is no history. Under a non-saturating cast with margin m, a step
-- overflows when this exceeds about 2^m (times 464/448 for e4m3fn).
function X.surprise(history, amax, len)
  local m = 0.0
  for i = math.max(1, #history - (len or #history) + 1), #history do
    if history[i] > m then m = history[i] end
  end
  if m <= 0 then return 1.0 end
  return amax / m
end

-- Per-channel kurtosis E[(h - mean)^4] / E[(h - mean)^2]^2 over the rows of
-- a (tokens, channels) tensor (3 for a Gaussian; He et al. 2024, arXiv
-- 2405.19279, track it as the signature of outlier features). A constant
-- channel gives 0.
function X.channel_kurtosis(h)
  local d = h - h:mean(1, true)
  local d2 = d * d
  local m2, m4 = d2:mean(1):totable(), (d2 * d2):mean(1):totable()
  local out = {}
  for i = 1, #m2 do out[i] = m2[i] > 0 and m4[i] / (m2[i] * m2[i]) or 0.0 end
  return out
end

-- mean and sample standard deviation of a list: util.mean_sd (sd 0 for one value;
-- NaN for none; non-finite values make both NaN).
X.mean_sd = U.mean_sd

-- The pre-registered verdict on an arm (docs/fp8.md): "diverged" when any
-- seed's final loss is not finite, "degraded" when the arm's mean final loss
-- exceeds the reference's by more than 3 reference seed standard deviations,
-- else "ok". Returns verdict, gap, threshold.
function X.verdict(arm_losses, ref_losses)
  for _, x in ipairs(arm_losses) do
    if x ~= x or x == math.huge or x == -math.huge then return "diverged", 0 / 0, 0 / 0 end
  end
  local ma = X.mean_sd(arm_losses)
  local mr, sr = X.mean_sd(ref_losses)
  local gap, thr = ma - mr, 3 * sr
  if gap ~= gap then return "diverged", gap, thr end
  return gap > thr and "degraded" or "ok", gap, thr
end

-- ---- the fp32 probe --------------------------------------------------------------
-- A fp32 copy of a Llama whose SwiGLU layers record h = silu(x W1ᵀ) ⊙ (x W2ᵀ)
-- per channel. Probing the training model itself would advance its FP8
-- recipes' amax histories and change the run; the probe reads the weights only.

local Probe = {}
Probe.__index = Probe

local function hook_swiglu(mlp, rec, layer)
  local cls = getmetatable(mlp)
  local sub = setmetatable({}, { __index = cls })
  for k, v in pairs(cls) do if k:sub(1, 2) == "__" then sub[k] = v end end
  sub.__index = sub
  sub.__call = function(self, x)
    local h = self.w1(x):silu() * self.w2(x)
    local F = self.ffn_dim
    local hv = h:view(-1, F)
    local ch = hv:abs():amax(1):totable()
    rec[layer] = { channel_amax = ch, amax = X.list_amax(ch), kurtosis = X.channel_kurtosis(hv) }
    return self.w3(h)
  end
  setmetatable(mlp, sub)
end

-- X.probe(nn, config): config = a Llama config table (model.config).
function X.probe(nn, config)
  local c = U.deepcopy(config)
  c.numerics, c.fp8 = "fp32", nil
  c.mlp = "swiglu"   -- in fp32 Smooth-SwiGLU is the same function
  c.seed = 1
  local shadow = nn.Llama(c)
  local self = setmetatable({ model = shadow, rec = {} }, Probe)
  for l, b in ipairs(shadow.blocks) do hook_swiglu(b.mlp, self.rec, l) end
  return self
end

-- Copy the weights of `model` and run ids through the copy; returns
-- {[layer] = {channel_amax = {...}, amax =, cos = {...}}}.
function Probe:run(model, ids)
  local sd = {}
  for _, np in ipairs(model:named_parameters()) do sd[np[1]] = np[2] end
  T.no_grad(function()
    self.model:load_state_dict(sd, { strict = false })
    self.model:forward(ids)
  end)
  local out = {}
  for l, b in ipairs(self.model.blocks) do
    out[l] = self.rec[l]
    out[l].cos = X.cosines(b.mlp.w1.weight, b.mlp.w2.weight)
  end
  return out
end

-- Per-layer digest of a probe: the largest and mean channel kurtosis of h,
-- the W1/W2 cosine of the channel with the largest max_t |h_ti| (the outlier
-- channel) and the mean |cos| of the 5 largest.
function X.probe_digest(p)
  local kmax, ksum = 0.0, 0.0
  for _, k in ipairs(p.kurtosis) do if k > kmax then kmax = k end; ksum = ksum + k end
  local top = X.top_channels(p.channel_amax, 5)
  local c5 = 0.0
  for _, i in ipairs(top) do c5 = c5 + math.abs(p.cos[i]) end
  return { kurt_max = kmax, kurt_mean = ksum / math.max(1, #p.kurtosis), cos_top1 = p.cos[top[1]] or 0 / 0,
           abscos_top5 = c5 / math.max(1, #top) }
end

-- A loader that puts a BOS token (id vocab + 1) at the start of every
-- sequence: x = BOS, t_1 .. t_{T-1} and y = t_1 .. t_T (the next token of each
-- position), with the wrapped loader's windows; vocab_size grows by one.
function X.with_bos(data)
  local w = setmetatable({ vocab_size = data.vocab_size + 1, tokenizer = data.tokenizer }, { __index = data })
  local bos = data.vocab_size + 1
  function w:batch(split, B, T_)
    local x = data:batch(split, B, T_)
    local b, t = x:shape()[1], x:shape()[2]
    local col = T.full({ b, 1 }, bos):int()
    local xs = T.cat({ col, x:narrow(2, 1, t - 1) }, 2):contiguous()
    return xs, x:contiguous()
  end
  return w   -- get_state / set_state reach the wrapped loader's samplers through __index
end

-- The FP8 statistics of the last step, summed the way the figures use them:
-- {h_amax = {per layer}, sat_h = {per layer: saturated/overflowed values of
-- the W3 input}, sat_fwd = all forward (input + weight) saturations,
-- sat_bwd = all grad_output saturations, scale_h = {per layer: W3 input scale}}.
function X.fp8_step_stats(model)
  local out = { h_amax = {}, sat_h = {}, scale_h = {}, sat_fwd = 0, sat_bwd = 0 }
  for l, b in ipairs(model.blocks) do
    out.h_amax[l] = b.mlp.h_amax or 0 / 0
    local r = b.mlp.w3.recipe
    local st = r and r:stats() or nil
    out.sat_h[l] = st and st.input and st.input.saturated or 0
    out.scale_h[l] = st and st.input and st.input.scale or 0 / 0
  end
  for _, nl in ipairs(model:linears()) do
    local r = nl[2].recipe
    local st = r and r:stats() or nil
    if st then
      out.sat_fwd = out.sat_fwd + ((st.input and st.input.saturated) or 0) + ((st.weight and st.weight.saturated) or 0)
      out.sat_bwd = out.sat_bwd + ((st.grad_output and st.grad_output.saturated) or 0)
    end
  end
  return out
end

-- Names of the linears whose last use saturated/overflowed, by role: "layers.1.mlp.w3.input=12 ...".
function X.saturation_report(model, roles)
  local parts = {}
  for _, nl in ipairs(model:linears()) do
    local r = nl[2].recipe
    local st = r and r:stats() or nil
    if st then
      for _, role in ipairs(roles or { "input", "weight", "grad_output" }) do
        if st[role] and (st[role].saturated or 0) > 0 then
          parts[#parts + 1] = string.format("%s.%s=%d", nl[1], role, st[role].saturated)
        end
      end
    end
  end
  return table.concat(parts, " ")
end

-- ---- files -------------------------------------------------------------------------

-- {name = {values...}} of a TSV written by repro.train or Exp:write_tsv.
function X.read_columns(path)
  local t, err = U.read_tsv(path)
  if not t then error("fp8exp.read_columns: cannot read '" .. tostring(path) .. "': " .. tostring(err), 2) end
  local cols = {}
  for i, c in ipairs(t.columns) do
    local v = {}
    for r, row in ipairs(t.rows) do v[r] = row[i] end
    cols[c] = v
  end
  cols._names = t.columns
  cols._n = #t.rows
  return cols
end

-- Append rows to a TSV (header written when the file is new).
function X.tsv_appender(path, columns)
  U.mkdir_p(U.dirname(path))
  local f = assert(io.open(path, "w"))
  f:write(table.concat(columns, "\t"), "\n")
  return {
    add = function(_, row)
      local cells = {}
      for i, v in ipairs(row) do cells[i] = U.tsv_number(v) end
      f:write(table.concat(cells, "\t"), "\n")
    end,
    close = function() f:close() end,
  }
end

-- A fixed-width text table: header = {...}, rows = {{...}, ...}.
function X.format_table(header, rows)
  local w = {}
  local function cell(v)
    if type(v) == "number" then
      if math.type(v) == "integer" then return tostring(v) end
      if v ~= v then return "NaN" end
      return string.format("%.4g", v)
    end
    return tostring(v)
  end
  local all = { header }
  for _, r in ipairs(rows) do all[#all + 1] = r end
  for _, r in ipairs(all) do
    for i = 1, #header do local s = cell(r[i]); w[i] = math.max(w[i] or 0, #s) end
  end
  local lines = {}
  for k, r in ipairs(all) do
    local cells = {}
    for i = 1, #header do local s = cell(r[i]); cells[i] = s .. string.rep(" ", w[i] - #s) end
    lines[#lines + 1] = table.concat(cells, "  ")
    if k == 1 then
      local d = {}
      for i = 1, #header do d[i] = string.rep("-", w[i]) end
      lines[#lines + 1] = table.concat(d, "  ")
    end
  end
  return table.concat(lines, "\n")
end

-- "figure: PATH", or what went wrong drawing it (gnuplot's own message).
function X.figure_line(res)
  if res.rendered then return "figure: " .. res.png end
  return "figure not drawn (" .. tostring(res.error or "unknown reason"):gsub("%s+$", ""):gsub("\n", " | ") .. "); its data: " .. res.tsv
end

-- The folder the figures of experiment exp go to: cfg.figdir if set; else
-- figures/NAME/PRESET under the source tree when the run is the preset
-- unchanged (never for the smoke preset) (so the committed figures are only ever replaced by a run of
-- their own configuration); else the run's output folder.
function X.figdir(exp, cfg)
  if cfg.figdir and cfg.figdir ~= "" then return cfg.figdir end
  if exp.preset == "smoke" then return exp:path("figures") end   -- the test's preset never publishes
  if not exp.pristine then
    local dir = exp:path("figures")
    io.stderr:write("[" .. exp.name .. "] settings differ from the preset: figures go to " .. dir .. "\n")
    return dir
  end
  return U.join(U.source_dir(), "figures", exp.name, exp.preset)
end

return X
