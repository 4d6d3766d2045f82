/* ops_scatter.h: segment sums for graph networks. Rows of a source are added
 * into rows of an output chosen by an i32 index (0-based here; the binding
 * converts). Sums run in index order for every output element, whatever the
 * thread count, so results are bit-identical at 1 and N threads. */
#ifndef RP_OPS_SCATTER_H
#define RP_OPS_SCATTER_H

#include "tensor.h"

/* Kernel: acc viewed as (outer, D, inner) gets acc[o][idx[j]][:] += src[o][j][:]
 * for j = 0..nsel-1 in order; acc and src contiguous f32, idx already checked
 * to lie in [0, D). Parallel over (o, column block) only. */
void rp_index_add_f32(float *acc, const float *src, const int32_t *idx, int64_t outer,
                      int64_t D, int64_t nsel, int64_t inner);

/* New tensor: copy of x (f32) with x.select(dim, idx[j]) += src.select(dim, j);
 * idx 1-d of length src->shape[dim], src has x's shape elsewhere.
 * Differentiable in x and src (grad src = index_select of the grad). */
rp_tensor *rp_index_add(const rp_tensor *x, int dim, const rp_tensor *idx, const rp_tensor *src);

/* New (n, ...) tensor: out[s] = sum of src rows j with idx[j] = s (dim 0);
 * idx 1-d of length src->shape[0]. Differentiable in src. */
rp_tensor *rp_scatter_sum(int64_t n, const rp_tensor *idx, const rp_tensor *src);

/* As rp_scatter_sum divided by the number of rows in each segment; an empty
 * segment gives zeros. Differentiable in src. */
rp_tensor *rp_scatter_mean(int64_t n, const rp_tensor *idx, const rp_tensor *src);

#endif
