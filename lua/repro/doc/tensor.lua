-- Docstrings of repro.tensor (T) and of the Tensor and Generator types. Each
-- entry: the signature line, then one paragraph (see lua/repro/help.lua).
-- A function that is both T.NAME and a method x:NAME (T.exp is Tensor:exp)
-- is documented once, under "Tensor:NAME".
return {
  -- ---- creation ----------------------------------------------------------------
  ["tensor.tensor"] = [=[T.tensor(values [, {dtype = "f32", requires_grad = false}]) -> Tensor
A tensor holding a number or nested Lua tables of numbers, as torch.tensor: T.tensor{{1, 2}, {3, 4}} is 2x2 f32. dtype is "f32", "i32" or "u8"; integer dtypes need values that fit, and every row of a level must have the same length.]=],
  ["tensor.zeros"] = [=[T.zeros(shape | d1, d2, ... [, {dtype =, requires_grad =}]) -> Tensor
A tensor of zeros. The shape is a table ({4, 8}) or the sizes as arguments (T.zeros(4, 8)); dtype defaults to "f32".]=],
  ["tensor.ones"] = [=[T.ones(shape | d1, d2, ... [, {dtype =, requires_grad =}]) -> Tensor
A tensor of ones; the shape as a table or as arguments, dtype "f32" unless given.]=],
  ["tensor.full"] = [=[T.full(shape, value [, {dtype =, requires_grad =}]) -> Tensor
A tensor with every element equal to value (rounded to the dtype), e.g. T.full({2, 3}, 0.5).]=],
  ["tensor.empty"] = [=[T.empty(shape | d1, d2, ... [, {dtype =}]) -> Tensor
A new tensor of the given shape; its storage is always zeroed, so it equals T.zeros (kept for PyTorch familiarity).]=],
  ["tensor.arange"] = [=[T.arange([start,] stop [, step] [, {dtype =}]) -> Tensor
The 1-D tensor start, start + step, ... up to but excluding stop, with start 0 and step 1 by default: the values follow PyTorch (T.arange(3) is 0, 1, 2), they are values, not Lua indices. Add 1 to use them as 1-based ids or indices.]=],
  ["tensor.linspace"] = [=[T.linspace(start, stop, steps [, {dtype =}]) -> Tensor
steps values evenly spaced from start to stop, both included (one value: start).]=],
  ["tensor.eye"] = [=[T.eye(n [, m] [, {dtype =}]) -> Tensor
The n x m identity matrix (m = n by default): ones on the diagonal, zeros elsewhere.]=],
  ["tensor.rand"] = [=[T.rand(shape | d1, ... [, {generator =, requires_grad =}]) -> Tensor
Uniform values in [0, 1), f32. Draws come from generator (a repro.Generator) or the default generator seeded by repro.manual_seed; the counter-based RNG gives the same numbers at any thread count.]=],
  ["tensor.randn"] = [=[T.randn(shape | d1, ... [, {generator =, requires_grad =}]) -> Tensor
Standard normal values, f32, from generator or the default generator (repro.manual_seed). T.randn{4, 8} and T.randn(4, 8) are the same call.]=],
  ["tensor.randint"] = [=[T.randint([low,] high, shape [, {dtype = "i32", generator =}]) -> Tensor
Uniform integers in [low, high), low = 0 by default: the half-open range of PyTorch's torch.randint, not 1-based. For 1-based token ids in 1..V write T.randint(1, V + 1, {B, T}).]=],
  ["tensor.zeros_like"] = [=[T.zeros_like(x [, {dtype =, requires_grad =}]) -> Tensor
Zeros with the shape (and by default the dtype) of x.]=],
  ["tensor.ones_like"] = [=[T.ones_like(x [, {dtype =, requires_grad =}]) -> Tensor
Ones with the shape (and by default the dtype) of x.]=],
  ["tensor.rand_like"] = [=[T.rand_like(x [, {generator =}]) -> Tensor
Uniform [0, 1) values with the shape of x.]=],
  ["tensor.randn_like"] = [=[T.randn_like(x [, {generator =}]) -> Tensor
Standard normal values with the shape of x.]=],
  ["tensor.from_bytes"] = [=[T.from_bytes(bytes, dtype, shape) -> Tensor
A tensor whose storage is a copy of the Lua string bytes (native byte order), read as dtype ("f32", "i32", "u8") with the given shape; the length must match exactly. The inverse of x:bytes().]=],
  ["tensor.cat"] = [=[T.cat({t1, t2, ...} [, dim = 1]) -> Tensor
Concatenate tensors along dimension dim (1-based; negative counts from the end); the other sizes must agree. Differentiable.]=],
  ["tensor.stack"] = [=[T.stack({t1, t2, ...} [, dim = 1]) -> Tensor
Stack tensors of one shape along a new dimension dim (1-based, up to ndim + 1). Differentiable.]=],
  ["tensor.where"] = [=[T.where(cond, a, b) -> Tensor
Elementwise cond ~= 0 and a or b, broadcasting; a and b are tensors or numbers. The method form is a:where(cond, b).]=],
  -- T.save and T.load are repro.safetensors.save/load: documented in library.lua.
  ["tensor.is_tensor"] = [=[T.is_tensor(v) -> boolean
Whether v is a repro tensor.]=],
  ["tensor.format"] = [=[T.format(x) -> string
The printed form of a tensor, as tostring(x) and print(x) show it: values (long dimensions summarised to their first and last 3 entries), shape, dtype and grad_fn or requires_grad.]=],

  -- ---- RNG and grad mode ---------------------------------------------------------------
  ["tensor.manual_seed"] = [=[T.manual_seed(seed)
Seed the default generator (also repro.manual_seed): every later draw that names no generator follows from seed, identically at any thread count.]=],
  ["tensor.get_rng_state"] = [=[T.get_rng_state() -> {seed =, offset =}
The state of the default generator, for checkpoints; T.set_rng_state restores it.]=],
  ["tensor.set_rng_state"] = [=[T.set_rng_state({seed =, offset =})
Restore the default generator to a state returned by T.get_rng_state.]=],
  ["tensor.Generator"] = [=[T.Generator([seed]) -> Generator
A counter-based random generator (also repro.Generator), independent of the default one; pass it as {generator = g} to randn, rand, randint, dropout, fp8.cast and nn constructors.]=],
  ["tensor.no_grad"] = [=[T.no_grad(fn, ...) -> fn's results
Call fn(...) with autograd off (no graph is recorded), restoring the previous mode afterwards even if fn raises.]=],
  ["tensor.enable_grad"] = [=[T.enable_grad(fn, ...) -> fn's results
Call fn(...) with autograd on, restoring the previous mode afterwards.]=],
  ["tensor.set_grad_enabled"] = [=[T.set_grad_enabled(on) -> previous
Turn autograd recording on or off globally; returns the previous setting.]=],
  ["tensor.is_grad_enabled"] = [=[T.is_grad_enabled() -> boolean
Whether operations currently record the autograd graph.]=],
  ["tensor.gradcheck"] = [=[T.gradcheck(fn, inputs [, {eps = 1e-3, atol = 1e-2, rtol = 1e-2}]) -> true
Compare the gradients autograd gives for fn(inputs...) with central finite differences (accumulated in double); raises naming the input and the worst element when they disagree.]=],

  -- ---- nn ops that are not methods ------------------------------------------------------
  ["tensor.embedding"] = [=[T.embedding(weight, ids) -> Tensor
Rows of weight (V, C) picked by ids, an i32 tensor of 1-based ids in 1..V; the result has shape (ids..., C). Differentiable in weight.]=],
  ["tensor.attention"] = [=[T.attention(q, k, v [, {causal = true, key_mask =, impl = "blocked" | "fused"}]) -> Tensor
Scaled dot-product attention softmax(q kᵀ / sqrt(D) + mask) v on q (B, H, Tq, D) and k, v (B, H, Tk, D) with Tq <= Tk (the queries are the last Tq positions, as in decoding over a cache); causal = false attends to every key, and key_mask (B, Tk) of any dtype hides the keys where it is 0 (padding). impl = "fused" (causal, no key_mask, Tq = Tk) runs the fused kernel: blocked over queries and keys with an online softmax, forward and backward, no T x T scratch, the same bits at any thread count; it agrees with the default kernel to rounding, not bit for bit. Also T.scaled_dot_product_attention. Differentiable.]=],

  -- ---- Generator ------------------------------------------------------------------------
  ["Generator:manual_seed"] = [=[g:manual_seed(seed) -> g
Reseed the generator: its draws restart from seed.]=],
  ["Generator:get_state"] = [=[g:get_state() -> {seed =, offset =}
The generator's position (seed and counter offset), for checkpoints.]=],
  ["Generator:set_state"] = [=[g:set_state({seed =, offset =})
Restore a state returned by g:get_state().]=],
  ["Generator:initial_seed"] = [=[g:initial_seed() -> integer
The seed the generator was created or last seeded with.]=],

  -- ---- Tensor: shape and data -------------------------------------------------------------
  ["Tensor:shape"] = [=[x:shape() -> {d1, d2, ...}
The sizes of x as a Lua list, e.g. {4, 8} (the REPL prints it so).]=],
  ["Tensor:size"] = [=[x:size([dim]) -> integer | {d1, ...}
The size of dimension dim (1-based, negative from the end), or the whole shape without dim.]=],
  ["Tensor:stride"] = [=[x:stride() -> {s1, ...}
The element strides of the view, one per dimension (a contiguous {2, 3} tensor has {3, 1}).]=],
  ["Tensor:numel"] = [=[x:numel() -> integer
The number of elements.]=],
  ["Tensor:dim"] = [=[x:dim() -> integer
The number of dimensions (0 for a scalar tensor).]=],
  ["Tensor:dtype"] = [=[x:dtype() -> "f32" | "i32" | "u8"
The element type.]=],
  ["Tensor:item"] = [=[x:item() -> number
The single element of a one-element tensor as a Lua number (an integer for i32/u8).]=],
  ["Tensor:totable"] = [=[x:totable() -> nested tables
The elements as nested Lua tables (a number for a 0-d tensor).]=],
  ["Tensor:bytes"] = [=[x:bytes() -> string
The elements as a Lua string of raw bytes in row-major order (native byte order); T.from_bytes reads it back.]=],
  ["Tensor:is_contiguous"] = [=[x:is_contiguous() -> boolean
Whether the view's elements are stored row-major without gaps.]=],
  ["Tensor:is_closed"] = [=[x:is_closed() -> boolean
Whether x:close() (or a <close> variable) released the tensor.]=],
  ["Tensor:close"] = [=[x:close()
Release the tensor's storage now instead of at garbage collection; later use raises "tensor used after it was closed". local x <close> = ... does this at the end of the scope.]=],
  ["Tensor:fill_"] = [=[x:fill_(value) -> x
Set every element to value, in place.]=],
  ["Tensor:zero_"] = [=[x:zero_() -> x
Set every element to zero, in place.]=],
  ["Tensor:copy_"] = [=[x:copy_(src) -> x
Copy src's values into x in place (src broadcast to x's shape, converted to x's dtype).]=],
  ["Tensor:clone"] = [=[x:clone() -> Tensor
A contiguous copy with its own storage. Differentiable.]=],
  ["Tensor:contiguous"] = [=[x:contiguous() -> Tensor
x itself when already contiguous, else a row-major copy.]=],
  ["Tensor:float"] = [=[x:float() -> Tensor
A copy converted to f32.]=],
  ["Tensor:int"] = [=[x:int() -> Tensor
A copy converted to i32, truncating toward zero (2.7 -> 2, -1.5 -> -1), e.g. for ids and indices.]=],
  ["Tensor:byte"] = [=[x:byte() -> Tensor
A copy converted to u8.]=],
  ["Tensor:to"] = [=[x:to(dtype) -> Tensor
A copy converted to dtype: "f32", "i32" or "u8".]=],

  -- ---- Tensor: autograd --------------------------------------------------------------------
  ["Tensor:backward"] = [=[x:backward([grad] [, {retain_graph = false}])
Backpropagate from x (a scalar unless grad is given), accumulating into the .grad of every leaf that requires grad.]=],
  ["Tensor:zero_grad"] = [=[x:zero_grad()
Drop the accumulated gradient x.grad.]=],
  ["Tensor:detach"] = [=[x:detach() -> Tensor
A view of x's values cut from the autograd graph (requires_grad false).]=],
  ["Tensor:requires_grad_"] = [=[x:requires_grad_([on = true]) -> x
Mark a leaf f32 tensor as requiring gradients (or not), in place.]=],

  -- ---- Tensor: elementwise -------------------------------------------------------------------
  ["Tensor:add"] = [=[x:add(y) -> Tensor
x + y elementwise with broadcasting; y a tensor or a number. Also written x + y.]=],
  ["Tensor:sub"] = [=[x:sub(y) -> Tensor
x - y elementwise with broadcasting. Also written x - y.]=],
  ["Tensor:mul"] = [=[x:mul(y) -> Tensor
x * y elementwise (not a matrix product: see matmul) with broadcasting. Also written x * y.]=],
  ["Tensor:div"] = [=[x:div(y) -> Tensor
x / y elementwise with broadcasting. Also written x / y.]=],
  ["Tensor:pow"] = [=[x:pow(y) -> Tensor
x ^ y elementwise; y a tensor or a number. Also written x ^ y.]=],
  ["Tensor:maximum"] = [=[x:maximum(y) -> Tensor
The elementwise larger of x and y (broadcasting).]=],
  ["Tensor:minimum"] = [=[x:minimum(y) -> Tensor
The elementwise smaller of x and y (broadcasting).]=],
  ["Tensor:lt"] = [=[x:lt(y) -> Tensor
1 where x < y, else 0 (broadcasting).]=],
  ["Tensor:le"] = [=[x:le(y) -> Tensor
1 where x <= y, else 0 (broadcasting).]=],
  ["Tensor:gt"] = [=[x:gt(y) -> Tensor
1 where x > y, else 0 (broadcasting).]=],
  ["Tensor:ge"] = [=[x:ge(y) -> Tensor
1 where x >= y, else 0 (broadcasting).]=],
  ["Tensor:eq"] = [=[x:eq(y) -> Tensor
1 where x == y, else 0 (broadcasting).]=],
  ["Tensor:ne"] = [=[x:ne(y) -> Tensor
1 where x ~= y, else 0 (broadcasting).]=],
  ["Tensor:neg"] = [=[x:neg() -> Tensor
-x elementwise. Also written -x.]=],
  ["Tensor:abs"] = [=[x:abs() -> Tensor
|x| elementwise.]=],
  ["Tensor:exp"] = [=[x:exp() -> Tensor
e^x elementwise.]=],
  ["Tensor:log"] = [=[x:log() -> Tensor
Natural logarithm elementwise.]=],
  ["Tensor:sqrt"] = [=[x:sqrt() -> Tensor
Square root elementwise.]=],
  ["Tensor:rsqrt"] = [=[x:rsqrt() -> Tensor
1 / sqrt(x) elementwise.]=],
  ["Tensor:square"] = [=[x:square() -> Tensor
x * x elementwise.]=],
  ["Tensor:sign"] = [=[x:sign() -> Tensor
-1, 0 or 1 by the sign of each element.]=],
  ["Tensor:sin"] = [=[x:sin() -> Tensor
Sine elementwise (radians).]=],
  ["Tensor:cos"] = [=[x:cos() -> Tensor
Cosine elementwise (radians).]=],
  ["Tensor:tanh"] = [=[x:tanh() -> Tensor
Hyperbolic tangent elementwise.]=],
  ["Tensor:sigmoid"] = [=[x:sigmoid() -> Tensor
1 / (1 + e^-x) elementwise.]=],
  ["Tensor:relu"] = [=[x:relu() -> Tensor
max(x, 0) elementwise.]=],
  ["Tensor:gelu"] = [=[x:gelu() -> Tensor
The GELU activation elementwise.]=],
  ["Tensor:silu"] = [=[x:silu() -> Tensor
x * sigmoid(x) elementwise (SiLU / swish).]=],
  ["Tensor:silu_mul"] = [=[a:silu_mul(b) -> Tensor
silu(a) * b in one fused op (the SwiGLU gate); a and b of one shape. Bit-identical to a:silu() * b.]=],
  ["Tensor:clamp"] = [=[x:clamp([min] [, max]) -> Tensor
Elements limited to [min, max]; a nil bound is open.]=],
  ["Tensor:isnan"] = [=[x:isnan() -> Tensor
A mask of x's dtype: 1 where the element is NaN, else 0.]=],
  ["Tensor:isinf"] = [=[x:isinf() -> Tensor
A mask of x's dtype: 1 where the element is +inf or -inf, else 0.]=],
  ["Tensor:all"] = [=[x:all() -> Tensor
A 0-d tensor, 1 when every element is nonzero, else 0 (x:all():item() == 1 tests it).]=],
  ["Tensor:any"] = [=[x:any() -> Tensor
A 0-d tensor, 1 when some element is nonzero, else 0.]=],
  ["Tensor:where"] = [=[x:where(cond, y) -> Tensor
x where cond is nonzero, y elsewhere: T.where(cond, x, y) in method form.]=],

  -- ---- Tensor: reductions -----------------------------------------------------------------------
  ["Tensor:sum"] = [=[x:sum([dim [, keepdim = false]]) -> Tensor
The sum of all elements (0-d tensor) or along dim (1-based; negative counts from the end), keeping that dimension as size 1 when keepdim.]=],
  ["Tensor:mean"] = [=[x:mean([dim [, keepdim = false]]) -> Tensor
The mean of all elements or along dim (1-based).]=],
  ["Tensor:max"] = [=[x:max([dim [, keepdim = false]]) -> values [, indices]
The largest element, or along dim the largest values and their 1-based indices (i32).]=],
  ["Tensor:min"] = [=[x:min([dim [, keepdim = false]]) -> values [, indices]
The smallest element, or along dim the smallest values and their 1-based indices (i32).]=],
  ["Tensor:amax"] = [=[x:amax([dim [, keepdim = false]]) -> Tensor
The largest values (of all elements or along dim), without indices.]=],
  ["Tensor:amin"] = [=[x:amin([dim [, keepdim = false]]) -> Tensor
The smallest values (of all elements or along dim), without indices.]=],
  ["Tensor:argmax"] = [=[x:argmax([dim [, keepdim = false]]) -> Tensor
1-based i32 index of the largest element (into the flattened tensor without dim, along dim with it).]=],
  ["Tensor:argmin"] = [=[x:argmin([dim [, keepdim = false]]) -> Tensor
1-based i32 index of the smallest element (flattened, or along dim).]=],
  ["Tensor:var"] = [=[x:var([dim [, keepdim = false [, correction = 1]]]) -> Tensor
Variance over all elements or along dim, dividing by n - correction (1: Bessel's correction, as PyTorch).]=],
  ["Tensor:norm"] = [=[x:norm([p = 2 [, dim [, keepdim = false]]]) -> Tensor
The p-norm of all elements or along dim.]=],
  ["Tensor:cumsum"] = [=[x:cumsum(dim) -> Tensor
Running sums along dim (1-based).]=],
  ["Tensor:sort"] = [=[x:sort([dim = -1 [, descending = false]]) -> values, indices
Values sorted along dim and their 1-based i32 indices in x.]=],
  ["Tensor:topk"] = [=[x:topk(k [, dim = -1 [, largest = true]]) -> values, indices
The k largest (or smallest) values along dim with their 1-based i32 indices.]=],

  -- ---- Tensor: views and shape --------------------------------------------------------------------
  ["Tensor:view"] = [=[x:view(shape | d1, d2, ...) -> Tensor
The same storage seen with another shape (one size may be -1, inferred); x must be contiguous enough, else use reshape.]=],
  ["Tensor:reshape"] = [=[x:reshape(shape | d1, d2, ...) -> Tensor
Like view, copying when the layout requires it; -1 infers one size.]=],
  ["Tensor:narrow"] = [=[x:narrow(dim, start, length) -> Tensor
The view of length entries of dimension dim starting at start; dim and start are 1-based (negative start counts from the end).]=],
  ["Tensor:select"] = [=[x:select(dim, index) -> Tensor
The view at 1-based index of dimension dim, that dimension removed; x[i] is x:select(1, i).]=],
  ["Tensor:transpose"] = [=[x:transpose([dim1, dim2]) -> Tensor
A view with two dimensions (1-based) swapped; the last two by default.]=],
  ["Tensor:t"] = [=[x:t() -> Tensor
The transpose of a matrix (at most 2 dimensions).]=],
  ["Tensor:permute"] = [=[x:permute(d1, d2, ... | {d1, ...}) -> Tensor
A view with the dimensions reordered; the new dimension i is the old dimension di (1-based).]=],
  ["Tensor:unsqueeze"] = [=[x:unsqueeze(dim) -> Tensor
A view with a new dimension of size 1 at dim (1-based, up to ndim + 1).]=],
  ["Tensor:squeeze"] = [=[x:squeeze([dim]) -> Tensor
A view without the size-1 dimension dim, or without every size-1 dimension.]=],
  ["Tensor:expand"] = [=[x:expand(shape | d1, ... | other) -> Tensor
A broadcast view with size-1 dimensions repeated to shape (no copy); -1 keeps a size.]=],
  ["Tensor:split"] = [=[x:split(size | {sizes}, [dim = 1]) -> {Tensor, ...}
Views of consecutive pieces of size entries (the last may be shorter) or of the listed sizes along dim.]=],
  ["Tensor:chunk"] = [=[x:chunk(n [, dim = 1]) -> {Tensor, ...}
x cut into n nearly equal views along dim.]=],

  -- ---- Tensor: indexing -------------------------------------------------------------------------------
  ["Tensor:index_select"] = [=[x:index_select(dim, indices) -> Tensor
The entries of dimension dim at 1-based indices (an i32 tensor or a Lua list), e.g. x:index_select(1, {3, 1}).]=],
  ["Tensor:gather"] = [=[x:gather(dim, indices) -> Tensor
Along dim, out(i, j) = x(i, indices(i, j)) for dim 2, indices 1-based, as torch.gather with 1-based indices.]=],
  ["Tensor:scatter_add"] = [=[x:scatter_add(dim, indices, src) -> Tensor
A copy of x with src's values added at the 1-based indices along dim (torch.scatter_add with 1-based indices).]=],

  -- ---- Tensor: neural-network ops ------------------------------------------------------------------------
  ["Tensor:matmul"] = [=[a:matmul(b) -> Tensor
The matrix product: (n, k) x (k, m), batched over leading dimensions with broadcasting, 1-D operands as vectors; f32, fp32 accumulation. Raises naming both shapes when they do not match.]=],
  ["Tensor:outer"] = [=[a:outer(b) -> Tensor
The outer product of two vectors: (n) x (m) -> (n, m).]=],
  ["Tensor:softmax"] = [=[x:softmax([dim = -1]) -> Tensor
exp(x) normalised to sum 1 along dim (numerically stable).]=],
  ["Tensor:log_softmax"] = [=[x:log_softmax([dim = -1]) -> Tensor
log(softmax(x)) along dim, computed stably.]=],
  ["Tensor:cross_entropy"] = [=[logits:cross_entropy(targets [, {ignore_index =, weight =}]) -> Tensor
Mean cross entropy of logits (N, C) or (B, T, C) against i32 targets of 1-based class ids in 1..C; targets equal to ignore_index do not count, and with weight (a tensor shaped like targets) the result is Σ w·nll / Σ w.]=],
  ["Tensor:rms_norm"] = [=[x:rms_norm([weight] [, eps = 1e-5]) -> Tensor
x / sqrt(mean(x², last dim) + eps), times weight (last dim) when given.]=],
  ["Tensor:rope"] = [=[x:rope([{offset = 0, base = 10000}]) -> Tensor
Rotary position embedding of x (..., T, D) (D even), positions offset .. offset + T - 1; offset counts positions already seen (a length, not an index).]=],
  ["Tensor:dropout"] = [=[x:dropout([p = 0.5] [, {training = true, generator =, seed =}]) -> Tensor
Zero each element with probability p and scale the rest by 1 / (1 - p); the identity when training is false.]=],
  ["Tensor:one_hot"] = [=[ids:one_hot(n) -> Tensor
f32 one-hot rows (ids..., n) of 1-based i32 ids in 1..n.]=],
}
