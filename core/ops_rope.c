/* ops_rope.c: rotary position embeddings. The cos/sin table depends only on
 * (T, D, offset, base), the same for every layer and for forward and
 * backward, so a few tables are kept between calls. */
#include "ops.h"
#include "ops_nn.h"
#include "autograd.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Row t of the table, D floats: cos of the D/2 angles (offset + t) *
 * base^(-2i/D), then their sin, each computed in double and rounded once. */
static float *rope_table(int64_t T, int64_t D, int64_t offset, double base)
{
    int64_t half = D / 2;
    float *tab = malloc(sizeof(float) * (size_t)(T * D + 1));
    double *freq = malloc(sizeof(double) * (size_t)(half + 1));
    if (!tab || !freq) {
        free(tab);
        free(freq);
        rp_seterr("rope: out of memory");
        return NULL;
    }
    for (int64_t i = 0; i < half; i++) freq[i] = pow(base, -2.0 * (double)i / (double)D);
    for (int64_t t = 0; t < T; t++)
        for (int64_t i = 0; i < half; i++) {
            double ang = (double)(offset + t) * freq[i];
            tab[t * D + i] = (float)cos(ang);
            tab[t * D + half + i] = (float)sin(ang);
        }
    free(freq);
    return tab;
}

/* The cache: ROPE_CACHE tables of at most ROPE_CACHE_FLOATS floats (4 MB)
 * each; a larger one is built for its call and freed after. An entry in use
 * (refs > 0) is never evicted; otherwise the least recently used one goes.
 * The tables live until the process ends. */
#define ROPE_CACHE 8
#define ROPE_CACHE_FLOATS ((int64_t)1 << 20)
static struct {
    int64_t T, D, offset;
    double base;
    float *tab;
    int refs;
    uint64_t used;
} rope_cache[ROPE_CACHE];
static uint64_t rope_clock;

/* The table for (T, D, offset, base); *slot says what rope_put must do. */
static const float *rope_get(int64_t T, int64_t D, int64_t offset, double base, int *slot)
{
    float *tab = NULL;
    *slot = -1;
    #pragma omp critical(rp_rope_cache)
    {
        int victim = -1; /* an empty slot, else the least recently used idle one */
        for (int i = 0; i < ROPE_CACHE; i++) {
            if (rope_cache[i].tab && rope_cache[i].T == T && rope_cache[i].D == D &&
                rope_cache[i].offset == offset && rope_cache[i].base == base) {
                tab = rope_cache[i].tab;
                *slot = i;
                break;
            }
            if (rope_cache[i].refs > 0) continue;
            if (victim < 0 || (rope_cache[victim].tab &&
                               (!rope_cache[i].tab || rope_cache[i].used < rope_cache[victim].used)))
                victim = i;
        }
        if (!tab && T * D <= ROPE_CACHE_FLOATS && victim >= 0) {
            tab = rope_table(T, D, offset, base);
            if (tab) {
                free(rope_cache[victim].tab);
                rope_cache[victim].T = T;
                rope_cache[victim].D = D;
                rope_cache[victim].offset = offset;
                rope_cache[victim].base = base;
                rope_cache[victim].tab = tab;
                *slot = victim;
            }
        }
        if (*slot >= 0) {
            rope_cache[*slot].refs++;
            rope_cache[*slot].used = ++rope_clock;
        }
    }
    if (!tab) tab = rope_table(T, D, offset, base); /* too big, or every entry in use */
    return tab;
}

static void rope_put(const float *tab, int slot)
{
    if (slot < 0) {
        free((float *)tab);
        return;
    }
    #pragma omp critical(rp_rope_cache)
    rope_cache[slot].refs--;
}

/* y (R, T, D), contiguous = rotate x by sign * angle; sign -1 is the inverse
 * (backward). x is (..., T, D) with unit stride in D and any other strides
 * (the (B, T, H, D) -> (B, H, T, D) transpose of the heads needs no copy). */
static int rope_apply(float *y, const rp_tensor *x, const float *tab, float sign)
{
    const int nd = x->ndim;
    const int64_t T = x->shape[nd - 2], D = x->shape[nd - 1], half = D / 2;
    const int64_t R = T * D != 0 ? rp_numel(x) / (T * D) : 0, st = x->stride[nd - 2];
    /* offsets of the R (T, D) slabs, by an odometer over the leading dims */
    int64_t *roff = malloc(sizeof(int64_t) * (size_t)(R + 1)), idx[RP_MAXDIM] = {0};
    if (!roff) return rp_seterr("rope: out of memory");
    for (int64_t r = 0, off = 0; r < R; r++) {
        roff[r] = off;
        for (int d = nd - 3; d >= 0; d--) {
            off += x->stride[d];
            if (++idx[d] < x->shape[d]) break;
            off -= idx[d] * x->stride[d];
            idx[d] = 0;
        }
    }
    const float *xp = RP_F32P(x);
    #pragma omp parallel for collapse(2) schedule(static) if (R * T * D > 32768)
    for (int64_t r = 0; r < R; r++)
        for (int64_t t = 0; t < T; t++) {
            const float *cs = tab + t * D, *sn = cs + half;
            const float *xr = xp + roff[r] + t * st;
            float *yr = y + (r * T + t) * D;
            #pragma omp simd
            for (int64_t i = 0; i < half; i++) {
                float c = cs[i], s = sign * sn[i];
                float a = xr[i], b = xr[i + half];
                yr[i] = a * c - b * s;
                yr[i + half] = b * c + a * s;
            }
        }
    free(roff);
    return 0;
}

/* x itself when its rows have unit stride, else a contiguous copy. */
static rp_tensor *rope_input(const rp_tensor *x)
{
    bool unit = x->shape[x->ndim - 1] <= 1 || x->stride[x->ndim - 1] == 1;
    return unit ? rp_detach(x) : rp_copy_contiguous(x);
}

static int rope_backward(rp_node *n, const rp_tensor *g, rp_tensor *gin[RP_NODE_MAXIN])
{
    int64_t T = g->shape[g->ndim - 2], D = g->shape[g->ndim - 1];
    int slot;
    rp_tensor *gc = rope_input(g);
    const float *tab = rope_get(T, D, n->iargs[0], n->dargs[0], &slot);
    gin[0] = rp_empty_uninit(RP_F32, g->ndim, g->shape);
    int rc = -1;
    if (gc && tab && gin[0]) rc = rope_apply(RP_F32P(gin[0]), gc, tab, -1.0f);
    if (tab) rope_put(tab, slot);
    rp_tensor_release(gc);
    return rc;
}

rp_tensor *rp_rope(const rp_tensor *x, int64_t offset, double base)
{
    char a[RP_SHAPE_STRLEN];
    if (x->dtype != RP_F32) {
        rp_seterr("rope: input must be f32, got %s", rp_dtype_info[x->dtype].name);
        return NULL;
    }
    if (x->ndim < 2 || x->shape[x->ndim - 1] % 2 != 0) {
        rp_seterr("rope: input %s must be (..., T, D) with D even", rp_shape_str(x, a, sizeof a));
        return NULL;
    }
    if (!(base > 0) || offset < 0) {
        rp_seterr("rope: base %g must be positive and offset %lld non-negative", base,
                  (long long)offset);
        return NULL;
    }
    int64_t T = x->shape[x->ndim - 2], D = x->shape[x->ndim - 1];
    int slot;
    rp_tensor *xc = rope_input(x);
    const float *tab = rope_get(T, D, offset, base, &slot);
    rp_tensor *y = rp_empty_uninit(RP_F32, x->ndim, x->shape);
    if (!xc || !tab || !y || rope_apply(RP_F32P(y), xc, tab, 1.0f)) {
        rp_tensor_release(y);
        y = NULL;
        goto done;
    }
    const rp_tensor *ins[1] = {x};
    if (rp_needs_grad(1, ins)) {
        rp_tensor *in1[1] = {(rp_tensor *)x};
        rp_node *node = rp_node_attach(y, "rope", rope_backward, 1, in1);
        if (!node) { rp_tensor_release(y); y = NULL; goto done; }
        node->iargs[0] = offset;
        node->dargs[0] = base;
    }
done:
    if (tab) rope_put(tab, slot);
    rp_tensor_release(xc);
    return y;
}
