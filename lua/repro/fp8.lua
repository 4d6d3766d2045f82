--[[ repro.fp8: low-precision numerics (issue 4; Fishman et al. 2024, arXiv 2409.12517).
All functions are C bindings (lua/l_fp8.c over core/fp8.c, core/fp8_linear.c).

FORMATS  "e4m3fn", "e5m2", "e4m3fnuz", "e5m2fnuz", "e4m3", "e3m4", "e8m0fnu" (8-bit,
with codes) and "bf16", "fp16" (16-bit: casts only). Casts equal the ml_dtypes
package bit for bit: round to nearest even; without saturate, overflow gives
inf where the format has one (e5m2, e4m3, e3m4), NaN otherwise (e4m3fn 0x7F/0xFF,
fnuz 0x80, e8m0fnu 0xFF); -0 -> 0x80 except fnuz (0x00); e8m0fnu (unsigned,
no zero) rounds ties up and maps 0 and negatives to NaN. `saturate = true`
clamps finite overflow and +-inf to +-max (NaN stays NaN).

  fp8.formats()                          --> {"e4m3fn", ...}
  fp8.info(fmt)                          --> {ebits, mbits, bias, max, min_normal,
                                              min_subnormal, inf, nan, negative_zero, signed, bits, name}
  fp8.cast(t, fmt, {saturate=false, rounding="nearest"|"stochastic", generator=})
                                         --> f32 tensor of representable values (any format)
  fp8.encode(t, fmt, {saturate, rounding, generator, scale=1})
                                         --> u8 tensor of codes of t*scale (8-bit formats only;
                                             bf16/fp16 raise an error: use fp8.cast)
  fp8.decode(codes, fmt, {scale=1})      --> f32 tensor value(code)/scale (codes must be u8)
Stochastic rounding rounds up with probability (x - lo)/(hi - lo), from the
counter-based generator: `generator` is a repro.Generator or an integer seed;
default: the global generator (repro.manual_seed).

QUANTIZED TENSORS (real 1-byte codes + scale)
  local q = fp8.quantize(t, fmt, {scale=1, saturate=false, rounding=, generator=})
  q:dequantize() --> f32;  q:codes() --> u8 tensor;  q:scale() --> number;  q:amax() --> max|t|
  fp8.quantize(t, "mxfp8_e4m3"|"mxfp8_e5m2"|"mxfp6_e3m2"|"mxfp6_e2m3"|"mxfp4")   -- MX blocks of 32
     along the last dim: q:scale() --> u8 e8m0fnu scales, q:codes() packed 2 per byte for mxfp4
  q.saturated  -- non-NaN values whose |t*scale| rounded above max (or were inf): clamped or overflowed
  q.flushed    -- nonzero values whose code is zero;  q.numel
  q.granularity -- "tensor" (fp8.quantize), "token" or "channel" (the per-row / per-column ones)
  fp8.quantize_per_token(t, fmt, {margin=0, pow2=false, saturate=false})
  fp8.quantize_per_channel(t, fmt, {...})
    -- one current scale per row (token) / per column (channel, the last dim) of
    -- the (-1, C) view; q:scale() is then an f32 tensor of the scales.

SCALING RECIPES
  fp8.current_scale(amax, fmt, {margin=0, pow2=false})
    --> fmt_max / amax / 2^margin; pow2 rounds down to 2^floor(log2(.)); 1 if amax is 0 or not finite
  local d = fp8.delayed_scaling{history=16, margin=0, algo="max"|"most_recent", fmt="e4m3fn"}
    -- TransformerEngine DelayedScaling: cast this step with d:scale(), then d:update(amax):
    -- the amax enters the history, amax = max(history) or the most recent one,
    -- scale = (fmt_max / amax) / 2^margin, kept when amax is 0 or not finite.
  d:scale(); d:update(amax) --> new scale; d:state() --> {scale=, amax_history={...}}; d:load_state(s)

LINEAR AND SWIGLU (differentiable; accumulation always fp32)
  local r = fp8.linear_recipe{numerics="fp8"|"bf16"|"fp32", scaling="delayed"|"current",
                              history=16, margin=0, algo="max", saturate=true, pow2=false}
  local y = fp8.linear(x, w, r)     -- y (..., out) = x (..., in) · w (out, in)ᵀ; r nil = fp32
    fp8:  forward Q_e4m3(x)·Q_e4m3(w)ᵀ, backward Q_e5m2(g)·Q(w) and Q_e5m2(g)ᵀ·Q(x), one scale
          per role (input, weight, grad_output); delayed scales update after use.
    bf16: x, w and the output gradient rounded to bf16 (RNE).
  r:stats() --> {input={amax, scale, saturated, flushed, numel, calls}, weight={...}, grad_output={...}}
              (statistics of each role's latest use)
  r:state() / r:load_state(s)       -- delayed-scaling states per role, for checkpoints
  local y, info = fp8.swiglu(x, w1, w2, w3, {recipes={r1, r2, r3}, smooth=nil|"channel"|"token"})
    -- h = silu(x w1ᵀ) ⊙ (x w2ᵀ), y = h w3ᵀ; w1, w2 (f, d), w3 (d, f); info.h_amax = max|h|.
    -- smooth="channel": h_i *= 1/max_t|h_ti| before w3's quantization, w3's column i *= max_t|h_ti|
    --   (Smooth-SwiGLU, the paper's Q(s ⊙ h)·Q(s⁻¹ ⊙ w3));
    -- smooth="token": one s per token (max over the FFN dimension), undone on the output row.
]]
local core = require "repro.core"

local fp8 = {}
for k, v in pairs(core.fp8) do fp8[k] = v end

return fp8
