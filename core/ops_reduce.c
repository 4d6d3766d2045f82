/* ops_reduce.c: sum, mean, max/min/argmax, var, norm, cumsum, all/any.
 *
 * Sums accumulate in double. A full sum splits the input into fixed blocks
 * whose partial sums are added in block order, and a sum over a dimension
 * gives each output element to one thread, so no result depends on the
 * thread count. */
#include "ops.h"
#include "autograd.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK 4096

static int check_dim(const char *fn, const rp_tensor *x, int dim)
{
    if (dim < 0 || dim >= x->ndim)
        return rp_seterr("%s: dimension %d out of range for a tensor of %d dimensions", fn,
                         dim + 1, x->ndim);
    return 0;
}

/* f32 contiguous version of x (new reference). */
static rp_tensor *as_f32c(const rp_tensor *x)
{
    if (x->dtype == RP_F32) return rp_copy_contiguous(x);
    bool prev = rp_set_grad_enabled(false);
    rp_tensor *r = rp_to_dtype(x, RP_F32);
    rp_set_grad_enabled(prev);
    return r;
}

/* x viewed as (outer, D, inner) around dim */
static void split3(const rp_tensor *x, int dim, int64_t *outer, int64_t *D, int64_t *inner)
{
    *outer = 1; *inner = 1;
    for (int d = 0; d < dim; d++) *outer *= x->shape[d];
    for (int d = dim + 1; d < x->ndim; d++) *inner *= x->shape[d];
    *D = x->shape[dim];
}

/* shape of x reduced over dim */
static int reduced_shape(const rp_tensor *x, int dim, bool keepdim, int64_t *shape)
{
    int nd = 0;
    for (int d = 0; d < x->ndim; d++) {
        if (d == dim) { if (keepdim) shape[nd++] = 1; }
        else shape[nd++] = x->shape[d];
    }
    return nd;
}

/* g (reduced shape) broadcast back to in's shape, contiguous. */
static rp_tensor *expand_back(const rp_tensor *g, const rp_tensor *in, int dim)
{
    rp_tensor *c = rp_copy_contiguous(g);
    if (!c) return NULL;
    int64_t ks[RP_MAXDIM], st[RP_MAXDIM];
    int nd = dim < 0 ? 0 : reduced_shape(in, dim, true, ks);
    if (dim < 0) { nd = in->ndim; for (int d = 0; d < nd; d++) ks[d] = 1; }
    rp_contiguous_strides(nd, ks, st);
    rp_tensor *k = rp_alias(c, nd, ks, st, 0);
    rp_tensor *e = k ? rp_expand_view(k, in->ndim, in->shape) : NULL;
    rp_tensor *r = e ? rp_copy_contiguous(e) : NULL;
    rp_tensor_release(c); rp_tensor_release(k); rp_tensor_release(e);
    return r;
}

static int sum_backward(rp_node *n, const rp_tensor *g, rp_tensor *gin[RP_NODE_MAXIN])
{
    gin[0] = expand_back(g, n->inputs[0], (int)n->iargs[0]);
    return gin[0] ? 0 : -1;
}

static rp_tensor *attach_sum(rp_tensor *out, const rp_tensor *x, int dim)
{
    const rp_tensor *in[1] = {x};
    if (out && rp_needs_grad(1, in)) {
        rp_node *node = rp_node_attach(out, "sum", sum_backward, 1, (rp_tensor *const *)in);
        if (!node) { rp_tensor_release(out); return NULL; }
        node->iargs[0] = dim;
    }
    return out;
}

rp_tensor *rp_sum_all(const rp_tensor *x)
{
    rp_tensor *c = as_f32c(x);
    if (!c) return NULL;
    int64_t n = rp_numel(c), nb = (n + BLOCK - 1) / BLOCK;
    double *part = malloc(sizeof(double) * (size_t)(nb ? nb : 1));
    if (!part) { rp_tensor_release(c); rp_seterr("sum: out of memory"); return NULL; }
    const float *p = RP_F32P(c);
    #pragma omp parallel for schedule(static) if (n > RP_PAR_MIN)
    for (int64_t b = 0; b < nb; b++) {
        int64_t s = b * BLOCK, e = s + BLOCK < n ? s + BLOCK : n;
        double acc = 0;
        for (int64_t i = s; i < e; i++) acc += p[i];
        part[b] = acc;
    }
    double total = 0;
    for (int64_t b = 0; b < nb; b++) total += part[b];
    free(part);
    rp_tensor_release(c);
    return attach_sum(rp_scalar((float)total), x, -1);
}

rp_tensor *rp_sum_dim(const rp_tensor *x, int dim, bool keepdim)
{
    if (check_dim("sum", x, dim)) return NULL;
    int64_t shape[RP_MAXDIM], outer, D, inner;
    int nd = reduced_shape(x, dim, keepdim, shape);
    split3(x, dim, &outer, &D, &inner);
    rp_tensor *c = as_f32c(x);
    rp_tensor *out = c ? rp_empty_uninit(RP_F32, nd, shape) : NULL;
    if (!out) { rp_tensor_release(c); return NULL; }
    const float *p = RP_F32P(c);
    float *o = RP_F32P(out);
    int64_t m = outer * inner;
    #pragma omp parallel for schedule(static) if (m * D > RP_PAR_MIN)
    for (int64_t k = 0; k < m; k++) {
        int64_t oi = k / inner, ii = k % inner;
        const float *q = p + oi * D * inner + ii;
        double acc = 0;
        for (int64_t d = 0; d < D; d++) acc += q[d * inner];
        o[k] = (float)acc;
    }
    rp_tensor_release(c);
    return attach_sum(out, x, dim);
}

rp_tensor *rp_mean_all(const rp_tensor *x)
{
    rp_tensor *s = rp_sum_all(x);
    if (!s) return NULL;
    rp_tensor *r = rp_binary_scalar(RP_DIV, s, (double)rp_numel(x));
    rp_tensor_release(s);
    return r;
}

rp_tensor *rp_mean_dim(const rp_tensor *x, int dim, bool keepdim)
{
    rp_tensor *s = rp_sum_dim(x, dim, keepdim);
    if (!s) return NULL;
    rp_tensor *r = rp_binary_scalar(RP_DIV, s, (double)x->shape[dim]);
    rp_tensor_release(s);
    return r;
}

/* ---- arg reductions ---- */

/* NaN counts as the extreme (it propagates, as in PyTorch); the first wins ties. */
static rp_tensor *arg_impl(const char *fn, const rp_tensor *x, int dim, bool keepdim, bool want_max)
{
    rp_tensor *flat = NULL;
    const rp_tensor *src = x;
    if (dim < 0) {
        int64_t n = rp_numel(x);
        bool prev = rp_set_grad_enabled(false);
        flat = rp_reshape(x, 1, &n);
        rp_set_grad_enabled(prev);
        if (!flat) return NULL;
        src = flat;
        dim = 0;
    } else if (check_dim(fn, x, dim)) {
        return NULL;
    }
    if (src->shape[dim] == 0) {
        rp_tensor_release(flat);
        rp_seterr("%s: reducing over an empty dimension %d", fn, dim + 1);
        return NULL;
    }
    int64_t shape[RP_MAXDIM], outer, D, inner;
    int nd = reduced_shape(src, dim, keepdim || flat, shape);
    split3(src, dim, &outer, &D, &inner);
    rp_tensor *c = as_f32c(src);
    rp_tensor *out = c ? rp_empty_uninit(RP_I32, nd, shape) : NULL;
    if (out) {
        const float *p = RP_F32P(c);
        int32_t *o = RP_I32P(out);
        int64_t m = outer * inner;
        #pragma omp parallel for schedule(static) if (m * D > RP_PAR_MIN)
        for (int64_t k = 0; k < m; k++) {
            const float *q = p + (k / inner) * D * inner + k % inner;
            int64_t best = 0;
            float bv = q[0];
            for (int64_t d = 1; d < D && !isnan(bv); d++) {
                float v = q[d * inner];
                if (isnan(v) || (want_max ? v > bv : v < bv)) { bv = v; best = d; }
            }
            o[k] = (int32_t)best;
        }
    }
    rp_tensor_release(c);
    if (flat && out && !keepdim) { /* over all: a 0-d index */
        rp_tensor *s = rp_alias(out, 0, NULL, NULL, 0);
        rp_tensor_release(out);
        out = s;
    }
    rp_tensor_release(flat);
    return out;
}

rp_tensor *rp_argmax(const rp_tensor *x, int dim, bool keepdim) { return arg_impl("argmax", x, dim, keepdim, true); }
rp_tensor *rp_argmin(const rp_tensor *x, int dim, bool keepdim) { return arg_impl("argmin", x, dim, keepdim, false); }

static rp_tensor *extreme(const char *fn, const rp_tensor *x, int dim, bool keepdim,
                          rp_tensor **idx_out, bool want_max)
{
    if (idx_out) *idx_out = NULL;
    rp_tensor *src = NULL, *idx = NULL, *vals = NULL;
    if (dim < 0) {
        int64_t n = rp_numel(x);
        src = rp_reshape(x, 1, &n);
        if (!src) return NULL;
        idx = arg_impl(fn, src, 0, true, want_max);
    } else {
        if (check_dim(fn, x, dim)) return NULL;
        rp_tensor_retain((rp_tensor *)x);
        src = (rp_tensor *)x;
        idx = arg_impl(fn, x, dim, true, want_max);
    }
    if (idx) vals = rp_gather(src, dim < 0 ? 0 : dim, idx);
    rp_tensor_release(src);
    if (!vals) { rp_tensor_release(idx); return NULL; }
    if (dim < 0 || !keepdim) {
        rp_tensor *v2 = dim < 0 ? rp_reshape(vals, 0, NULL) : rp_squeeze(vals, dim);
        rp_tensor *i2 = v2 ? (dim < 0 ? rp_reshape(idx, 0, NULL) : rp_squeeze(idx, dim)) : NULL;
        rp_tensor_release(vals); rp_tensor_release(idx);
        vals = v2; idx = i2;
        if (!i2) { rp_tensor_release(v2); return NULL; }
    }
    if (idx_out) *idx_out = idx; else rp_tensor_release(idx);
    return vals;
}

rp_tensor *rp_max_dim(const rp_tensor *x, int dim, bool keepdim, rp_tensor **idx)
{
    return extreme("max", x, dim, keepdim, idx, true);
}

rp_tensor *rp_min_dim(const rp_tensor *x, int dim, bool keepdim, rp_tensor **idx)
{
    return extreme("min", x, dim, keepdim, idx, false);
}

/* ---- composites: var, norm ---- */

rp_tensor *rp_var(const rp_tensor *x, int dim, bool keepdim, int correction)
{
    if (dim >= 0 && check_dim("var", x, dim)) return NULL;
    int64_t N = dim < 0 ? rp_numel(x) : x->shape[dim];
    rp_tensor *m = dim < 0 ? rp_mean_all(x) : rp_mean_dim(x, dim, true);
    rp_tensor *d = m ? rp_sub(x, m) : NULL;
    rp_tensor *sq = d ? rp_unary(RP_SQUARE, d) : NULL;
    rp_tensor *s = sq ? (dim < 0 ? rp_sum_all(sq) : rp_sum_dim(sq, dim, keepdim)) : NULL;
    rp_tensor *r = s ? rp_binary_scalar(RP_DIV, s, (double)(N - correction)) : NULL;
    rp_tensor_release(m); rp_tensor_release(d); rp_tensor_release(sq); rp_tensor_release(s);
    return r;
}

rp_tensor *rp_norm(const rp_tensor *x, double p, int dim, bool keepdim)
{
    if (!(p > 0) || isinf(p)) { rp_seterr("norm: p = %g (need a finite p > 0)", p); return NULL; }
    if (dim >= 0 && check_dim("norm", x, dim)) return NULL;
    rp_tensor *a = p == 2 ? rp_unary(RP_SQUARE, x) : NULL;
    if (p != 2) {
        rp_tensor *ab = rp_unary(RP_ABS, x);
        a = ab ? rp_pow_scalar(ab, p) : NULL;
        rp_tensor_release(ab);
    }
    rp_tensor *s = a ? (dim < 0 ? rp_sum_all(a) : rp_sum_dim(a, dim, keepdim)) : NULL;
    rp_tensor *r = s ? (p == 2 ? rp_unary(RP_SQRT, s) : rp_pow_scalar(s, 1.0 / p)) : NULL;
    rp_tensor_release(a); rp_tensor_release(s);
    return r;
}

/* ---- cumsum ---- */

/* out[o,d,i] = sum over d' <= d (or >= d when reverse) of x[o,d',i] */
static void cumsum_kernel(float *out, const float *x, int64_t outer, int64_t D, int64_t inner, bool reverse)
{
    int64_t m = outer * inner;
    #pragma omp parallel for schedule(static) if (m * D > RP_PAR_MIN)
    for (int64_t k = 0; k < m; k++) {
        int64_t base = (k / inner) * D * inner + k % inner;
        double acc = 0;
        for (int64_t j = 0; j < D; j++) {
            int64_t d = reverse ? D - 1 - j : j;
            acc += x[base + d * inner];
            out[base + d * inner] = (float)acc;
        }
    }
}

static int cumsum_backward(rp_node *n, const rp_tensor *g, rp_tensor *gin[RP_NODE_MAXIN])
{
    int dim = (int)n->iargs[0];
    int64_t outer, D, inner;
    split3(g, dim, &outer, &D, &inner);
    rp_tensor *c = rp_copy_contiguous(g);
    rp_tensor *r = c ? rp_empty_uninit(RP_F32, g->ndim, g->shape) : NULL;
    if (r) cumsum_kernel(RP_F32P(r), RP_F32P(c), outer, D, inner, true);
    rp_tensor_release(c);
    gin[0] = r;
    return r ? 0 : -1;
}

rp_tensor *rp_cumsum(const rp_tensor *x, int dim)
{
    if (check_dim("cumsum", x, dim)) return NULL;
    int64_t outer, D, inner;
    split3(x, dim, &outer, &D, &inner);
    rp_tensor *c = as_f32c(x);
    rp_tensor *out = c ? rp_empty_uninit(RP_F32, x->ndim, x->shape) : NULL;
    if (out) cumsum_kernel(RP_F32P(out), RP_F32P(c), outer, D, inner, false);
    rp_tensor_release(c);
    const rp_tensor *in[1] = {x};
    if (out && rp_needs_grad(1, in)) {
        rp_node *node = rp_node_attach(out, "cumsum", cumsum_backward, 1, (rp_tensor *const *)in);
        if (!node) { rp_tensor_release(out); return NULL; }
        node->iargs[0] = dim;
    }
    return out;
}

/* ---- all / any ---- */

static rp_tensor *all_any(const rp_tensor *x, bool all)
{
    rp_tensor *c = as_f32c(x);
    if (!c) return NULL;
    int64_t n = rp_numel(c);
    const float *p = RP_F32P(c);
    bool r = all;
    for (int64_t i = 0; i < n; i++)
        if ((p[i] != 0) != all) { r = !all; break; }
    rp_tensor_release(c);
    return rp_scalar(r ? 1.0f : 0.0f);
}

rp_tensor *rp_all(const rp_tensor *x) { return all_any(x, true); }
rp_tensor *rp_any(const rp_tensor *x) { return all_any(x, false); }
