-- Docstrings of repro.nn: the layers, the Module base type and nn.Llama.
-- Generation methods of nn.Llama are documented in their own file.
return {
  -- ---- constructors -------------------------------------------------------------
  ["nn.Linear"] = [=[nn.Linear(in, out [, {bias = false, numerics = "fp32", fp8 =, std = 0.02, generator =, seed =}]) -> nn.Linear
A fully connected layer y = x Wᵀ (+ b), W of shape {out, in} as in PyTorch, drawn from N(0, std²). Sizes positionally or in a table (nn.Linear{8, 4, bias = true}, nn.Linear{in_features = 8, out_features = 4}); a missing or non-positive size, a stray argument or an unknown option raises at construction naming it. numerics "bf16" or "fp8" routes the product through fp8.linear with a recipe built from the fp8 options.]=],
  ["nn.Embedding"] = [=[nn.Embedding(num, dim [, {std = 0.02, generator =, seed =}]) -> nn.Embedding
A lookup table of num vectors of size dim; called on an i32 tensor of 1-based ids in 1..num it returns (ids..., dim). Sizes positionally or as nn.Embedding{num, dim}.]=],
  ["nn.RMSNorm"] = [=[nn.RMSNorm(dim [, {eps = 1e-5}]) -> nn.RMSNorm
Root-mean-square normalisation over the last dimension with a learned gain of size dim (initialised to 1). Also nn.RMSNorm{dim, eps = ...}.]=],
  ["nn.Sequential"] = [=[nn.Sequential(m1, m2, ...) | nn.Sequential{m1, m2, ...} -> nn.Sequential
Apply modules (and plain functions of one tensor, such as T.relu) in order: nn.Sequential(nn.Linear(4, 8), T.relu, nn.Linear(8, 2)). Module entries are children named "1", "2", ..., so their parameters are "1.weight" and so on; any other entry raises naming its position.]=],
  ["nn.SwiGLU"] = [=[nn.SwiGLU{dim =, ffn_dim =, smooth = nil | "channel" | "token", numerics = "fp32", fp8 =, generator =} -> nn.SwiGLU
The SwiGLU MLP h = silu(x W1ᵀ) ⊙ (x W2ᵀ), y = h W3ᵀ (W1, W2 {ffn_dim, dim}, W3 {dim, ffn_dim}). smooth selects Smooth-SwiGLU (per-channel or per-token scaling of h before the quantized W3), which only changes the FP8 numerics.]=],
  ["nn.CausalSelfAttention"] = [=[nn.CausalSelfAttention{dim =, heads =, rope_base = 10000, numerics =, fp8 =, generator =, attention = "blocked" | "fused"} -> module
Multi-head causal self-attention with rotary position embeddings: four dim x dim linears (wq, wk, wv, wo); dim must be divisible by heads and the head size even. attention = "fused" runs T.attention's fused kernel (online softmax, no T x T scratch; last bits differ from the default kernel's).]=],
  ["nn.TransformerBlock"] = [=[nn.TransformerBlock{dim =, heads =, ffn_dim =, eps =, smooth =, numerics =, fp8 =, generator = | seed =} -> module
A pre-norm Llama block: x + attn(rmsnorm(x)), then + mlp(rmsnorm(x)) with a SwiGLU MLP.]=],
  ["nn.Llama"] = [=[nn.Llama{vocab =, dim =, layers =, heads = [, ffn_dim, seq_len = 256, mlp = "swiglu" | "smooth_swiglu", numerics = "fp32" | "bf16" | "fp8", tie_embeddings = false, fp8 =, seed =, generator =, attention = "blocked" | "fused"]} -> nn.Llama
A Llama-style decoder language model: token embedding, layers pre-norm blocks (RoPE attention, SwiGLU MLP of width ffn_dim = 8/3·dim rounded up to a multiple of 8), a final RMSNorm and an output head. model(ids) takes (batch, time) i32 ids in 1..vocab and returns (batch, time, vocab) logits; other inputs raise saying what is expected ("ids must be (batch, time) i32 with values in 1..65, got {3}"). numerics applies to the block linears; the embedding and head stay fp32. attention picks the blocks' attention kernel (see nn.CausalSelfAttention). Unknown options raise, listing the valid ones.]=],
  ["nn.class"] = [=[nn.class(name [, parent = nn.Module]) -> class
A new module class: set its methods (forward, describe) and build instances with nn.Module.init(setmetatable({}, class)); the class prints and reports parameters like the built-in layers.]=],
  ["nn.default_ffn_dim"] = [=[nn.default_ffn_dim(dim) -> integer
The SwiGLU width nn.Llama uses by default: 8/3 · dim rounded up to a multiple of 8.]=],
  ["nn.no_grad"] = [=[nn.no_grad(fn) -> fn's results
Run fn() with autograd off (T.no_grad without arguments).]=],

  -- ---- Module -----------------------------------------------------------------------
  ["nn.Module:init"] = [=[nn.Module.init(self) -> self
Set up the bookkeeping (parameters, children, training flag) of a new module instance; constructors of nn.class classes call it first.]=],
  ["nn.Module:param"] = [=[m:param(name, tensor) -> tensor
Register a parameter tensor under name (also readable as m[name]); parameters() returns it.]=],
  ["nn.Module:child"] = [=[m:child(name, module) -> module
Register a sub-module under name (also m[name]); its parameters become m's, named "name.weight" and so on.]=],
  ["nn.Module:modules"] = [=[m:modules(fn [, prefix = ""])
Call fn(prefix, module) for m and every sub-module, depth first in registration order; prefix is the dotted path ending in ".".]=],
  ["nn.Module:parameters"] = [=[m:parameters() -> {Tensor, ...}
Every parameter tensor, depth first in registration order (deterministic): what optimizers take.]=],
  ["nn.Module:named_parameters"] = [=[m:named_parameters() -> {{name, Tensor}, ...}
Every parameter with its dotted name ("layers.1.attn.wq.weight"), sorted by name.]=],
  ["nn.Module:named_parameters_ordered"] = [=[m:named_parameters_ordered() -> {{name, Tensor}, ...}
Every parameter with its dotted name, in registration order (the order of parameters()).]=],
  ["nn.Module:num_parameters"] = [=[m:num_parameters() -> integer
The total number of parameter elements.]=],
  ["nn.Module:train"] = [=[m:train([on = true]) -> m
Set the training flag of m and every sub-module.]=],
  ["nn.Module:eval"] = [=[m:eval() -> m
m:train(false).]=],
  ["nn.Module:state_dict"] = [=[m:state_dict() -> {name = Tensor}
Every parameter by dotted name (the tensors themselves; save them with T.save).]=],
  ["nn.Module:load_state_dict"] = [=[m:load_state_dict(sd [, {strict = true}]) -> m
Copy the tensors of sd into the parameters; raises naming every missing key, unexpected key and shape mismatch (strict = false skips the key checks).]=],

  -- ---- layers' methods ----------------------------------------------------------------
  ["nn.Linear:forward"] = [=[linear:forward(x) -> Tensor
x (..., in) -> (..., out); calling the module, linear(x), is the same.]=],
  ["nn.Linear:describe"] = [=[linear:describe() -> string
The "(in -> out, bias, numerics)" part of the module's printed summary.]=],
  ["nn.Embedding:forward"] = [=[emb:forward(ids) -> Tensor
The rows of the table for 1-based i32 ids: (ids..., dim); emb(ids) is the same.]=],
  ["nn.Embedding:describe"] = [=[emb:describe() -> string
The "(num, dim)" part of the printed summary.]=],
  ["nn.RMSNorm:forward"] = [=[norm:forward(x) -> Tensor
x normalised over its last dimension and scaled by the gain; norm(x) is the same.]=],
  ["nn.RMSNorm:describe"] = [=[norm:describe() -> string
The "(dim, eps)" part of the printed summary.]=],
  ["nn.Sequential:forward"] = [=[seq:forward(x) -> value
Each entry applied in turn to the previous result; seq(x) is the same.]=],
  ["nn.Sequential:describe"] = [=[seq:describe() -> string
The "(N entries)" part of the printed summary.]=],
  ["nn.Sequential:get"] = [=[seq:get(i) -> module | function
Entry i of the sequence (also #seq for the count).]=],
  ["nn.Sequential:add"] = [=[seq:add(m) -> seq
Append a module or a function (Torch7's nn.Sequential():add(m)), so nn.Sequential():add(nn.Linear(4, 8)):add(T.relu) builds a sequence step by step.]=],
  ["nn.SwiGLU:forward"] = [=[mlp:forward(x) -> Tensor
The SwiGLU MLP of x (..., dim) -> (..., dim), through fp8.swiglu when numerics is not fp32.]=],
  ["nn.SwiGLU:describe"] = [=[mlp:describe() -> string
The "(dim -> ffn -> dim, smooth)" part of the printed summary.]=],
  ["nn.SwiGLU:alignment"] = [=[mlp:alignment() -> {number, ...}
Per FFN channel, the cosine between row i of W1 and row i of W2: the weight alignment that drives FP8 outliers in SwiGLU (Fishman et al. 2024).]=],
  ["nn.CausalSelfAttention:forward"] = [=[attn:forward(x) -> Tensor
Causal multi-head attention of x (B, T, dim) -> (B, T, dim).]=],
  ["nn.CausalSelfAttention:describe"] = [=[attn:describe() -> string
The "(dim, heads)" part of the printed summary.]=],
  ["nn.TransformerBlock:forward"] = [=[block:forward(x) -> Tensor
One pre-norm transformer block on x (B, T, dim).]=],

  -- ---- Llama ----------------------------------------------------------------------------
  ["nn.Llama:forward"] = [=[model:forward(ids) -> Tensor
Logits (B, T, vocab) for ids, a (B, T) i32 tensor of 1-based ids in 1..vocab; model(ids) is the same. Any other input raises naming what came (shape, dtype or the out-of-range value and its position).]=],
  ["nn.Llama:loss"] = [=[model:loss(ids, targets) -> Tensor
Mean next-token cross entropy of the logits for ids against targets, both (B, T) i32 in 1..vocab of one shape.]=],
  ["nn.Llama:describe"] = [=[model:describe() -> string
The configuration part of the printed summary (vocab, dim, layers, heads, ffn, mlp, numerics).]=],
  ["nn.Llama:collect_stats"] = [=[model:collect_stats(on)
Record activation statistics (amax per linear input, h amax per SwiGLU) during the forwards that follow; off by default because it costs a pass per activation.]=],
  ["nn.Llama:linears"] = [=[model:linears() -> {{name, nn.Linear}, ...}
Every linear layer with its dotted name, in registration order.]=],
  ["nn.Llama:recipes"] = [=[model:recipes() -> {name = fp8.LinearRecipe}
The FP8/bf16 recipes of the block linears by name (empty in fp32), for their statistics and checkpoint states.]=],
  ["nn.Llama:stats"] = [=[model:stats() -> {name = number}
A flat table of statistics of the last forward with collect_stats on: NAME.amax_in, NAME.fp8.*, layers.L.mlp.h_amax and the W1/W2 alignment mean and max per layer.]=],
  ["nn.Llama:swiglu_alignment"] = [=[model:swiglu_alignment(layer) -> {number, ...}
The per-channel W1/W2 cosines of the SwiGLU of layer (1-based).]=],
}
