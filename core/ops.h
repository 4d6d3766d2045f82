/* ops.h: tensor ops of the core (elementwise, reductions, shape, indexing).
 *
 * Every function returns a NEW reference (release with rp_tensor_release) or
 * NULL with rp_errmsg() set; int-returning ones return 0 or -1. Inputs are
 * borrowed. Dimensions and indices are 0-based (the Lua binding converts);
 * negative dims are NOT accepted here. Error messages report dimensions and
 * indices 1-based, as the Lua user sees them. Differentiable ops record an autograd
 * node when rp_needs_grad() says so. Unless noted, math ops need f32 inputs;
 * +,-,* on two integer tensors stay integer.
 */
#ifndef RP_OPS_H
#define RP_OPS_H

#include "tensor.h"

/* ---- elementwise, binary, broadcasting (numpy rules) ---- */
typedef enum { RP_ADD, RP_SUB, RP_MUL, RP_DIV, RP_POW, RP_MAXIMUM, RP_MINIMUM,
               RP_LT, RP_LE, RP_GT, RP_GE, RP_EQ, RP_NE, RP_NBINARY } rp_binop;
/* out = a OP b, shape = broadcast(a, b). Comparisons give f32 0/1 masks (no grad). */
rp_tensor *rp_binary(rp_binop op, const rp_tensor *a, const rp_tensor *b);
rp_tensor *rp_add(const rp_tensor *a, const rp_tensor *b);
rp_tensor *rp_sub(const rp_tensor *a, const rp_tensor *b);
rp_tensor *rp_mul(const rp_tensor *a, const rp_tensor *b);
rp_tensor *rp_div(const rp_tensor *a, const rp_tensor *b);
rp_tensor *rp_pow(const rp_tensor *a, const rp_tensor *b);
/* Scalar forms: a OP s and s OP a (via a 0-d tensor, no broadcast copy). */
rp_tensor *rp_binary_scalar(rp_binop op, const rp_tensor *a, double s);
rp_tensor *rp_scalar_binary(rp_binop op, double s, const rp_tensor *a);
rp_tensor *rp_add_scalar(const rp_tensor *a, double s);
rp_tensor *rp_mul_scalar(const rp_tensor *a, double s);
rp_tensor *rp_pow_scalar(const rp_tensor *a, double p);

/* ---- elementwise, unary (same shape as x, f32 out) ---- */
typedef enum { RP_NEG, RP_ABS, RP_EXP, RP_LOG, RP_SQRT, RP_RSQRT, RP_TANH, RP_SIGMOID,
               RP_RELU, RP_GELU, RP_SILU, RP_SIN, RP_COS, RP_SIGN, RP_SQUARE,
               RP_NUNARY } rp_unop;
/* Names as in Lua ("neg", "exp", ...), index by rp_unop. */
extern const char *const rp_unop_names[RP_NUNARY];
rp_tensor *rp_unary(rp_unop op, const rp_tensor *x);
/* gelu is the exact erf form 0.5 x (1 + erf(x / sqrt 2)), as PyTorch's default. */
/* out[i] = e^x[i] (n floats) with the kit's vectorised exp (<= 2 ulp, no libm);
 * _ref is libm's expf, the reference it is tested against. */
void rp_exp_f32(float *out, const float *x, int64_t n);
void rp_exp_f32_ref(float *out, const float *x, int64_t n);
/* out[i] = e^(x[i] - c) with the same exp; out may equal x. */
void rp_sub_exp_f32(float *out, const float *x, float c, int64_t n);
/* out[i] = silu(a[i]) * b[i] (n floats); silu(v) = v / (1 + e^-v) with the same exp. */
void rp_silu_mul_f32(float *out, const float *a, const float *b, int64_t n);
/* Its gradients for upstream g: ga = g b silu'(a), gb = g silu(a) (either may be NULL). */
void rp_silu_mul_backward_f32(float *ga, float *gb, const float *g, const float *a,
                              const float *b, int64_t n);
rp_tensor *rp_clamp(const rp_tensor *x, double lo, double hi); /* NaN bound = none */
rp_tensor *rp_isnan(const rp_tensor *x);                       /* f32 0/1 mask */
rp_tensor *rp_isinf(const rp_tensor *x);                       /* f32 0/1 mask */
/* cond ? a : b, all three broadcast together; cond is nonzero-tested. */
rp_tensor *rp_where(const rp_tensor *cond, const rp_tensor *a, const rp_tensor *b);
/* dtype conversion (f32 <-> i32 <-> u8; float -> int truncates toward zero, saturates).
 * Differentiable f32 -> f32 only (a copy). */
rp_tensor *rp_to_dtype(const rp_tensor *x, rp_dtype dtype);

/* ---- reductions (fixed summation order: results independent of thread count) ---- */
/* Sum of all elements: 0-d f32. */
rp_tensor *rp_sum_all(const rp_tensor *x);
rp_tensor *rp_mean_all(const rp_tensor *x);
/* Sum / mean over dim; keepdim keeps it as size 1. */
rp_tensor *rp_sum_dim(const rp_tensor *x, int dim, bool keepdim);
rp_tensor *rp_mean_dim(const rp_tensor *x, int dim, bool keepdim);
/* Max / min over dim: values (differentiable; gradient to the first extreme)
 * and 0-based i32 indices (*idx, may be NULL). dim < 0 means over all (0-d). */
rp_tensor *rp_max_dim(const rp_tensor *x, int dim, bool keepdim, rp_tensor **idx);
rp_tensor *rp_min_dim(const rp_tensor *x, int dim, bool keepdim, rp_tensor **idx);
/* Indices only (0-based i32); dim < 0: flat index over all, 0-d. */
rp_tensor *rp_argmax(const rp_tensor *x, int dim, bool keepdim);
rp_tensor *rp_argmin(const rp_tensor *x, int dim, bool keepdim);
/* Variance with the given correction (1 = unbiased, PyTorch's default); dim < 0: all. */
rp_tensor *rp_var(const rp_tensor *x, int dim, bool keepdim, int correction);
/* p-norm (p > 0); dim < 0: all. */
rp_tensor *rp_norm(const rp_tensor *x, double p, int dim, bool keepdim);
/* Inclusive cumulative sum along dim. */
rp_tensor *rp_cumsum(const rp_tensor *x, int dim);
/* all / any nonzero: 0-d f32 0/1 (no grad). */
rp_tensor *rp_all(const rp_tensor *x);
rp_tensor *rp_any(const rp_tensor *x);

/* ---- shape and views (views alias x's storage; all differentiable) ---- */
/* Reshape; one entry may be -1. Views when x is contiguous, else copies. */
rp_tensor *rp_reshape(const rp_tensor *x, int ndim, const int64_t *shape);
/* Like reshape but fails when a view is impossible (non-contiguous x). */
rp_tensor *rp_view(const rp_tensor *x, int ndim, const int64_t *shape);
rp_tensor *rp_narrow(const rp_tensor *x, int dim, int64_t start, int64_t length);
rp_tensor *rp_select(const rp_tensor *x, int dim, int64_t index);   /* drops dim */
rp_tensor *rp_transpose(const rp_tensor *x, int d0, int d1);
rp_tensor *rp_permute(const rp_tensor *x, const int *perm);         /* perm has x->ndim entries */
rp_tensor *rp_unsqueeze(const rp_tensor *x, int dim);               /* 0 <= dim <= ndim */
rp_tensor *rp_squeeze(const rp_tensor *x, int dim);                 /* dim < 0: every size-1 dim */
rp_tensor *rp_expand(const rp_tensor *x, int ndim, const int64_t *shape); /* -1 keeps a size */
rp_tensor *rp_contiguous(const rp_tensor *x);  /* x itself (retained) if already contiguous */
rp_tensor *rp_clone(const rp_tensor *x);       /* always a new contiguous copy */
/* Concatenate n tensors along dim (same dtype, other sizes equal). */
rp_tensor *rp_cat(int n, rp_tensor *const *xs, int dim);
/* Stack n same-shaped tensors along a new dim. */
rp_tensor *rp_stack(int n, rp_tensor *const *xs, int dim);

/* ---- indexing (index tensors are i32 or integral f32, 0-based) ---- */
/* out = x with dim restricted to idx (1-d): shape[dim] = numel(idx). */
rp_tensor *rp_index_select(const rp_tensor *x, int dim, const rp_tensor *idx);
/* out[i][j] = x[i][idx[i][j]] (dim = 1); idx has x's ndim; out has idx's shape. */
rp_tensor *rp_gather(const rp_tensor *x, int dim, const rp_tensor *idx);
/* out = copy of x with out[i][idx[i][j]] += src[i][j] (dim = 1). */
rp_tensor *rp_scatter_add(const rp_tensor *x, int dim, const rp_tensor *idx,
                          const rp_tensor *src);
/* Stable sort along dim; values (differentiable) and 0-based i32 indices. */
rp_tensor *rp_sort(const rp_tensor *x, int dim, bool descending, rp_tensor **idx);
/* The k largest (or smallest) along dim, sorted; values and 0-based indices. */
rp_tensor *rp_topk(const rp_tensor *x, int64_t k, int dim, bool largest, rp_tensor **idx);

/* ---- in-place helpers (no autograd; bump the storage version) ---- */
/* dst (any view) = src broadcast to dst's shape, converted to dst's dtype. */
int rp_assign(rp_tensor *dst, const rp_tensor *src);

#endif
