/* ops_scatter.c: index_add, scatter_sum, scatter_mean (see ops_scatter.h).
 * Every sum runs over the source rows in index order for each output
 * element; threads split the output columns, never the sum, so the bits do
 * not depend on the thread count. Bad indices are errors, never stray
 * memory accesses. */
#include "ops_scatter.h"
#include "ops.h"
#include "autograd.h"

#include <stdlib.h>
#include <string.h>

#define COLS 64 /* columns per parallel work item */

void rp_index_add_f32(float *acc, const float *src, const int32_t *idx, int64_t outer,
                      int64_t D, int64_t nsel, int64_t inner)
{
    int64_t nblk = (inner + COLS - 1) / COLS, work = outer * nblk;
    #pragma omp parallel for schedule(static) if (outer * nsel * inner > (1 << 16) && work > 1)
    for (int64_t w = 0; w < work; w++) {
        int64_t o = w / nblk, lo = (w % nblk) * COLS;
        int64_t hi = lo + COLS < inner ? lo + COLS : inner;
        for (int64_t j = 0; j < nsel; j++) {
            float *a = acc + (o * D + idx[j]) * inner;
            const float *s = src + (o * nsel + j) * inner;
            for (int64_t c = lo; c < hi; c++) a[c] += s[c];
        }
    }
}

/* Contiguous i32 0-based copy of a 1-d integer index of length len, every
 * entry in [0, limit). */
static rp_tensor *check_index(const char *fn, const rp_tensor *idx, int64_t len, int64_t limit)
{
    if (idx->dtype != RP_I32) {
        rp_seterr("%s: index must be i32 (got %s)", fn, rp_dtype_info[idx->dtype].name);
        return NULL;
    }
    if (idx->ndim != 1 || idx->shape[0] != len) {
        char a[RP_SHAPE_STRLEN];
        rp_seterr("%s: index must be 1-d of length %lld (got shape %s)", fn, (long long)len,
                  rp_shape_str(idx, a, sizeof a));
        return NULL;
    }
    rp_tensor *c = rp_copy_contiguous(idx);
    if (!c) return NULL;
    const int32_t *p = RP_I32P(c);
    for (int64_t k = 0; k < len; k++)
        if (p[k] < 0 || p[k] >= limit) {
            rp_seterr("%s: index %lld at position %lld out of range 1..%lld", fn, (long long)p[k] + 1,
                      (long long)k + 1, (long long)limit);
            rp_tensor_release(c);
            return NULL;
        }
    return c;
}

static void dims_around(const rp_tensor *t, int dim, int64_t *outer, int64_t *inner)
{
    *outer = 1; *inner = 1;
    for (int d = 0; d < dim; d++) *outer *= t->shape[d];
    for (int d = dim + 1; d < t->ndim; d++) *inner *= t->shape[d];
}

/* ---- index_add ---- */

static int index_add_backward(rp_node *n, const rp_tensor *g, rp_tensor *gin[RP_NODE_MAXIN])
{
    if (n->needs_grad[0] && !(gin[0] = rp_copy_contiguous(g))) return -1;
    if (n->needs_grad[2]) {
        bool prev = rp_set_grad_enabled(false);
        gin[2] = rp_index_select(g, (int)n->iargs[0], n->saved[0]);
        rp_set_grad_enabled(prev);
        if (!gin[2]) return -1;
    }
    return 0;
}

rp_tensor *rp_index_add(const rp_tensor *x, int dim, const rp_tensor *idx, const rp_tensor *src)
{
    char a[RP_SHAPE_STRLEN], b[RP_SHAPE_STRLEN];
    if (dim < 0 || dim >= x->ndim) {
        rp_seterr("index_add: dimension %d out of range for a tensor of %d dimensions", dim + 1, x->ndim);
        return NULL;
    }
    if (x->dtype != RP_F32 || src->dtype != RP_F32) {
        rp_seterr("index_add: needs f32 input and source (got %s and %s)",
                  rp_dtype_info[x->dtype].name, rp_dtype_info[src->dtype].name);
        return NULL;
    }
    bool ok = src->ndim == x->ndim;
    for (int d = 0; ok && d < x->ndim; d++)
        if (d != dim && src->shape[d] != x->shape[d]) ok = false;
    if (!ok) {
        rp_seterr("index_add: source of shape %s does not fit input of shape %s outside dimension %d",
                  rp_shape_str(src, a, sizeof a), rp_shape_str(x, b, sizeof b), dim + 1);
        return NULL;
    }
    rp_tensor *ic = check_index("index_add", idx, src->shape[dim], x->shape[dim]);
    if (!ic) return NULL;
    rp_tensor *out = rp_copy_contiguous(x);
    rp_tensor *sc = out ? rp_contiguous(src) : NULL;
    if (!sc) { rp_tensor_release(ic); rp_tensor_release(out); return NULL; }
    int64_t outer, inner;
    dims_around(x, dim, &outer, &inner);
    rp_index_add_f32(RP_F32P(out), RP_F32P(sc), RP_I32P(ic), outer, x->shape[dim], src->shape[dim], inner);
    rp_tensor_release(sc);
    const rp_tensor *in[3] = {x, NULL, src};
    if (rp_needs_grad(3, in)) {
        rp_tensor *ins[3] = {(rp_tensor *)x, NULL, (rp_tensor *)src};
        rp_node *node = rp_node_attach(out, "index_add", index_add_backward, 3, ins);
        if (!node || rp_node_save(node, ic)) { rp_tensor_release(out); out = NULL; }
        else node->iargs[0] = dim;
    }
    rp_tensor_release(ic);
    return out;
}

/* ---- scatter_sum / scatter_mean (dim 0) ---- */

/* grad src[j] = g[idx[j]] * scale[idx[j]] (scale = 1/count for the mean, or none) */
static int scatter_backward(rp_node *n, const rp_tensor *g, rp_tensor *gin[RP_NODE_MAXIN])
{
    if (!n->needs_grad[0]) return 0;
    bool prev = rp_set_grad_enabled(false);
    rp_tensor *r = rp_index_select(g, 0, n->saved[0]);
    if (r && n->nsaved > 1) {
        rp_tensor *w = rp_index_select(n->saved[1], 0, n->saved[0]);
        rp_tensor *m = w ? rp_mul(r, w) : NULL;
        rp_tensor_release(w); rp_tensor_release(r);
        r = m;
    }
    rp_set_grad_enabled(prev);
    if (!r) return -1;
    gin[0] = r;
    return 0;
}

static rp_tensor *scatter_impl(const char *fn, int64_t n, const rp_tensor *idx, const rp_tensor *src, bool mean)
{
    if (src->dtype != RP_F32 || src->ndim < 1) {
        rp_seterr("%s: source must be f32 with at least 1 dimension (got %s with %d)", fn,
                  rp_dtype_info[src->dtype].name, src->ndim);
        return NULL;
    }
    if (n < 0 || n > INT32_MAX) {
        rp_seterr("%s: number of segments %lld out of range", fn, (long long)n);
        return NULL;
    }
    rp_tensor *ic = check_index(fn, idx, src->shape[0], n);
    if (!ic) return NULL;
    int64_t shape[RP_MAXDIM];
    memcpy(shape, src->shape, sizeof shape);
    shape[0] = n;
    rp_tensor *out = rp_zeros(RP_F32, src->ndim, shape);
    rp_tensor *sc = out ? rp_contiguous(src) : NULL;
    if (!sc) { rp_tensor_release(ic); rp_tensor_release(out); return NULL; }
    int64_t outer, inner;
    dims_around(src, 0, &outer, &inner);
    rp_index_add_f32(RP_F32P(out), RP_F32P(sc), RP_I32P(ic), 1, n, src->shape[0], inner);
    rp_tensor_release(sc);
    rp_tensor *scale = NULL;  /* (n, 1, ..) f32: 1 / max(count, 1) */
    if (mean) {
        int64_t sshape[RP_MAXDIM];
        for (int d = 0; d < src->ndim; d++) sshape[d] = d ? 1 : n;
        scale = rp_zeros(RP_F32, src->ndim, sshape);
        if (!scale) { rp_tensor_release(ic); rp_tensor_release(out); return NULL; }
        float *sp = RP_F32P(scale), *op = RP_F32P(out);
        const int32_t *ip = RP_I32P(ic);
        for (int64_t j = 0; j < src->shape[0]; j++) sp[ip[j]] += 1.0f;
        for (int64_t s = 0; s < n; s++) {
            sp[s] = 1.0f / (sp[s] > 0 ? sp[s] : 1.0f);
            for (int64_t c = 0; c < inner; c++) op[s * inner + c] *= sp[s];
        }
    }
    const rp_tensor *in[1] = {src};
    if (rp_needs_grad(1, in)) {
        rp_node *node = rp_node_attach(out, fn, scatter_backward, 1, (rp_tensor *const *)in);
        if (!node || rp_node_save(node, ic) || (scale && rp_node_save(node, scale))) {
            rp_tensor_release(out); out = NULL;
        }
    }
    rp_tensor_release(ic);
    rp_tensor_release(scale);
    return out;
}

rp_tensor *rp_scatter_sum(int64_t n, const rp_tensor *idx, const rp_tensor *src)
{
    return scatter_impl("scatter_sum", n, idx, src, false);
}

rp_tensor *rp_scatter_mean(int64_t n, const rp_tensor *idx, const rp_tensor *src)
{
    return scatter_impl("scatter_mean", n, idx, src, true);
}
