/* ops_shape.c: views (reshape, narrow, select, transpose, permute, squeeze,
 * expand), copies (contiguous, clone) and cat/stack, with their backwards.
 *
 * A view's backward reapplies the same geometry to a zero tensor of the
 * input's shape and copies the gradient into that view: one mechanism for
 * every view that does not overlap itself (expand, which does, sums). */
#include "ops.h"
#include "autograd.h"

#include <stdlib.h>
#include <string.h>

typedef enum { G_RESHAPE, G_NARROW, G_SELECT, G_PERMUTE, G_EXPAND } geo_kind;

static char *shp(const rp_tensor *t, char *buf) { return rp_shape_str(t, buf, RP_SHAPE_STRLEN); }

static int check_dim(const char *fn, const rp_tensor *x, int dim, int extra)
{
    if (dim < 0 || dim >= x->ndim + extra)
        return rp_seterr("%s: dimension %d out of range for a tensor of %d dimensions", fn,
                         dim + 1, x->ndim);
    return 0;
}

/* Apply geometry (kind, iargs) to x: a view header with no autograd. */
static rp_tensor *geo_apply(const rp_tensor *x, geo_kind kind, const int64_t *ia)
{
    int64_t shape[RP_MAXDIM], stride[RP_MAXDIM];
    int nd = x->ndim;
    memcpy(shape, x->shape, sizeof shape);
    memcpy(stride, x->stride, sizeof stride);
    int64_t off = x->offset;
    switch (kind) {
    case G_RESHAPE: { /* ia: ndim, shape...; x contiguous */
        nd = (int)ia[0];
        memcpy(shape, ia + 1, sizeof(int64_t) * (size_t)nd);
        rp_contiguous_strides(nd, shape, stride);
        break;
    }
    case G_NARROW: /* ia: dim, start, length */
        off += ia[1] * stride[ia[0]];
        shape[ia[0]] = ia[2];
        break;
    case G_SELECT: { /* ia: dim, index */
        int d = (int)ia[0];
        off += ia[1] * stride[d];
        for (int i = d; i < nd - 1; i++) { shape[i] = shape[i + 1]; stride[i] = stride[i + 1]; }
        nd--;
        break;
    }
    case G_PERMUTE: /* ia: perm */
        for (int i = 0; i < nd; i++) { shape[i] = x->shape[ia[i]]; stride[i] = x->stride[ia[i]]; }
        break;
    case G_EXPAND:
        return rp_expand_view(x, (int)ia[0], ia + 1);
    }
    return rp_alias(x, nd, shape, stride, off);
}

static int view_backward(rp_node *n, const rp_tensor *g, rp_tensor *gin[RP_NODE_MAXIN])
{
    const rp_tensor *in = n->inputs[0];
    geo_kind kind = (geo_kind)n->iargs[0];
    if (kind == G_EXPAND) {
        gin[0] = rp_sum_to_shape(g, in->ndim, in->shape);
        return gin[0] ? 0 : -1;
    }
    if (kind == G_RESHAPE) {
        rp_tensor *c = rp_copy_contiguous(g);
        if (!c) return -1;
        int64_t st[RP_MAXDIM];
        rp_contiguous_strides(in->ndim, in->shape, st);
        gin[0] = rp_alias(c, in->ndim, in->shape, st, 0);
        rp_tensor_release(c);
        return gin[0] ? 0 : -1;
    }
    if (kind == G_PERMUTE) { /* the inverse permutation of g, as a view: no copy */
        int64_t sh[RP_MAXDIM], st[RP_MAXDIM];
        const int64_t *perm = n->iargs + 1;
        for (int i = 0; i < in->ndim; i++) { sh[perm[i]] = g->shape[i]; st[perm[i]] = g->stride[i]; }
        gin[0] = rp_alias(g, in->ndim, sh, st, g->offset);
        return gin[0] ? 0 : -1;
    }
    rp_tensor *z = rp_zeros(RP_F32, in->ndim, in->shape);
    if (!z) return -1;
    rp_tensor *v = geo_apply(z, kind, n->iargs + 1);
    if (!v || rp_copy_into(v, g) != 0) { rp_tensor_release(v); rp_tensor_release(z); return -1; }
    rp_tensor_release(v);
    gin[0] = z;
    return 0;
}

static rp_tensor *view_op(const rp_tensor *x, const char *name, geo_kind kind,
                          const int64_t *ia, int nia)
{
    rp_tensor *out = geo_apply(x, kind, ia);
    const rp_tensor *in[1] = {x};
    if (out && rp_needs_grad(1, in)) {
        rp_node *node = rp_node_attach(out, name, view_backward, 1, (rp_tensor *const *)in);
        if (!node) { rp_tensor_release(out); return NULL; }
        node->iargs[0] = kind;
        memcpy(node->iargs + 1, ia, sizeof(int64_t) * (size_t)nia);
    }
    return out;
}

/* Resolve a -1 entry and check the element count; fills ia = {ndim, shape...}. */
static int reshape_args(const char *fn, const rp_tensor *x, int ndim, const int64_t *shape, int64_t *ia)
{
    if (ndim < 0 || ndim > RP_MAXDIM) return rp_seterr("%s: %d dimensions (at most %d)", fn, ndim, RP_MAXDIM);
    int infer = -1;
    int64_t known = 1, n = rp_numel(x);
    for (int d = 0; d < ndim; d++) {
        if (shape[d] == -1) {
            if (infer >= 0) return rp_seterr("%s: more than one -1 in the shape", fn);
            infer = d;
        } else if (shape[d] < 0) {
            return rp_seterr("%s: negative size %lld in dimension %d", fn, (long long)shape[d], d + 1);
        } else {
            if (shape[d] != 0 && known > INT64_MAX / shape[d])
                return rp_seterr("%s: shape overflows", fn);
            known *= shape[d];
        }
    }
    ia[0] = ndim;
    if (ndim > 0) memcpy(ia + 1, shape, sizeof(int64_t) * (size_t)ndim);
    char b[RP_SHAPE_STRLEN];
    if (infer >= 0) {
        if (known == 0 || n % known != 0)
            return rp_seterr("%s: cannot infer -1 to view %s (%lld elements)", fn, shp(x, b), (long long)n);
        ia[1 + infer] = n / known;
    } else if (known != n) {
        rp_tensor tmp = {.ndim = ndim};
        if (ndim > 0) memcpy(tmp.shape, shape, sizeof(int64_t) * (size_t)ndim);
        char c[RP_SHAPE_STRLEN];
        return rp_seterr("%s: shape %s has %lld elements, the tensor %s has %lld", fn,
                         shp(&tmp, c), (long long)known, shp(x, b), (long long)n);
    }
    return 0;
}

rp_tensor *rp_view(const rp_tensor *x, int ndim, const int64_t *shape)
{
    int64_t ia[RP_MAXDIM + 1];
    if (reshape_args("view", x, ndim, shape, ia)) return NULL;
    if (!rp_is_contiguous(x)) {
        char b[RP_SHAPE_STRLEN];
        rp_seterr("view: the tensor %s is not contiguous (use reshape or contiguous)", shp(x, b));
        return NULL;
    }
    return view_op(x, "view", G_RESHAPE, ia, ndim + 1);
}

rp_tensor *rp_reshape(const rp_tensor *x, int ndim, const int64_t *shape)
{
    int64_t ia[RP_MAXDIM + 1];
    if (reshape_args("reshape", x, ndim, shape, ia)) return NULL;
    if (rp_is_contiguous(x)) return view_op(x, "reshape", G_RESHAPE, ia, ndim + 1);
    rp_tensor *c = rp_contiguous(x); /* differentiable copy */
    if (!c) return NULL;
    rp_tensor *r = view_op(c, "reshape", G_RESHAPE, ia, ndim + 1);
    rp_tensor_release(c);
    return r;
}

rp_tensor *rp_narrow(const rp_tensor *x, int dim, int64_t start, int64_t length)
{
    if (check_dim("narrow", x, dim, 0)) return NULL;
    if (start < 0 || length < 0 || start > x->shape[dim] || length > x->shape[dim] - start) {
        rp_seterr("narrow: start %lld, length %lld out of range for size %lld of dimension %d",
                  (long long)start + 1, (long long)length, (long long)x->shape[dim], dim + 1);
        return NULL;
    }
    int64_t ia[3] = {dim, start, length};
    return view_op(x, "narrow", G_NARROW, ia, 3);
}

rp_tensor *rp_select(const rp_tensor *x, int dim, int64_t index)
{
    if (check_dim("select", x, dim, 0)) return NULL;
    if (index < 0 || index >= x->shape[dim]) {
        rp_seterr("select: index %lld out of range for size %lld of dimension %d",
                  (long long)index + 1, (long long)x->shape[dim], dim + 1);
        return NULL;
    }
    int64_t ia[2] = {dim, index};
    return view_op(x, "select", G_SELECT, ia, 2);
}

rp_tensor *rp_permute(const rp_tensor *x, const int *perm)
{
    int64_t ia[RP_MAXDIM];
    bool seen[RP_MAXDIM] = {0};
    for (int i = 0; i < x->ndim; i++) {
        if (perm[i] < 0 || perm[i] >= x->ndim || seen[perm[i]]) {
            rp_seterr("permute: entry %d (%d) is not a permutation of 1..%d", i + 1, perm[i] + 1, x->ndim);
            return NULL;
        }
        seen[perm[i]] = true;
        ia[i] = perm[i];
    }
    return view_op(x, "permute", G_PERMUTE, ia, x->ndim);
}

rp_tensor *rp_transpose(const rp_tensor *x, int d0, int d1)
{
    if (check_dim("transpose", x, d0, 0) || check_dim("transpose", x, d1, 0)) return NULL;
    int perm[RP_MAXDIM];
    for (int i = 0; i < x->ndim; i++) perm[i] = i;
    perm[d0] = d1;
    perm[d1] = d0;
    return rp_permute(x, perm);
}

/* A view with new geometry whose backward just reshapes g to x's shape. */
static rp_tensor *reshaping_alias(const rp_tensor *x, const char *name, int nd,
                                  const int64_t *shape, const int64_t *stride)
{
    rp_tensor *out = rp_alias(x, nd, shape, stride, x->offset);
    const rp_tensor *in[1] = {x};
    if (out && rp_needs_grad(1, in)) {
        rp_node *node = rp_node_attach(out, name, view_backward, 1, (rp_tensor *const *)in);
        if (!node) { rp_tensor_release(out); return NULL; }
        node->iargs[0] = G_RESHAPE;
    }
    return out;
}

rp_tensor *rp_unsqueeze(const rp_tensor *x, int dim)
{
    if (check_dim("unsqueeze", x, dim, 1)) return NULL;
    if (x->ndim >= RP_MAXDIM) { rp_seterr("unsqueeze: already %d dimensions", RP_MAXDIM); return NULL; }
    int64_t shape[RP_MAXDIM], stride[RP_MAXDIM];
    for (int i = 0, j = 0; i <= x->ndim; i++) {
        if (i == dim) {
            shape[i] = 1;
            stride[i] = dim < x->ndim ? x->shape[dim] * x->stride[dim] : 1;
        } else {
            shape[i] = x->shape[j];
            stride[i] = x->stride[j++];
        }
    }
    return reshaping_alias(x, "unsqueeze", x->ndim + 1, shape, stride);
}

rp_tensor *rp_squeeze(const rp_tensor *x, int dim)
{
    if (dim >= 0 && check_dim("squeeze", x, dim, 0)) return NULL;
    int64_t shape[RP_MAXDIM], stride[RP_MAXDIM];
    int nd = 0;
    for (int i = 0; i < x->ndim; i++)
        if (!(x->shape[i] == 1 && (dim < 0 || dim == i))) {
            shape[nd] = x->shape[i];
            stride[nd++] = x->stride[i];
        }
    return reshaping_alias(x, "squeeze", nd, shape, stride);
}

rp_tensor *rp_expand(const rp_tensor *x, int ndim, const int64_t *shape)
{
    if (ndim > RP_MAXDIM || ndim < x->ndim) {
        rp_seterr("expand: cannot expand %d dimensions to %d", x->ndim, ndim);
        return NULL;
    }
    int64_t ia[RP_MAXDIM + 1];
    ia[0] = ndim;
    for (int i = 0; i < ndim; i++) {
        int d = x->ndim - ndim + i;
        int64_t s = shape[i];
        if (s == -1) {
            if (d < 0) { rp_seterr("expand: -1 in new leading dimension %d", i + 1); return NULL; }
            s = x->shape[d];
        }
        if (s < 0) { rp_seterr("expand: negative size %lld", (long long)s); return NULL; }
        ia[1 + i] = s;
    }
    rp_tensor *probe = rp_expand_view(x, ndim, ia + 1);
    if (!probe) return NULL;
    rp_tensor_release(probe);
    return view_op(x, "expand", G_EXPAND, ia, ndim + 1);
}

static int copy_backward(rp_node *n, const rp_tensor *g, rp_tensor *gin[RP_NODE_MAXIN])
{
    (void)n;
    gin[0] = rp_copy_contiguous(g);
    return gin[0] ? 0 : -1;
}

rp_tensor *rp_clone(const rp_tensor *x)
{
    rp_tensor *out = rp_copy_contiguous(x);
    const rp_tensor *in[1] = {x};
    if (out && rp_needs_grad(1, in) &&
        !rp_node_attach(out, "clone", copy_backward, 1, (rp_tensor *const *)in)) {
        rp_tensor_release(out);
        return NULL;
    }
    return out;
}

rp_tensor *rp_contiguous(const rp_tensor *x)
{
    if (rp_is_contiguous(x)) {
        rp_tensor_retain((rp_tensor *)x);
        return (rp_tensor *)x;
    }
    return rp_clone(x);
}

/* ---- cat / stack ---- */

static int cat_backward(rp_node *n, const rp_tensor *g, rp_tensor *gin[RP_NODE_MAXIN])
{
    int dim = (int)n->iargs[0];
    int64_t off = 0;
    for (int i = 0; i < n->ninputs; i++) {
        int64_t len = n->inputs[i]->shape[dim];
        if (n->needs_grad[i]) {
            int64_t ia[3] = {dim, off, len};
            rp_tensor *v = geo_apply(g, G_NARROW, ia);
            gin[i] = v ? rp_copy_contiguous(v) : NULL;
            rp_tensor_release(v);
            if (!gin[i]) return -1;
        }
        off += len;
    }
    return 0;
}

rp_tensor *rp_cat(int n, rp_tensor *const *xs, int dim)
{
    if (n < 1) { rp_seterr("cat: needs at least one tensor"); return NULL; }
    const rp_tensor *x0 = xs[0];
    if (check_dim("cat", x0, dim, 0)) return NULL;
    int64_t shape[RP_MAXDIM];
    memcpy(shape, x0->shape, sizeof shape);
    shape[dim] = 0;
    for (int i = 0; i < n; i++) {
        const rp_tensor *x = xs[i];
        char a[RP_SHAPE_STRLEN], b[RP_SHAPE_STRLEN];
        if (x->dtype != x0->dtype) {
            rp_seterr("cat: tensor %d is %s, tensor 1 is %s", i + 1, rp_dtype_info[x->dtype].name,
                      rp_dtype_info[x0->dtype].name);
            return NULL;
        }
        bool ok = x->ndim == x0->ndim;
        for (int d = 0; ok && d < x->ndim; d++)
            if (d != dim && x->shape[d] != x0->shape[d]) ok = false;
        if (!ok) {
            rp_seterr("cat: tensor %d has shape %s, tensor 1 has %s (dimension %d may differ)",
                      i + 1, shp(x, a), shp(x0, b), dim + 1);
            return NULL;
        }
        shape[dim] += x->shape[dim];
    }
    bool grad = rp_needs_grad(n, (const rp_tensor *const *)xs);
    if (grad && n > RP_NODE_MAXIN) { /* a node holds few inputs: cat groups, then the groups */
        int m = (n + RP_NODE_MAXIN - 1) / RP_NODE_MAXIN;
        rp_tensor **parts = calloc((size_t)m, sizeof *parts);
        if (!parts) { rp_seterr("cat: out of memory"); return NULL; }
        rp_tensor *r = NULL;
        int k;
        for (k = 0; k < m; k++) {
            int lo = k * RP_NODE_MAXIN, cnt = n - lo < RP_NODE_MAXIN ? n - lo : RP_NODE_MAXIN;
            if (!(parts[k] = rp_cat(cnt, xs + lo, dim))) break;
        }
        if (k == m) r = rp_cat(m, parts, dim);
        for (int i = 0; i < m; i++) rp_tensor_release(parts[i]);
        free(parts);
        return r;
    }
    rp_tensor *out = rp_empty_uninit(x0->dtype, x0->ndim, shape);
    if (!out) return NULL;
    int64_t off = 0;
    for (int i = 0; i < n; i++) {
        int64_t ia[3] = {dim, off, xs[i]->shape[dim]};
        rp_tensor *v = geo_apply(out, G_NARROW, ia);
        if (!v || rp_copy_into(v, xs[i]) != 0) { rp_tensor_release(v); rp_tensor_release(out); return NULL; }
        rp_tensor_release(v);
        off += ia[2];
    }
    if (grad) {
        rp_node *node = rp_node_attach(out, "cat", cat_backward, n, xs);
        if (!node) { rp_tensor_release(out); return NULL; }
        node->iargs[0] = dim;
    }
    return out;
}

rp_tensor *rp_stack(int n, rp_tensor *const *xs, int dim)
{
    if (n < 1) { rp_seterr("stack: needs at least one tensor"); return NULL; }
    if (check_dim("stack", xs[0], dim, 1)) return NULL;
    for (int i = 1; i < n; i++)
        if (!rp_same_shape(xs[i], xs[0])) {
            char a[RP_SHAPE_STRLEN], b[RP_SHAPE_STRLEN];
            rp_seterr("stack: tensor %d has shape %s, tensor 1 has %s", i + 1, shp(xs[i], a), shp(xs[0], b));
            return NULL;
        }
    rp_tensor **us = calloc((size_t)n, sizeof *us);
    if (!us) { rp_seterr("stack: out of memory"); return NULL; }
    rp_tensor *r = NULL;
    int k;
    for (k = 0; k < n; k++)
        if (!(us[k] = rp_unsqueeze(xs[k], dim))) break;
    if (k == n) r = rp_cat(n, us, dim);
    for (int i = 0; i < n; i++) rp_tensor_release(us[i]);
    free(us);
    return r;
}
