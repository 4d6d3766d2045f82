/* ops_index.c: index_select, gather, scatter_add, sort, topk. Index tensors
 * are checked element by element: an out-of-range index is an error, never
 * a stray memory access. Scatters run serially so sums keep a fixed order. */
#include "ops.h"
#include "autograd.h"
#include "ops_scatter.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int check_dim(const char *fn, const rp_tensor *x, int dim)
{
    if (dim < 0 || dim >= x->ndim)
        return rp_seterr("%s: dimension %d out of range for a tensor of %d dimensions", fn,
                         dim + 1, x->ndim);
    return 0;
}

/* Contiguous i32 copy of idx with every entry in [0, limit). */
static rp_tensor *checked_index(const char *fn, const rp_tensor *idx, int64_t limit)
{
    rp_tensor *c = rp_copy_contiguous(idx);
    if (!c) return NULL;
    int64_t n = rp_numel(c);
    if (c->dtype == RP_F32) {
        rp_tensor *i = rp_empty_uninit(RP_I32, c->ndim, c->shape);
        if (!i) { rp_tensor_release(c); return NULL; }
        for (int64_t k = 0; k < n; k++) {
            float v = RP_F32P(c)[k];
            if (!(v == floorf(v)) || !(fabsf(v) < 2147483648.0f)) {
                rp_tensor_release(c); rp_tensor_release(i);
                rp_seterr("%s: index %g is not an integer", fn, (double)v + 1);
                return NULL;
            }
            RP_I32P(i)[k] = (int32_t)v;
        }
        rp_tensor_release(c);
        c = i;
    } else if (c->dtype == RP_U8) {
        rp_tensor *i = rp_empty_uninit(RP_I32, c->ndim, c->shape);
        if (!i) { rp_tensor_release(c); return NULL; }
        for (int64_t k = 0; k < n; k++) RP_I32P(i)[k] = RP_U8P(c)[k];
        rp_tensor_release(c);
        c = i;
    }
    const int32_t *p = RP_I32P(c);
    for (int64_t k = 0; k < n; k++)
        if (p[k] < 0 || p[k] >= limit) {
            rp_seterr("%s: index %lld out of range 1..%lld", fn, (long long)p[k] + 1, (long long)limit);
            rp_tensor_release(c);
            return NULL;
        }
    return c;
}

/* Offset in a view of the element at idx-shaped flat position k, with the
 * coordinate along dim replaced by `at`. */
static int64_t coord_off(const int64_t *ishape, int nd, int64_t k, const int64_t *stride, int dim, int64_t at)
{
    int64_t off = 0;
    for (int d = nd - 1; d >= 0; d--) {
        int64_t c = k % ishape[d];
        k /= ishape[d];
        off += (d == dim ? at : c) * stride[d];
    }
    return off;
}

/* idx must have x's ndim and fit inside `bound` outside dim */
static int check_idx_shape(const char *fn, const rp_tensor *idx, const rp_tensor *bound, int dim, const char *what)
{
    char a[RP_SHAPE_STRLEN], b[RP_SHAPE_STRLEN];
    bool ok = idx->ndim == bound->ndim;
    for (int d = 0; ok && d < idx->ndim; d++)
        if (d != dim && idx->shape[d] > bound->shape[d]) ok = false;
    if (!ok)
        return rp_seterr("%s: index of shape %s does not fit %s of shape %s", fn,
                         rp_shape_str(idx, a, sizeof a), what, rp_shape_str(bound, b, sizeof b));
    return 0;
}

/* acc (contiguous f32, any shape) [.. idx ..] += src (strided f32, idx's shape) */
static void scatter_add_kernel(rp_tensor *acc, int dim, const rp_tensor *idx, const rp_tensor *src)
{
    int64_t n = rp_numel(idx);
    const int32_t *ip = RP_I32P(idx);
    float *ap = RP_F32P(acc);
    const float *sp = RP_F32P(src);
    for (int64_t k = 0; k < n; k++)
        ap[coord_off(idx->shape, idx->ndim, k, acc->stride, dim, ip[k])] +=
            sp[coord_off(idx->shape, idx->ndim, k, src->stride, -1, 0)];
}

/* ---- gather ---- */

static int gather_backward(rp_node *n, const rp_tensor *g, rp_tensor *gin[RP_NODE_MAXIN])
{
    const rp_tensor *x = n->inputs[0], *idx = n->saved[0];
    rp_tensor *z = rp_zeros(RP_F32, x->ndim, x->shape);
    if (!z) return -1;
    scatter_add_kernel(z, (int)n->iargs[0], idx, g);
    gin[0] = z;
    return 0;
}

rp_tensor *rp_gather(const rp_tensor *x, int dim, const rp_tensor *idx)
{
    if (check_dim("gather", x, dim) || check_idx_shape("gather", idx, x, dim, "the input")) return NULL;
    rp_tensor *ic = checked_index("gather", idx, x->shape[dim]);
    if (!ic) return NULL;
    rp_tensor *out = rp_empty_uninit(x->dtype, ic->ndim, ic->shape);
    if (!out) { rp_tensor_release(ic); return NULL; }
    int64_t n = rp_numel(ic);
    const int32_t *ip = RP_I32P(ic);
    size_t es = rp_dtype_info[x->dtype].size;
    const char *xp = rp_data(x);
    char *op = rp_data(out);
    #pragma omp parallel for schedule(static) if (n > (1 << 15))
    for (int64_t k = 0; k < n; k++)
        memcpy(op + k * (int64_t)es, xp + coord_off(ic->shape, ic->ndim, k, x->stride, dim, ip[k]) * (int64_t)es, es);
    const rp_tensor *in[1] = {x};
    if (x->dtype == RP_F32 && rp_needs_grad(1, in)) {
        rp_node *node = rp_node_attach(out, "gather", gather_backward, 1, (rp_tensor *const *)in);
        if (!node || rp_node_save(node, ic)) { rp_tensor_release(out); out = NULL; }
        else node->iargs[0] = dim;
    }
    rp_tensor_release(ic);
    return out;
}

/* ---- scatter_add ---- */

static int scatter_backward(rp_node *n, const rp_tensor *g, rp_tensor *gin[RP_NODE_MAXIN])
{
    if (n->needs_grad[0] && !(gin[0] = rp_copy_contiguous(g))) return -1;
    if (n->needs_grad[2]) {
        bool prev = rp_set_grad_enabled(false);
        gin[2] = rp_gather(g, (int)n->iargs[0], n->saved[0]);
        rp_set_grad_enabled(prev);
        if (!gin[2]) return -1;
    }
    return 0;
}

rp_tensor *rp_scatter_add(const rp_tensor *x, int dim, const rp_tensor *idx, const rp_tensor *src)
{
    if (check_dim("scatter_add", x, dim) ||
        check_idx_shape("scatter_add", idx, x, dim, "the input") ||
        check_idx_shape("scatter_add", idx, src, -1, "the source"))
        return NULL;
    if (x->dtype != RP_F32 || src->dtype != RP_F32) {
        rp_seterr("scatter_add: needs f32 input and source (got %s and %s)",
                  rp_dtype_info[x->dtype].name, rp_dtype_info[src->dtype].name);
        return NULL;
    }
    rp_tensor *ic = checked_index("scatter_add", idx, x->shape[dim]);
    rp_tensor *out = ic ? rp_copy_contiguous(x) : NULL;
    if (!out) { rp_tensor_release(ic); return NULL; }
    scatter_add_kernel(out, dim, ic, src);
    const rp_tensor *in[3] = {x, NULL, src};
    if (rp_needs_grad(3, in)) {
        rp_tensor *ins[3] = {(rp_tensor *)x, NULL, (rp_tensor *)src};
        rp_node *node = rp_node_attach(out, "scatter_add", scatter_backward, 3, ins);
        if (!node || rp_node_save(node, ic)) { rp_tensor_release(out); out = NULL; }
        else node->iargs[0] = dim;
    }
    rp_tensor_release(ic);
    return out;
}

/* ---- index_select ---- */

static int index_select_backward(rp_node *n, const rp_tensor *g, rp_tensor *gin[RP_NODE_MAXIN])
{
    const rp_tensor *x = n->inputs[0], *idx = n->saved[0];
    int dim = (int)n->iargs[0];
    rp_tensor *z = rp_zeros(RP_F32, x->ndim, x->shape);
    rp_tensor *gc = z ? rp_contiguous(g) : NULL;
    if (!gc) { rp_tensor_release(z); return -1; }
    /* z.select(dim, idx[j]) += g.select(dim, j), in j order (ops_scatter.c) */
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < dim; d++) outer *= x->shape[d];
    for (int d = dim + 1; d < x->ndim; d++) inner *= x->shape[d];
    rp_index_add_f32(RP_F32P(z), RP_F32P(gc), RP_I32P(idx), outer, x->shape[dim], rp_numel(idx), inner);
    rp_tensor_release(gc);
    gin[0] = z;
    return 0;
}

rp_tensor *rp_index_select(const rp_tensor *x, int dim, const rp_tensor *idx)
{
    if (check_dim("index_select", x, dim)) return NULL;
    if (idx->ndim > 1) {
        rp_seterr("index_select: index must be 1-d (got %d dimensions)", idx->ndim);
        return NULL;
    }
    rp_tensor *ic = checked_index("index_select", idx, x->shape[dim]);
    if (!ic) return NULL;
    int64_t shape[RP_MAXDIM];
    memcpy(shape, x->shape, sizeof shape);
    shape[dim] = rp_numel(ic);
    rp_tensor *out = rp_empty_uninit(x->dtype, x->ndim, shape);
    if (!out) { rp_tensor_release(ic); return NULL; }
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < dim; d++) outer *= x->shape[d];
    for (int d = dim + 1; d < x->ndim; d++) inner *= x->shape[d];
    /* gather with an index broadcast along the other dims, done row by row */
    rp_tensor *xc = rp_copy_contiguous(x);
    if (!xc) { rp_tensor_release(ic); rp_tensor_release(out); return NULL; }
    size_t es = rp_dtype_info[x->dtype].size;
    int64_t nsel = shape[dim], D = x->shape[dim];
    const char *xp = rp_data(xc);
    char *op = rp_data(out);
    const int32_t *ip = RP_I32P(ic);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < nsel; j++)
            memcpy(op + ((o * nsel + j) * inner) * (int64_t)es,
                   xp + ((o * D + ip[j]) * inner) * (int64_t)es, (size_t)inner * es);
    rp_tensor_release(xc);
    const rp_tensor *in[1] = {x};
    if (x->dtype == RP_F32 && rp_needs_grad(1, in)) {
        rp_node *node = rp_node_attach(out, "index_select", index_select_backward, 1, (rp_tensor *const *)in);
        if (!node || rp_node_save(node, ic)) { rp_tensor_release(out); out = NULL; }
        else node->iargs[0] = dim;
    }
    rp_tensor_release(ic);
    return out;
}

/* ---- sort / topk ---- */

typedef struct { float v; int32_t i; } keyed;

/* NaN sorts above every number (as in PyTorch); equal keys keep index order. */
static int cmp_asc(const void *pa, const void *pb)
{
    const keyed *a = pa, *b = pb;
    bool na = isnan(a->v), nb = isnan(b->v);
    if (na != nb) return na ? 1 : -1;
    if (!na && a->v != b->v) return a->v < b->v ? -1 : 1;
    return (a->i > b->i) - (a->i < b->i);
}

static int cmp_desc(const void *pa, const void *pb)
{
    const keyed *a = pa, *b = pb;
    bool na = isnan(a->v), nb = isnan(b->v);
    if (na != nb) return na ? -1 : 1;
    if (!na && a->v != b->v) return a->v > b->v ? -1 : 1;
    return (a->i > b->i) - (a->i < b->i);
}

rp_tensor *rp_sort(const rp_tensor *x, int dim, bool descending, rp_tensor **idx_out)
{
    if (idx_out) *idx_out = NULL;
    if (check_dim("sort", x, dim)) return NULL;
    int64_t outer = 1, inner = 1, D = x->shape[dim];
    for (int d = 0; d < dim; d++) outer *= x->shape[d];
    for (int d = dim + 1; d < x->ndim; d++) inner *= x->shape[d];
    rp_tensor *xc = rp_to_dtype(x, RP_F32);
    rp_tensor *idx = xc ? rp_empty_uninit(RP_I32, x->ndim, x->shape) : NULL;
    keyed *buf = malloc(sizeof(keyed) * (size_t)(D ? D : 1));
    if (!idx || !buf) {
        free(buf); rp_tensor_release(xc); rp_tensor_release(idx);
        if (xc && idx) rp_seterr("sort: out of memory");
        return NULL;
    }
    const float *p = RP_F32P(xc);
    int32_t *ip = RP_I32P(idx);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            int64_t base = o * D * inner + i;
            for (int64_t d = 0; d < D; d++) { buf[d].v = p[base + d * inner]; buf[d].i = (int32_t)d; }
            qsort(buf, (size_t)D, sizeof *buf, descending ? cmp_desc : cmp_asc);
            for (int64_t d = 0; d < D; d++) ip[base + d * inner] = buf[d].i;
        }
    free(buf);
    rp_tensor_release(xc);
    rp_tensor *vals = rp_gather(x, dim, idx);
    if (!vals) { rp_tensor_release(idx); return NULL; }
    if (idx_out) *idx_out = idx; else rp_tensor_release(idx);
    return vals;
}

rp_tensor *rp_topk(const rp_tensor *x, int64_t k, int dim, bool largest, rp_tensor **idx_out)
{
    if (idx_out) *idx_out = NULL;
    if (check_dim("topk", x, dim)) return NULL;
    if (k < 0 || k > x->shape[dim]) {
        rp_seterr("topk: k = %lld out of range for size %lld of dimension %d", (long long)k,
                  (long long)x->shape[dim], dim + 1);
        return NULL;
    }
    rp_tensor *si = NULL;
    bool prev = rp_set_grad_enabled(false);
    rp_tensor *sv = rp_sort(x, dim, largest, &si);
    rp_set_grad_enabled(prev);
    rp_tensor_release(sv);
    if (!si) return NULL;
    rp_tensor *ki = rp_narrow(si, dim, 0, k);
    rp_tensor *kc = ki ? rp_copy_contiguous(ki) : NULL;
    rp_tensor_release(si); rp_tensor_release(ki);
    rp_tensor *vals = kc ? rp_gather(x, dim, kc) : NULL;
    if (!vals) { rp_tensor_release(kc); return NULL; }
    if (idx_out) *idx_out = kc; else rp_tensor_release(kc);
    return vals;
}
