-- Docstrings for help(): graph networks, scatter ops and crystal diffusion.
-- Keys are dotted names as reached from require "repro"; first line the
-- signature, then one paragraph.
return {
  ["tensor.index_add"] = [[x:index_add(dim, idx, src) -> tensor
Copy of x (f32) with src.select(dim, j) added into x.select(dim, idx[j]) for every j, in j order (1-based i32 index, a tensor or a table; its length is src's size along dim). Differentiable in x and src (the gradient of src is the row gather of the output gradient). Sums run in index order for every output element whatever the thread count, so results are bit-identical at 1 and N threads. An index outside 1..x:size(dim) is an error naming it and its position.]],
  ["tensor.scatter_sum"] = [[T.scatter_sum(src, idx, n) -> tensor (n, ...)
Segment sum over rows: out[s] = sum of src[j] with idx[j] = s, for s = 1..n; idx is 1-d of length src:size(1) (1-based, i32 tensor or table). Empty segments are zero. Differentiable in src; fixed summation order (same bits at any thread count). Used by nn.CGCNN to sum messages over the edges of batched graphs.]],
  ["tensor.scatter_mean"] = [[T.scatter_mean(src, idx, n) -> tensor (n, ...)
As T.scatter_sum divided by the number of rows in each segment (empty segments give zeros). Differentiable in src. nn.CGCNN pools atoms into crystals with it (idx = the crystal of each atom).]],
  ["gnn.knn_edges"] = [[gnn.knn_edges(lattice, frac, k, cutoff) -> src, dst, dist
The k nearest periodic neighbours (all lattice images within cutoff, Angstrom) of every atom, by brute force in Lua, for plain tables: lattice 3x3 (rows are vectors), frac N x 3. Returns 1-based Lua arrays; an edge runs from neighbour src to centre dst. Structures of repro.crystal use their C neighbour list instead (gnn.graph).]],
  ["gnn.graph"] = [[gnn.graph(s, {k = 12, cutoff = 8}) -> graph
One crystal's graph {z, src, dst, dist} (edges neighbour -> centre) from a repro.crystal Structure (its neighbors{k =, cutoff =}) or a plain table {lattice =, frac =, numbers =}.]],
  ["gnn.batch"] = [[gnn.batch(graphs) -> batch
Packs graphs of different sizes into one disjoint graph: {z (N) i32, src, dst (E) i32 with node offsets, dist (E) f32, node_graph (N) i32 (the crystal of each atom), ngraphs, natoms}. A model on the batch gives one value per graph.]],
  ["nn.CGCNN"] = [[nn.CGCNN{dim = 64, layers = 3, gaussians = 41, cutoff = 8, head = 64, max_z = 100, norm = "none" | "layer", seed =} -> model
A crystal graph convolutional network (Xie & Grossman 2018): atom embeddings from Z, a Gaussian expansion of edge lengths, gated convolutions h_i <- softplus(h_i + sum_j sigmoid(z W_f) * softplus(z W_s)) with z = [h_i, h_j, e_ij] (optional layer norm of the sum), mean pooling per crystal, a two-layer head. model(gnn.batch(graphs)) -> (ngraphs) predictions. Invariant to atom order, translations and lattice images.]],
  ["diffusion.cosine_betas"] = [[diffusion.cosine_betas(T, s = 0.008) -> {T, betas, alphas, abar, post_std}
The discrete cosine noise schedule of Nichol & Dhariwal (betas clipped to [1e-4, 0.9999]), indexed 0..T with beta_0 = 0, and the DDPM posterior standard deviations.]],
  ["diffusion.wrapped_sigmas"] = [[diffusion.wrapped_sigmas(T, lo = 0.005, hi = 0.5) -> {T, sigmas, norms}
Geometric noise levels for fractional coordinates on the torus and sigma_norm = E[score^2] of the wrapped normal at each level, computed by quadrature (DiffCSP estimates it by Monte Carlo).]],
  ["diffusion.wrapped_score"] = [[diffusion.wrapped_score(d, sigmas) -> tensor
The wrapped-normal score at displacements d (B, ...) with one sigma per row, with DiffCSP's sign (sum_k (d + k)/sigma^2 weighted by the Gaussian images).]],
  ["diffusion.logsnr_cosine"] = [[diffusion.logsnr_cosine(t, lmin = -20, lmax = 20) -> logsnr, alpha, sigma
The continuous cosine schedule log-SNR(t) = -2 log tan(a t + b), clipped to [lmin, lmax], at t in [0, 1].]],
  ["diffusion.EMA"] = [[diffusion.EMA(model, decay) -> ema
An exponential moving average of model:parameters(): ema:update() after each optimizer step, ema:swap() exchanges the averaged and the live weights, ema:with(fn) runs fn with the averaged ones, ema:state()/ema:load() for checkpoints.]],
  ["diffusion.frac"] = [[diffusion.frac(x) -> tensor
x mod 1 in [0, 1), without gradient.]],
  ["crystal_diffusion.batch"] = [[crystal_diffusion.batch(structures) -> batch
Structures with the same number of atoms packed for the diffusion models: {B, N, z (B, N) i32, frac (B, N, 3), lattice (B, 3, 3) rebuilt from its parameters (a along x), params (B, 6)}.]],
  ["nn.DiffCSP"] = [[nn.DiffCSP{dim = 64, layers = 3, freqs = 8, time_dim = 32, T = 250, sigma_begin = 0.005, sigma_end = 0.5, step_lr = 5e-7, seed =} -> model
DiffCSP-style crystal structure prediction (Jiao et al. 2023): the lattice by a cosine DDPM, fractional coordinates by wrapped-normal score matching on the torus, a denoiser over all atom pairs seeing h_i, h_j, L L^T and sin/cos features of f_j - f_i with mean aggregation. model:loss(batch) -> loss, lattice part, coordinate part; model:sample(composition, {n =, generator =, step_lr =}) -> n structures by predictor-corrector sampling (2T network calls).]],
  ["nn.CompactDiffusion"] = [[nn.CompactDiffusion{dim = 64, blocks = 4, heads = 4, time_dim = 32, lattice_stats =, steps = 256, gamma = 0.1, seed =} -> model
The GenMS "compact" diffusion model: each atom a token (x, y, z, normalised Z), one lattice token (log lengths, angles), per-token MLPs alternating with order-invariant self-attention, conditioned on time and the composition; epsilon prediction on a cosine log-SNR schedule in [-20, 20]. model:sample(composition, {n =, steps =, gamma =, generator =}) -> n structures by ancestral sampling with log-variance interpolation gamma; species follow the rank of the Z channel (count-constrained).]],
  ["crystal_diffusion.lattice_stats"] = [[crystal_diffusion.lattice_stats(structures) -> {mean, std}
Mean and spread of the log lattice lengths, to standardise nn.CompactDiffusion's lattice token.]],
  ["materials_train.fit"] = [[require("repro.materials_train").fit{model =, loss = fn(model, items), data = Sampler, steps =, batch =, lr =, ema =, warmup =, min_lr_frac = 0.1, checkpoint =, resume =, log =} -> {result, ema, seconds}
Trains a crystal model through repro.train (AdamW, warm-up then cosine decay, gradient clipping 1) with an EMA of the weights that is checkpointed and resumed with the model and optimizer, bit for bit.]],
  ["materials_train.Sampler"] = [[require("repro.materials_train").Sampler{items =, bucket = fn(item) -> key, seed =} -> sampler
Batches drawn from one bucket at a time (e.g. by number of atoms), bucket chosen by size, items uniformly, from a generator seeded by (seed, step): its state is a step counter, so a resumed run draws the same batches.]],
  ["gnn.softplus"] = [[gnn.softplus(x) -> tensor  (also T.softplus(x), x:softplus())
log(1 + e^x) computed as max(x, 0) + log1p(e^-|x|), stable for any x (softplus(-inf) = 0, NaN stays NaN); one fused kernel, differentiable (gradient sigmoid(x)).]],
  ["tensor.gaussian_expand"] = [[T.gaussian_expand(dist, K, cutoff) -> tensor (E, K)
Gaussian expansion of edge lengths dist (E): exp(-(d - mu_k)^2 / step^2) with K >= 2 centres mu_k = k * step evenly spaced on [0, cutoff]. One kernel; differentiable in dist. nn.CGCNN's edge features.]],
  ["tensor.gated_conv"] = [[T.gated_conv(h, e, w, b, src, dst) -> tensor (N, F)
CGCNN's gated convolution summed into the centres: for every edge j, m = [h[dst_j], h[src_j], e_j] w^T + b, message sigmoid(m[1..F]) * softplus(m[F+1..2F]), added into row dst_j in edge order. h (N, F) node features, e (E, K) edge features, w (2F, 2F + K) and b (2F) as a Linear's, src and dst 1-based i32 tensors or tables of length E. The concatenation is never built (h's two projections are computed once per node and gathered). Differentiable in h, e, w and b; same bits at any thread count; an index outside 1..N is an error naming it.]],
  ["tensor.linear"] = [[T.linear(x, w [, b]) -> tensor (..., O)
x (..., I) w^T + b for w (O, I) and b (O) (a Linear's parameters) in one product that accumulates onto the bias rows. Differentiable in x, w and b.]],
  ["Tensor:layer_norm"] = [[x:layer_norm([eps = 1e-5]) -> tensor  (also T.layer_norm(x, eps))
Normalise over the last dimension, (x - mean) / sqrt(var + eps) with the biased variance, no affine parameters; one kernel, differentiable.]],
  ["tensor.pair_silu"] = [[T.pair_silu(a, c, d, p) -> tensor (B, N, N, F)
silu(a[b,i] + c[b,j] + d[b] + p[b,i,j]) for a, c (B, N, F), d (B, F), p (B, N, N, F): the input of nn.DiffCSP's edge MLP in one pass. Differentiable in all four.]],
  ["tensor.silu_mean"] = [[T.silu_mean(y, bias) -> tensor (..., F)
Mean over the second-to-last dimension of silu(y + bias) for y (..., M, F) and bias (F): nn.DiffCSP's edge activation and aggregation over all pairs in one pass. Differentiable in y and bias.]],
  ["tensor.pair_mlp_mean"] = [[T.pair_mlp_mean(a, c, d, p, w, bias) -> tensor (B, N, O)
nn.DiffCSP's whole edge block: T.silu_mean(T.linear(T.pair_silu(a, c, d, p), w), bias) for a, c (B, N, F), d (B, F), p (B, N, N, F), w (O, F) and bias (O), with the same bits. Without a gradient (sampling) one pass through scratch memory; when an input needs a gradient it runs the three ops, so it is differentiable in all six.]],
  ["tensor.frac_fourier"] = [[T.frac_fourier(frac, K) -> tensor (B, N, N, 6K)
Periodic features of fractional differences d = frac[b,j] - frac[b,i] (frac (B, N, 3)): for each axis c, sin(2 pi k d_c) for k = 0..K-1 then cos(2 pi k d_c), computed in double. Not differentiable: an error when frac needs a gradient (use :detach() or T.no_grad).]],
  ["nn.CGCNN:forward"] = [[model:forward(batch) -> tensor (ngraphs)  (also model(batch))
One prediction per crystal of a gnn.batch: embeddings, gated convolutions over the edges (T.gated_conv: both ends' projections gathered, messages summed into the centres), mean pooling per crystal (scatter_mean), the head.]],
  ["nn.CGCNN:expand"] = [[model:expand(dist) -> tensor (E, gaussians)
Gaussian expansion of edge lengths: exp(-(d - mu_k)^2 / step^2) with centres mu_k evenly spaced on [0, cutoff].]],
  ["nn.CGCNN:describe"] = [[model:describe() -> string
The sizes shown by tostring(model).]],
  ["nn.DiffCSP:forward"] = [[model:forward(t, z, frac, L) -> eps_L (B, 3, 3), score_x (B, N, 3)
The denoiser: t (B) diffusion steps, z (B, N) i32 atomic numbers, frac (B, N, 3) noisy fractional coordinates, L (B, 3, 3) noisy lattices (rows are vectors). eps_L = phi(mean of h) L is equivariant; score_x is invariant to translations and equivariant to atom order.]],
  ["nn.DiffCSP:loss"] = [[model:loss(batch, generator) -> loss, lattice_loss, coord_loss
DiffCSP's training loss on a crystal_diffusion.batch: t uniform in 1..T, mse of the lattice noise plus mse of the wrapped-normal score divided by sqrt(sigma_norm). The last two are numbers.]],
  ["nn.DiffCSP:sample"] = [[model:sample(composition, {n = 1, generator =, step_lr =}) -> list of n Structures
Predictor-corrector sampling (a Langevin corrector on the coordinates, then the reverse step of both) from random lattices and uniform coordinates. composition: one atomic number (or symbol) per atom. A degenerate sample comes back as a plain table, which metrics count as invalid.]],
  ["nn.DiffCSP:describe"] = [[model:describe() -> string
The sizes shown by tostring(model).]],
  ["nn.CompactDiffusion:forward"] = [[model:forward(atoms, lat, time, z) -> eps_atoms (B, N, 4), eps_lat (B, 6)
The denoiser: atom tokens (B, N, 4), the lattice token (B, 6), time (B) = 1000 u for u in [0, 1], z (B, N) i32 the composition. Equivariant to atom order.]],
  ["nn.CompactDiffusion:encode"] = [[model:encode(batch) -> atoms (B, N, 4), lat (B, 6)
The clean compact representation of a crystal_diffusion.batch: 2 f - 1 for the coordinates, Z scaled to [-1, 1], standardised log lengths and (angle - 90) / 30.]],
  ["nn.CompactDiffusion:loss"] = [[model:loss(batch, generator) -> loss, lattice_loss, atom_loss
Epsilon-prediction mse at a uniform time on the cosine log-SNR schedule. The last two are numbers.]],
  ["nn.CompactDiffusion:sample"] = [[model:sample(composition, {n = 1, steps =, gamma =, generator =}) -> list of n Structures
Ancestral sampling with log-variance interpolation gamma; the x0 estimate is clipped to the data range at each step; species are assigned by the rank of the Z channel (count-constrained).]],
  ["nn.CompactDiffusion:describe"] = [[model:describe() -> string
The sizes shown by tostring(model).]],
  ["crystal_diffusion.composition_numbers"] = [[crystal_diffusion.composition_numbers(composition) -> {Z, ...}
Atomic numbers of a composition given as atomic numbers or element symbols (one per atom); errors name the bad entry.]],
  ["crystal_diffusion.lattice_from_params"] = [[crystal_diffusion.lattice_from_params(a, b, c, alpha, beta, gamma) -> 3x3 table
The lattice (rows are vectors) with a along x and b in the xy plane, angles in degrees.]],
  ["crystal_diffusion.lattice_params"] = [[crystal_diffusion.lattice_params(L) -> a, b, c, alpha, beta, gamma
Lengths and angles (degrees) of a 3x3 Lua table of lattice rows.]],
  ["crystal_diffusion.plain"] = [[crystal_diffusion.plain(s) -> {lattice =, frac =, numbers =}
Plain Lua tables of a Structure (a plain table is returned as is).]],
  ["diffusion.layer_norm"] = [[diffusion.layer_norm(x) -> tensor
Normalise over the last dimension (mean 0, variance 1, eps 1e-5), without affine parameters: x:layer_norm(1e-5).]],
  ["diffusion.time_features"] = [[diffusion.time_features(t, dim) -> tensor (B, dim)
Sinusoidal features of a (B) tensor of times: sin and cos of t * 10000^(-k / (dim/2 - 1)).]],
  ["diffusion.wrapped_score1"] = [[diffusion.wrapped_score1(d, sigma, images) -> number
The wrapped-normal score of one displacement (see diffusion.wrapped_score), summed over 2 images + 1 periodic copies.]],
}
