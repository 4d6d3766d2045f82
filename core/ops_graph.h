/* ops_graph.h: fused kernels of the materials models (repro.gnn's CGCNN,
 * repro.crystal_diffusion's DiffCSP and compact models). Each replaces a
 * chain of small ops (one pass over memory and one autograd node instead of
 * five to ten), with the same mathematics; the last bits differ from the
 * composed chain. Sums run in a fixed order, so results are the same at any
 * thread count. Indices are 0-based i32 here (the binding converts).
 * Every function returns a NEW reference or NULL with rp_errmsg() set.
 * ops_graph.c: softplus, Gaussian expansion, the CGCNN gated convolution,
 * linear layers; ops_pair.c: layer norm and the DiffCSP pair block. */
#ifndef RP_OPS_GRAPH_H
#define RP_OPS_GRAPH_H

#include "tensor.h"

/* softplus(x) = log(1 + e^x) = max(x, 0) + log1p(e^-|x|), any shape f32;
 * differentiable (gradient sigmoid(x)). */
rp_tensor *rp_softplus(const rp_tensor *x);
/* Plain per-element reference (libm log1pf/expf), no autograd. */
rp_tensor *rp_softplus_ref(const rp_tensor *x);

/* dist (E) f32 -> (E, K): exp(-(d - mu_k)^2 / step^2), mu_k = k * step,
 * step = cutoff / (K - 1), K >= 2, cutoff > 0. Differentiable in dist. */
rp_tensor *rp_gaussian_expand(const rp_tensor *dist, int64_t K, double cutoff);

/* CGCNN gated convolution, summed messages (N, F):
 *   m_e = [h[dst_e], h[src_e], e_e] w^T + b          (2F)
 *   out[n] = sum over edges e with dst_e = n of sigmoid(m_e[:F]) * softplus(m_e[F:])
 * h (N, F), e (E, K), w (2F, 2F + K) (nn.Linear's {out, in}), b (2F),
 * src, dst (E) i32 in [0, N). The concatenation is never built: h w_dst^T
 * and h w_src^T are computed once per node and gathered per edge.
 * Differentiable in h, e, w and b. */
rp_tensor *rp_gated_conv(const rp_tensor *h, const rp_tensor *e, const rp_tensor *w,
                         const rp_tensor *b, const rp_tensor *src, const rp_tensor *dst);

/* x (..., I) w^T + b: w (O, I), b (O) or NULL -> (..., O). One sgemm
 * accumulating onto the bias rows; differentiable in x, w and b. */
rp_tensor *rp_linear(const rp_tensor *x, const rp_tensor *w, const rp_tensor *b);

/* ---- ops_pair.c ---- */

/* Layer norm without affine over the last dim: (x - mean) / sqrt(var + eps),
 * biased variance. Differentiable. */
rp_tensor *rp_layer_norm(const rp_tensor *x, double eps);

/* DiffCSP's edge input: silu(a[b,i] + c[b,j] + d[b] + p[b,i,j]) ->
 * (B, N, N, F); a, c (B, N, F), d (B, F), p (B, N, N, F). Differentiable in
 * all four. */
rp_tensor *rp_pair_silu(const rp_tensor *a, const rp_tensor *c, const rp_tensor *d,
                        const rp_tensor *p);

/* mean over dim 2 of silu(y + bias): y (B, N, M, F), bias (F) -> (B, N, F).
 * Differentiable in y and bias. */
rp_tensor *rp_silu_mean(const rp_tensor *y, const rp_tensor *bias);

/* DiffCSP's whole edge block, silu_mean(linear(pair_silu(a, c, d, p), w),
 * bias) -> (B, N, O): w (O, F), bias (O). The same bits as the three ops;
 * without a gradient one pass through scratch buffers, with one the three
 * ops (their autograd nodes). */
rp_tensor *rp_pair_mlp_mean(const rp_tensor *a, const rp_tensor *c, const rp_tensor *d, const rp_tensor *p,
                            const rp_tensor *w, const rp_tensor *bias);

/* Periodic features of fractional differences: frac (B, N, 3) ->
 * (B, N, N, 6K); row [b,i,j] holds, for c = 0..2, sin(2 pi k d_c) for
 * k = 0..K-1 then cos(2 pi k d_c), d = frac[b,j] - frac[b,i] wrapped into
 * [0, 1). Computed in double. Not differentiable (an error when frac needs a gradient). */
rp_tensor *rp_frac_fourier(const rp_tensor *frac, int64_t K);

/* Shared by ops_graph.c and ops_pair.c: -1 with an error naming fn and what
 * unless t is f32; a contiguous copy of a 1-d i32 index of length len with
 * entries in [0, limit), or NULL with an error naming the entry. */
int rp_graph_need_f32(const char *fn, const char *what, const rp_tensor *t);
rp_tensor *rp_graph_check_index(const char *fn, const char *what, const rp_tensor *idx, int64_t len,
                                int64_t limit);

#endif
