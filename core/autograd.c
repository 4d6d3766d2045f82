/* autograd.c: nodes, grad mode and the backward engine. */
#include "autograd.h"

#include <stdlib.h>
#include <string.h>

static _Thread_local bool grad_mode_off;   /* default: grad mode on */

bool rp_grad_enabled(void) { return !grad_mode_off; }

bool rp_set_grad_enabled(bool on)
{
    bool prev = !grad_mode_off;
    grad_mode_off = !on;
    return prev;
}

bool rp_needs_grad(int n, const rp_tensor *const *inputs)
{
    if (grad_mode_off) return false;
    for (int i = 0; i < n; i++)
        if (inputs[i] && inputs[i]->requires_grad) return true;
    return false;
}

rp_tensor *rp_detach(const rp_tensor *t)
{
    return rp_alias(t, t->ndim, t->shape, t->stride, t->offset);
}

rp_node *rp_node_attach(rp_tensor *out, const char *name, rp_backward_fn fn,
                        int ninputs, rp_tensor *const *inputs)
{
    if (ninputs > RP_NODE_MAXIN) {
        rp_seterr("%s: autograd node with %d inputs (at most %d)", name, ninputs, RP_NODE_MAXIN);
        return NULL;
    }
    rp_node *n = calloc(1, sizeof *n);
    if (!n) { rp_seterr("%s: out of memory for an autograd node", name); return NULL; }
    n->head.release = rp_node_release;
    n->name = name;
    n->backward = fn;
    n->ninputs = ninputs;
    n->refcount = 1;
    for (int i = 0; i < ninputs; i++) {
        n->inputs[i] = inputs[i];
        if (inputs[i]) {
            rp_tensor_retain(inputs[i]);
            n->needs_grad[i] = inputs[i]->requires_grad;
        }
    }
    n->out_ndim = out->ndim;
    memcpy(n->out_shape, out->shape, sizeof(int64_t) * (size_t)out->ndim);
    if (out->grad_fn) rp_node_release(out->grad_fn);
    out->grad_fn = n;
    out->requires_grad = true;
    return n;
}

rp_tensor *rp_record(rp_tensor *out, const char *name, rp_backward_fn fn, int nin,
                     const rp_tensor *const *in, int nsave, const rp_tensor *const *save,
                     rp_node **node_out)
{
    if (node_out) *node_out = NULL;
    if (!rp_needs_grad(nin, in)) return out;
    rp_node *n = rp_node_attach(out, name, fn, nin, (rp_tensor *const *)in);
    if (!n) goto fail;
    for (int i = 0; i < nsave; i++)
        if (save[i] && rp_node_save(n, save[i])) goto fail;
    if (node_out) *node_out = n;
    return out;
fail:
    rp_tensor_release(out);
    return NULL;
}

int rp_node_save(rp_node *n, const rp_tensor *t)
{
    if (n->nsaved >= RP_NODE_MAXSAVED)
        return rp_seterr("%s: too many saved tensors", n->name);
    rp_tensor *d = rp_detach(t);
    if (!d) return -1;
    n->saved_version[n->nsaved] = t->storage->version;
    n->saved[n->nsaved++] = d;
    return 0;
}

void rp_node_retain(rp_node *n) { n->refcount++; }

static void node_free_saved(rp_node *n)
{
    for (int i = 0; i < n->nsaved; i++) {
        rp_tensor_release(n->saved[i]);
        n->saved[i] = NULL;
    }
    n->nsaved = 0;
    if (n->ctx && n->free_ctx) n->free_ctx(n->ctx);
    n->ctx = NULL;
}

void rp_node_release(rp_node *n)
{
    /* Iterative on long chains would be nicer; graphs here are shallow enough
     * (one node per op of a forward pass) that recursion depth stays small. */
    if (!n || --n->refcount > 0) return;
    node_free_saved(n);
    rp_tensor_release(n->pending);
    for (int i = 0; i < n->ninputs; i++) rp_tensor_release(n->inputs[i]);
    free(n);
}

/* ---- reduction of a broadcast gradient ---- */

rp_tensor *rp_sum_to_shape(const rp_tensor *g, int ndim, const int64_t *shape)
{
    if (g->ndim == ndim && memcmp(g->shape, shape, sizeof(int64_t) * (size_t)ndim) == 0)
        return rp_copy_contiguous(g);
    rp_tensor *r = rp_zeros(RP_F32, ndim, shape);
    if (!r) return NULL;
    /* View r with g's shape (stride 0 where summed), then walk g in row-major
     * order with an odometer: a fixed order, so results are reproducible. */
    rp_tensor *rv = rp_expand_view(r, g->ndim, g->shape);
    if (!rv) { rp_tensor_release(r); return NULL; }
    int nd = g->ndim;
    int64_t idx[RP_MAXDIM] = {0};
    int64_t n = rp_numel(g);
    const float *gp = RP_F32P(g);
    float *rp = RP_F32P(rv);
    int64_t goff = 0, roff = 0;
    for (int64_t i = 0; i < n; i++) {
        rp[roff] += gp[goff];
        for (int d = nd - 1; d >= 0; d--) {
            if (++idx[d] < g->shape[d]) {
                goff += g->stride[d];
                roff += rv->stride[d];
                break;
            }
            goff -= (g->shape[d] - 1) * g->stride[d];
            roff -= (g->shape[d] - 1) * rv->stride[d];
            idx[d] = 0;
        }
    }
    rp_tensor_release(rv);
    return r;
}

/* ---- engine ---- */

/* Strides that are a permutation of contiguous ones: every element of the
 * storage once, in some order (a transpose of a fresh gradient is one). */
static bool dense(const rp_tensor *t)
{
    bool used[RP_MAXDIM] = {false};
    int64_t expect = 1;
    for (int k = 0; k < t->ndim; k++) {
        int best = -1;
        for (int d = 0; d < t->ndim; d++)
            if (!used[d] && t->shape[d] > 1 && t->stride[d] == expect) { best = d; break; }
        if (best < 0) {
            for (int d = 0; d < t->ndim; d++)
                if (!used[d] && t->shape[d] <= 1) { best = d; break; }
            if (best < 0) return false;
        }
        used[best] = true;
        expect *= t->shape[best];
    }
    return true;
}

/* *dst += g (g has dst's shape, any strides). Creates *dst if NULL. A leaf's
 * .grad is always contiguous; a pending gradient inside the graph may keep a
 * dense permuted layout, so that the weight gradient of x·wᵀ, which matmul
 * writes in w's own layout, passes the transpose's backward as a view and
 * reaches w.grad without a transposing copy. */
static int accumulate(rp_tensor **dst, const rp_tensor *g, const char *who, bool leaf)
{
    if (g->dtype != RP_F32)
        return rp_seterr("backward: %s produced a %s gradient", who, rp_dtype_info[g->dtype].name);
    if (!*dst) {
        /* A gradient covering its whole storage becomes the accumulator
         * itself, saving the copy: for a leaf only if nobody else can see it
         * (one header, one storage reference); inside the graph even when
         * shared (the two inputs of an add get the same tensor), since
         * pending gradients are only read by backward functions and a second
         * contribution to a shared one is summed out of place below. */
        if ((leaf ? g->refcount == 1 && g->storage->refcount == 1 : true) && g->offset == 0 &&
            !g->grad_fn && (rp_is_contiguous(g) || (!leaf && dense(g))) &&
            (size_t)rp_numel(g) * sizeof(float) == g->storage->nbytes) {
            rp_tensor_retain((rp_tensor *)g);
            *dst = (rp_tensor *)g;
            return 0;
        }
        *dst = rp_copy_contiguous(g);
        return *dst ? 0 : -1;
    }
    if (!rp_same_shape(*dst, g)) {
        char a[RP_SHAPE_STRLEN], b[RP_SHAPE_STRLEN];
        return rp_seterr("backward: %s gradient of shape %s for a tensor of shape %s", who,
                         rp_shape_str(g, b, sizeof b), rp_shape_str(*dst, a, sizeof a));
    }
    rp_tensor *gc = rp_is_contiguous(g) ? (rp_tensor_retain((rp_tensor *)g), (rp_tensor *)g)
                                        : rp_copy_contiguous(g);
    if (!gc) return -1;
    rp_tensor *d = *dst;
    int64_t n = rp_numel(d);
    if (!rp_is_contiguous(d)) {
        rp_tensor *dc = rp_copy_contiguous(d);
        if (!dc) { rp_tensor_release(gc); return -1; }
        rp_tensor_release(d);
        *dst = d = dc;
    } else if (!leaf && (d->refcount != 1 || d->storage->refcount != 1)) {
        /* a shared pending gradient: the sum goes to a fresh tensor (the
         * same additions as in place). A leaf's .grad is always summed in
         * place, as PyTorch does: a reference to it sees the sum. */
        rp_tensor *sum = rp_empty_uninit(RP_F32, d->ndim, d->shape);
        if (!sum) { rp_tensor_release(gc); return -1; }
        float *op = RP_F32P(sum);
        const float *ap = RP_F32P(d), *gp = RP_F32P(gc);
        #pragma omp parallel for schedule(static) if (n > (1 << 15))
        for (int64_t i = 0; i < n; i++) op[i] = ap[i] + gp[i];
        rp_tensor_release(d);
        *dst = sum;
        rp_tensor_release(gc);
        return 0;
    }
    float *dp = RP_F32P(d);
    const float *gp = RP_F32P(gc);
    /* elementwise, so the split over threads does not change any result */
    #pragma omp parallel for schedule(static) if (n > (1 << 15))
    for (int64_t i = 0; i < n; i++) dp[i] += gp[i];
    rp_bump_version(d);
    rp_tensor_release(gc);
    return 0;
}

typedef struct { rp_node **v; size_t n, cap; } node_list;

static int list_push(node_list *l, rp_node *n)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        rp_node **v = realloc(l->v, cap * sizeof *v);
        if (!v) return rp_seterr("backward: out of memory");
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = n;
    return 0;
}

static uint64_t visit_stamp;

/* Post-order DFS (iterative: deep graphs must not overflow the C stack). */
static int topo_sort(rp_node *root, node_list *order)
{
    uint64_t stamp = ++visit_stamp;
    node_list stack = {0};
    typedef struct { rp_node *n; int next; } frame;
    frame *fr = NULL;
    size_t nfr = 0, capfr = 0;
    int rc = 0;
#define PUSH_FRAME(node)                                                       \
    do {                                                                       \
        if (nfr == capfr) {                                                    \
            capfr = capfr ? capfr * 2 : 64;                                    \
            frame *nf = realloc(fr, capfr * sizeof *fr);                       \
            if (!nf) { rc = rp_seterr("backward: out of memory"); goto done; } \
            fr = nf;                                                           \
        }                                                                      \
        fr[nfr].n = (node); fr[nfr].next = 0; nfr++;                           \
        (node)->visit = stamp;                                                 \
    } while (0)
    PUSH_FRAME(root);
    while (nfr > 0) {
        frame *f = &fr[nfr - 1];
        rp_node *n = f->n;
        if (n->released) {
            rc = rp_seterr("backward: the graph through '%s' was already freed by an earlier "
                           "backward (pass retain_graph = true to backward twice)", n->name);
            goto done;
        }
        if (f->next < n->ninputs) {
            rp_tensor *in = n->inputs[f->next++];
            if (in && in->grad_fn && in->grad_fn->visit != stamp) PUSH_FRAME(in->grad_fn);
            continue;
        }
        if (list_push(order, n) != 0) { rc = -1; goto done; }
        nfr--;
    }
#undef PUSH_FRAME
done:
    free(fr);
    free(stack.v);
    return rc;
}

int rp_backward(rp_tensor *root, const rp_tensor *grad, bool retain_graph)
{
    if (!root->requires_grad)
        return rp_seterr("backward: the tensor does not require grad and has no grad_fn");
    rp_tensor *seed;
    if (grad) {
        if (!rp_same_shape(grad, root) || grad->dtype != RP_F32) {
            char a[RP_SHAPE_STRLEN], b[RP_SHAPE_STRLEN];
            return rp_seterr("backward: gradient of shape %s (%s) for a tensor of shape %s",
                             rp_shape_str(grad, a, sizeof a), rp_dtype_info[grad->dtype].name,
                             rp_shape_str(root, b, sizeof b));
        }
        seed = rp_copy_contiguous(grad);
    } else {
        if (rp_numel(root) != 1) {
            char a[RP_SHAPE_STRLEN];
            return rp_seterr("backward: the tensor has shape %s; pass a gradient for a "
                             "non-scalar tensor", rp_shape_str(root, a, sizeof a));
        }
        seed = rp_empty(RP_F32, root->ndim, root->shape);
        if (seed) *RP_F32P(seed) = 1.0f;
    }
    if (!seed) return -1;
    if (!root->grad_fn) { /* a leaf */
        int rc = accumulate(&root->grad, seed, "backward", true);
        rp_tensor_release(seed);
        return rc;
    }
    node_list order = {0};
    int rc = topo_sort(root->grad_fn, &order);
    if (rc != 0) { rp_tensor_release(seed); free(order.v); return rc; }
    for (size_t i = 0; i < order.n; i++) rp_node_retain(order.v[i]);
    root->grad_fn->pending = seed;
    /* backward functions use ops; they must not record a graph of their own */
    bool prev_mode = rp_set_grad_enabled(false);

    for (size_t k = order.n; k-- > 0 && rc == 0;) {
        rp_node *n = order.v[k];
        rp_tensor *g = n->pending;
        n->pending = NULL;
        if (!g) goto next; /* no gradient flows into this node */
        if (!n->backward) {
            rc = rp_seterr("backward: '%s' is not differentiable", n->name);
            rp_tensor_release(g);
            break;
        }
        for (int i = 0; i < n->nsaved; i++)
            if (n->saved[i] && n->saved[i]->storage->version != n->saved_version[i]) {
                rc = rp_seterr("backward: a tensor saved by '%s' was modified in place "
                               "after it was used", n->name);
                break;
            }
        if (rc != 0) { rp_tensor_release(g); break; }
        rp_tensor *gin[RP_NODE_MAXIN] = {0};
        rc = n->backward(n, g, gin);
        rp_tensor_release(g);
        for (int i = 0; i < n->ninputs; i++) {
            rp_tensor *in = n->inputs[i];
            if (rc == 0 && gin[i] && in && in->requires_grad) {
                if (in->grad_fn) rc = accumulate(&in->grad_fn->pending, gin[i], n->name, false);
                else rc = accumulate(&in->grad, gin[i], n->name, true);
            }
            rp_tensor_release(gin[i]);
        }
    next:
        if (!retain_graph) {
            node_free_saved(n);
            n->released = true;
        }
    }
    rp_set_grad_enabled(prev_mode);
    for (size_t i = 0; i < order.n; i++) {
        rp_tensor_release(order.v[i]->pending);
        order.v[i]->pending = NULL;
        rp_node_release(order.v[i]);
    }
    free(order.v);
    return rc;
}
