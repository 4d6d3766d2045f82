-- Docstrings of repro.fp8 and its types (quantized tensors, delayed scaling,
-- linear recipes). lua/repro/fp8.lua's header has the full semantics.
return {
  ["fp8.formats"] = [=[fp8.formats() -> {"e4m3fn", "e5m2", ...}
The names of the 8-bit formats with codes (e4m3fn, e5m2, e4m3fnuz, e5m2fnuz, e4m3, e3m4, e8m0fnu); "bf16" and "fp16" are accepted by fp8.cast as well.]=],
  ["fp8.info"] = [=[fp8.info(fmt) -> {ebits, mbits, bias, max, min_normal, min_subnormal, inf, nan, negative_zero, signed, bits, name}
The parameters of a number format, as ml_dtypes' finfo: fp8.info("e4m3fn") has max 448, min_normal 2^-6, min_subnormal 2^-9 and no infinity. The REPL prints it as a table.]=],
  ["fp8.cast"] = [=[fp8.cast(x, fmt [, {saturate = false, rounding = "nearest" | "stochastic", generator =}]) -> Tensor
x rounded to the nearest value representable in fmt (round to nearest even, bit for bit as ml_dtypes), returned as f32. Without saturate, overflow gives inf or NaN as the format defines; stochastic rounding draws from generator (or the default generator).]=],
  ["fp8.encode"] = [=[fp8.encode(x, fmt [, {saturate, rounding, generator, scale = 1}]) -> Tensor
The u8 codes of x · scale in an 8-bit format (bf16 and fp16 have no 8-bit codes: use fp8.cast).]=],
  ["fp8.decode"] = [=[fp8.decode(codes, fmt [, {scale = 1}]) -> Tensor
f32 values of u8 codes, divided by scale.]=],
  ["fp8.quantize"] = [=[fp8.quantize(x, fmt [, {scale = 1, saturate = false, rounding =, generator =}]) -> fp8.Quantized
A quantized tensor: real one-byte codes of x · scale plus the scale, with counts of saturated and flushed values (q.saturated, q.flushed, q.numel). With an MX format ("mxfp8_e4m3", "mxfp8_e5m2", "mxfp6_e3m2", "mxfp6_e2m3", "mxfp4"; no options) x is quantized in blocks of 32 along its last dimension as OCP MX v1.0 says: q:scale() is a u8 tensor of e8m0fnu block scales (..., ceil(K/32)), q:codes() the element codes (..., K), packed two per byte for mxfp4 (..., ceil(K/2)); q:dequantize() gives back (..., K).]=],
  ["fp8.quantize_per_token"] = [=[fp8.quantize_per_token(x, fmt [, {margin = 0, pow2 = false, saturate = false}]) -> fp8.Quantized
Quantize with one current scale per row of the (-1, C) view; q:scale() is then an f32 tensor of the scales.]=],
  ["fp8.quantize_per_channel"] = [=[fp8.quantize_per_channel(x, fmt [, {margin = 0, pow2 = false, saturate = false}]) -> fp8.Quantized
Quantize with one current scale per column (the last dimension); q:scale() is an f32 tensor of the scales.]=],
  ["fp8.current_scale"] = [=[fp8.current_scale(amax, fmt [, {margin = 0, pow2 = false}]) -> number
fmt's max / amax / 2^margin (pow2 rounds down to a power of two); 1 when amax is 0 or not finite.]=],
  ["fp8.delayed_scaling"] = [=[fp8.delayed_scaling{history = 16, margin = 0, algo = "max" | "most_recent", fmt = "e4m3fn"} -> fp8.DelayedScaling
TransformerEngine's DelayedScaling recipe: cast with d:scale(), then d:update(amax); the scale follows the amax history.]=],
  ["fp8.linear_recipe"] = [=[fp8.linear_recipe{numerics = "fp8" | "bf16" | "fp32", scaling = "delayed" | "current", history = 16, margin = 0, algo = "max", saturate = true, pow2 = false, forward_format = "e4m3fn", backward_format = "e5m2", grad_rounding = "nearest" | "stochastic", seed = 0, backward_operand_format = nil, input_bf16 = false} -> fp8.LinearRecipe
The numerics of one linear layer: in fp8, forward_format (default E4M3) for the input and weight and backward_format (default E5M2) for the output gradient, one scale per role (any format with codes, e.g. "e3m2fn" or "e2m1fn"); in bf16, operands rounded to bf16. Accumulation is always fp32. pow2 rounds current and delayed scales down to a power of two; grad_rounding = "stochastic" rounds the output gradient stochastically (Philox stream seed, deterministic at any thread count); backward_operand_format (e.g. "e5m2") gives dgrad and wgrad copies of x and W in that format at the forward's scales (stats() then has input_bwd, weight_bwd); input_bf16 keeps the input in bf16 (the weight stays fp8).]=],
  ["fp8.linear"] = [=[fp8.linear(x, w [, recipe]) -> Tensor
y (..., out) = x (..., in) · w (out, in)ᵀ with the operands quantized as recipe says (nil: plain fp32); differentiable, delayed scales update after use.]=],
  ["fp8.swiglu"] = [=[fp8.swiglu(x, w1, w2, w3 [, {recipes = {r1, r2, r3}, smooth = nil | "channel" | "token", statistic = "output" | "linear"}]) -> y, {h_amax =}
The SwiGLU MLP with each product through its recipe; smooth = "channel" is Smooth-SwiGLU (h scaled per channel before W3's quantization, undone in W3), "token" one scale per token undone on the output row. statistic: the maxima are taken over h itself ("output") or over the linear branch x·w2ᵀ ("linear", as the paper's reference code). Returns the output and the max |h|.]=],

  ["fp8.Quantized:dequantize"] = [=[q:dequantize() -> Tensor
The f32 values the codes stand for, divided by the scale.]=],
  ["fp8.Quantized:codes"] = [=[q:codes() -> Tensor
The u8 codes.]=],
  ["fp8.Quantized:scale"] = [=[q:scale() -> number | Tensor
The scale the values were multiplied by before encoding (an f32 tensor of scales for per-token or per-channel quantization).]=],
  ["fp8.Quantized:amax"] = [=[q:amax() -> number
max |x| of the tensor that was quantized.]=],
  ["fp8.Quantized:format"] = [=[q:format() -> string
The format name, e.g. "e4m3fn".]=],

  ["fp8.DelayedScaling:scale"] = [=[d:scale() -> number
The scale to cast with at this step.]=],
  ["fp8.DelayedScaling:update"] = [=[d:update(amax) -> number
Push amax into the history and compute the next scale (kept when the amax is 0 or not finite); returns it.]=],
  ["fp8.DelayedScaling:state"] = [=[d:state() -> {scale =, amax_history = {...}}
The recipe's state, for checkpoints.]=],
  ["fp8.DelayedScaling:load_state"] = [=[d:load_state(state)
Restore a state returned by d:state().]=],

  ["fp8.LinearRecipe:stats"] = [=[r:stats() -> {input = {...}, weight = {...}, grad_output = {...}}
Per role, the statistics of its latest use: amax, scale, saturated, flushed, numel, calls.]=],
  ["fp8.LinearRecipe:state"] = [=[r:state() -> table
The delayed-scaling state of every role, for checkpoints.]=],
  ["fp8.LinearRecipe:freeze"] = [=[r:freeze(on) -> boolean
While frozen, uses of the recipe record no statistics and leave the delayed-scaling histories alone (evaluation forwards); returns the previous setting.]=],
  ["fp8.LinearRecipe:reseed"] = [=[r:reseed(seed)
Restart the stream of the stochastic gradient rounding with an integer seed >= 0 (nn.Llama gives each linear its own).]=],
  ["fp8.LinearRecipe:load_state"] = [=[r:load_state(state)
Restore a state returned by r:state().]=],
}
