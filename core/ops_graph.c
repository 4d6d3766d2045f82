/* ops_graph.c: softplus, Gaussian expansion, the CGCNN gated convolution and
 * linear layers as single kernels (see ops_graph.h). Measured reason: a
 * CGCNN training step written as tensor ops spent most of its time outside
 * the matrix products, in ten-odd elementwise passes and their backward
 * nodes per layer, and its matrix product ran over the edge-wise
 * concatenation [h_dst, h_src, e] although two thirds of it depend only on
 * the node (bench/materials.lua). */
#include "ops_graph.h"
#include "ops.h"
#include "ops_nn.h"
#include "autograd.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK 4096     /* elements per parallel work item */
#define MAXF 4096      /* gated_conv feature limit: a stack row of 2 MAXF floats per edge */

/* rp_gemm that accepts empty products (C = beta C, or 0 when beta is 0). */
static void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                 const float *B, int64_t ldb, float beta, float *C, int64_t ldc)
{
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        if (beta == 0.0f)
            for (int64_t i = 0; i < M; i++) memset(C + i * ldc, 0, (size_t)N * sizeof(float));
        return;
    }
    rp_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

int rp_graph_need_f32(const char *fn, const char *what, const rp_tensor *t)
{
    if (t->dtype != RP_F32)
        return rp_seterr("%s: %s must be f32 (got %s)", fn, what, rp_dtype_info[t->dtype].name);
    return 0;
}

/* ---- per-element activations from t = e^-|x| ----
 * Selects are arithmetic on a 0/1 float (no branch), so `omp simd` loops
 * over them vectorise at -O2. */

/* log(1 + t) for t in [0, 1]: 2 atanh(s), s = t / (2 + t) <= 1/3, by its
 * series to s^13 (the first term left out is < 1.5e-8 relative). */
static inline float log1p01(float t)
{
    float s = t / (2.0f + t), s2 = s * s;
    float p = 1.0f / 13.0f;
    p = p * s2 + 1.0f / 11.0f;
    p = p * s2 + 1.0f / 9.0f;
    p = p * s2 + 1.0f / 7.0f;
    p = p * s2 + 1.0f / 5.0f;
    p = p * s2 + 1.0f / 3.0f;
    p = p * s2 + 1.0f;
    return 2.0f * s * p;
}
static inline float sigmoid_t(float x, float t)
{
    /* x >= 0: 1 / (1 + t), else t / (1 + t); the select is a mask on the bits */
    uint32_t m = -(uint32_t)(x >= 0.0f), one, tb;
    float one_f = 1.0f, num;
    memcpy(&one, &one_f, sizeof one);
    memcpy(&tb, &t, sizeof tb);
    tb = (one & m) | (tb & ~m);
    memcpy(&num, &tb, sizeof num);
    return num / (1.0f + t);
}
/* max(x, 0) by a mask on the bits (fmaxf is a libm call at -O2 and stops
 * vectorisation); -inf and NaN give 0, and NaN comes back through t. */
static inline float relu_bits(float x)
{
    uint32_t b;
    memcpy(&b, &x, sizeof b);
    b &= -(uint32_t)(x > 0.0f);
    memcpy(&x, &b, sizeof x);
    return x;
}
static inline float softplus_t(float x, float t) { return relu_bits(x) + log1p01(t); }

RP_VECTOR_CLONES static void acc_row(float *restrict acc, const float *restrict v, int64_t n)
{
    #pragma omp simd
    for (int64_t i = 0; i < n; i++) acc[i] += v[i];
}
RP_VECTOR_CLONES static void add2_row(float *restrict m, const float *restrict a, const float *restrict b, int64_t n)
{
    #pragma omp simd
    for (int64_t i = 0; i < n; i++) m[i] = (m[i] + a[i]) + b[i];
}
/* one edge's pre-activation gradient (2F) from the centre's gradient g (F)
 * and the saved activations a = [gate, core, sigmoid of the core input] */
RP_VECTOR_CLONES static void edge_grad(float *restrict o, const float *restrict g, const float *restrict a, int64_t F)
{
    #pragma omp simd
    for (int64_t f = 0; f < F; f++) {
        float gate = a[f], core = a[F + f], ss = a[2 * F + f];
        o[f] = g[f] * core * (gate * (1.0f - gate));
        o[F + f] = g[f] * gate * ss;
    }
}

/* acc row idx[j] += src row j (F floats) for j in order: the fixed-order
 * segment sum of ops_scatter.c, with restrict rows so it vectorises. */
static void scatter_rows(float *restrict acc, const float *restrict src, const int32_t *idx, int64_t n, int64_t F)
{
    for (int64_t j = 0; j < n; j++) acc_row(acc + (int64_t)idx[j] * F, src + j * F, F);
}

/* t[i] = e^-|x[i]| (t may equal x) */
static void exp_neg_abs(float *t, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) t[i] = -fabsf(x[i]);
    rp_exp_f32(t, t, n);
}

RP_VECTOR_CLONES static void softplus_rows(float *restrict o, const float *restrict x, float *restrict t, int64_t n)
{
    exp_neg_abs(t, x, n);
    #pragma omp simd
    for (int64_t i = 0; i < n; i++) o[i] = softplus_t(x[i], t[i]);
}

RP_VECTOR_CLONES static void softplus_grad_rows(float *restrict gx, const float *restrict g, const float *restrict x,
                                                float *restrict t, int64_t n)
{
    exp_neg_abs(t, x, n);
    #pragma omp simd
    for (int64_t i = 0; i < n; i++) gx[i] = g[i] * sigmoid_t(x[i], t[i]);
}

/* ---- softplus ---- */

static int softplus_backward(rp_node *nd, const rp_tensor *g, rp_tensor *gin[RP_NODE_MAXIN])
{
    const rp_tensor *x = nd->saved[0];
    rp_tensor *gc = rp_contiguous(g);
    rp_tensor *gx = gc ? rp_empty_uninit(RP_F32, x->ndim, x->shape) : NULL;
    if (!gx) { rp_tensor_release(gc); return -1; }
    int64_t n = rp_numel(x), nchunks = (n + CHUNK - 1) / CHUNK;
    const float *gp = RP_F32P(gc), *xp = RP_F32P(x);
    float *op = RP_F32P(gx);
    #pragma omp parallel for schedule(static) if (n > RP_PAR_MIN)
    for (int64_t k = 0; k < nchunks; k++) {
        float t[CHUNK];
        int64_t s = k * CHUNK, len = n - s < CHUNK ? n - s : CHUNK;
        softplus_grad_rows(op + s, gp + s, xp + s, t, len);
    }
    rp_tensor_release(gc);
    gin[0] = gx;
    return 0;
}

rp_tensor *rp_softplus(const rp_tensor *x)
{
    if (rp_graph_need_f32("softplus", "input", x)) return NULL;
    rp_tensor *xc = rp_contiguous(x);
    rp_tensor *out = xc ? rp_empty_uninit(RP_F32, x->ndim, x->shape) : NULL;
    if (out) {
        int64_t n = rp_numel(x), nchunks = (n + CHUNK - 1) / CHUNK;
        const float *xp = RP_F32P(xc);
        float *op = RP_F32P(out);
        #pragma omp parallel for schedule(static) if (n > RP_PAR_MIN)
        for (int64_t k = 0; k < nchunks; k++) {
            float t[CHUNK];
            int64_t s = k * CHUNK, len = n - s < CHUNK ? n - s : CHUNK;
            softplus_rows(op + s, xp + s, t, len);
        }
        const rp_tensor *in[1] = {x}, *sv[1] = {xc};
        out = rp_record(out, "softplus", softplus_backward, 1, in, 1, sv, NULL);
    }
    rp_tensor_release(xc);
    return out;
}

rp_tensor *rp_softplus_ref(const rp_tensor *x)
{
    if (rp_graph_need_f32("softplus", "input", x)) return NULL;
    rp_tensor *out = rp_copy_contiguous(x);
    if (!out) return NULL;
    float *p = RP_F32P(out);
    for (int64_t i = 0, n = rp_numel(out); i < n; i++)
        p[i] = p[i] > 0 ? p[i] + log1pf(expf(-p[i])) : log1pf(expf(p[i]));
    return out;
}

/* ---- Gaussian expansion ---- */

static int gauss_backward(rp_node *nd, const rp_tensor *g, rp_tensor *gin[RP_NODE_MAXIN])
{
    const rp_tensor *d = nd->saved[0], *y = nd->saved[1];
    int64_t E = y->shape[0], K = y->shape[1];
    double step = nd->dargs[0];
    rp_tensor *gc = rp_contiguous(g);
    rp_tensor *gd = gc ? rp_empty_uninit(RP_F32, 1, d->shape) : NULL;
    if (!gd) { rp_tensor_release(gc); return -1; }
    const float *gp = RP_F32P(gc), *yp = RP_F32P(y), *dp = RP_F32P(d);
    float *op = RP_F32P(gd);
    float c = (float)(-2.0 / (step * step));
    #pragma omp parallel for schedule(static) if (E * K > RP_PAR_MIN)
    for (int64_t e = 0; e < E; e++) {
        float acc = 0.0f;
        for (int64_t k = 0; k < K; k++)
            acc += gp[e * K + k] * yp[e * K + k] * (c * (dp[e] - (float)(k * step)));
        op[e] = acc;
    }
    rp_tensor_release(gc);
    gin[0] = gd;
    return 0;
}

rp_tensor *rp_gaussian_expand(const rp_tensor *dist, int64_t K, double cutoff)
{
    if (rp_graph_need_f32("gaussian_expand", "distances", dist)) return NULL;
    if (dist->ndim != 1) {
        char s[RP_SHAPE_STRLEN];
        rp_seterr("gaussian_expand: distances must be 1-d (got shape %s)", rp_shape_str(dist, s, sizeof s));
        return NULL;
    }
    if (K < 2 || K > (1 << 20)) {
        rp_seterr("gaussian_expand: number of Gaussians must be in 2..%d (got %lld)", 1 << 20, (long long)K);
        return NULL;
    }
    if (!(cutoff > 0) || !isfinite(cutoff)) {
        rp_seterr("gaussian_expand: cutoff must be a positive finite number (got %g)", cutoff);
        return NULL;
    }
    double step = cutoff / (double)(K - 1);
    rp_tensor *dc = rp_contiguous(dist);
    int64_t E = dist->shape[0], shape[2] = {E, K};
    rp_tensor *out = dc ? rp_empty_uninit(RP_F32, 2, shape) : NULL;
    if (out) {
        const float *dp = RP_F32P(dc);
        float *op = RP_F32P(out);
        float c = (float)(-1.0 / (step * step));
        #pragma omp parallel for schedule(static) if (E * K > RP_PAR_MIN)
        for (int64_t e = 0; e < E; e++) {
            float *row = op + e * K;
            for (int64_t k = 0; k < K; k++) {
                float u = dp[e] - (float)(k * step);
                row[k] = u * u * c;
            }
            rp_exp_f32(row, row, K);
        }
        const rp_tensor *in[1] = {dist}, *sv[2] = {dc, out};
        rp_node *nd;
        out = rp_record(out, "gaussian_expand", gauss_backward, 1, in, 2, sv, &nd);
        if (nd) nd->dargs[0] = step;
    }
    rp_tensor_release(dc);
    return out;
}

/* ---- the gated convolution ---- */

/* Contiguous 0-based i32 index of length len with entries in [0, limit). */
rp_tensor *rp_graph_check_index(const char *fn, const char *what, const rp_tensor *idx, int64_t len, int64_t limit)
{
    char s[RP_SHAPE_STRLEN];
    if (idx->dtype != RP_I32) {
        rp_seterr("%s: %s index must be i32 (got %s)", fn, what, rp_dtype_info[idx->dtype].name);
        return NULL;
    }
    if (idx->ndim != 1 || idx->shape[0] != len) {
        rp_seterr("%s: %s index must be 1-d of length %lld (got shape %s)", fn, what, (long long)len,
                  rp_shape_str(idx, s, sizeof s));
        return NULL;
    }
    rp_tensor *c = rp_copy_contiguous(idx);
    if (!c) return NULL;
    const int32_t *p = RP_I32P(c);
    for (int64_t k = 0; k < len; k++)
        if (p[k] < 0 || p[k] >= limit) {
            rp_seterr("%s: %s index %lld at position %lld out of range 1..%lld", fn, what, (long long)p[k] + 1,
                      (long long)k + 1, (long long)limit);
            rp_tensor_release(c);
            return NULL;
        }
    return c;
}

/* One edge's activations: m (2F) pre-activations -> act (3F) = [gate, core,
 * sigmoid of the core input], msg (F) = gate * core. t: 2F scratch. */
RP_VECTOR_CLONES static void edge_act(float *restrict act, float *restrict msg, const float *restrict m,
                                      float *restrict t, int64_t F)
{
    exp_neg_abs(t, m, 2 * F);
    #pragma omp simd
    for (int64_t f = 0; f < F; f++) {
        float gate = sigmoid_t(m[f], t[f]);
        float x = m[F + f], u = t[F + f];
        float core = softplus_t(x, u);
        act[f] = gate;
        act[F + f] = core;
        act[2 * F + f] = sigmoid_t(x, u);
        msg[f] = gate * core;
    }
}

static int gated_conv_backward(rp_node *nd, const rp_tensor *g, rp_tensor *gin[RP_NODE_MAXIN])
{
    const rp_tensor *h = nd->saved[0], *e = nd->saved[1], *w = nd->saved[2], *act = nd->saved[3];
    const int32_t *src = RP_I32P(nd->saved[4]), *dst = RP_I32P(nd->saved[5]);
    int64_t N = h->shape[0], F = h->shape[1], E = e->shape[0], K = e->shape[1], F2 = 2 * F, W = F2 + K;
    rp_tensor *gc = rp_contiguous(g);
    int64_t gms[2] = {E, F2};
    rp_tensor *gm = gc ? rp_empty_uninit(RP_F32, 2, gms) : NULL;
    if (!gm) { rp_tensor_release(gc); return -1; }
    const float *gp = RP_F32P(gc), *ap = RP_F32P(act), *hp = RP_F32P(h), *ep = RP_F32P(e), *wp = RP_F32P(w);
    float *mp = RP_F32P(gm);
    /* gradient of the pre-activations, edge by edge */
    #pragma omp parallel for schedule(static) if (E * F > RP_PAR_MIN)
    for (int64_t j = 0; j < E; j++) {
        edge_grad(mp + j * F2, gp + (int64_t)dst[j] * F, ap + j * 3 * F, F);
    }
    rp_tensor_release(gc);
    int rc = -1;
    rp_tensor *gpd = NULL, *gps = NULL;
    if (nd->needs_grad[3]) {  /* bias: column sums in edge order */
        gin[3] = rp_zeros(RP_F32, 1, &F2);
        if (!gin[3]) goto done;
        float *gb = RP_F32P(gin[3]);
        for (int64_t j = 0; j < E; j++) acc_row(gb, mp + j * F2, F2);
    }
    if (nd->needs_grad[0] || nd->needs_grad[2]) {  /* gradients of h w_dst^T and h w_src^T */
        int64_t ps[2] = {N, F2};
        gpd = rp_zeros(RP_F32, 2, ps);
        gps = gpd ? rp_zeros(RP_F32, 2, ps) : NULL;
        if (!gps) goto done;
        scatter_rows(RP_F32P(gpd), mp, dst, E, F2);
        scatter_rows(RP_F32P(gps), mp, src, E, F2);
    }
    if (nd->needs_grad[2]) {
        int64_t ws[2] = {F2, W};
        gin[2] = rp_empty_uninit(RP_F32, 2, ws);
        if (!gin[2]) goto done;
        float *gw = RP_F32P(gin[2]);
        gemm(true, false, F2, F, N, 1.0f, RP_F32P(gpd), F2, hp, F, 0.0f, gw, W);
        gemm(true, false, F2, F, N, 1.0f, RP_F32P(gps), F2, hp, F, 0.0f, gw + F, W);
        gemm(true, false, F2, K, E, 1.0f, mp, F2, ep, K, 0.0f, gw + F2, W);
    }
    if (nd->needs_grad[0]) {
        gin[0] = rp_empty_uninit(RP_F32, 2, h->shape);
        if (!gin[0]) goto done;
        float *gh = RP_F32P(gin[0]);
        gemm(false, false, N, F, F2, 1.0f, RP_F32P(gpd), F2, wp, W, 0.0f, gh, F);
        gemm(false, false, N, F, F2, 1.0f, RP_F32P(gps), F2, wp + F, W, 1.0f, gh, F);
    }
    if (nd->needs_grad[1]) {
        gin[1] = rp_empty_uninit(RP_F32, 2, e->shape);
        if (!gin[1]) goto done;
        gemm(false, false, E, K, F2, 1.0f, mp, F2, wp + F2, W, 0.0f, RP_F32P(gin[1]), K);
    }
    rc = 0;
done:
    rp_tensor_release(gm);
    rp_tensor_release(gpd);
    rp_tensor_release(gps);
    return rc;
}

rp_tensor *rp_gated_conv(const rp_tensor *h, const rp_tensor *e, const rp_tensor *w,
                         const rp_tensor *b, const rp_tensor *src, const rp_tensor *dst)
{
    const char *fn = "gated_conv";
    char s1[RP_SHAPE_STRLEN], s2[RP_SHAPE_STRLEN], s3[RP_SHAPE_STRLEN];
    if (rp_graph_need_f32(fn, "node features", h) || rp_graph_need_f32(fn, "edge features", e) ||
        rp_graph_need_f32(fn, "weight", w) || rp_graph_need_f32(fn, "bias", b))
        return NULL;
    if (h->ndim != 2 || e->ndim != 2 || h->shape[1] < 1 || e->shape[1] < 1) {
        rp_seterr("gated_conv: node features (N, F) and edge features (E, K) must be 2-d with F, K >= 1 "
                  "(got %s and %s)", rp_shape_str(h, s1, sizeof s1), rp_shape_str(e, s2, sizeof s2));
        return NULL;
    }
    int64_t N = h->shape[0], F = h->shape[1], E = e->shape[0], K = e->shape[1], F2 = 2 * F, W = F2 + K;
    if (w->ndim != 2 || w->shape[0] != F2 || w->shape[1] != W || b->ndim != 1 || b->shape[0] != F2) {
        rp_seterr("gated_conv: weight must be (%lld, %lld) and bias (%lld) for node features %s and edge "
                  "features %s (got %s and %s)", (long long)F2, (long long)W, (long long)F2,
                  rp_shape_str(h, s1, sizeof s1), rp_shape_str(e, s2, sizeof s2), rp_shape_str(w, s3, sizeof s3),
                  b->ndim == 1 ? "a vector of another length" : "not a vector");
        return NULL;
    }
    if (N > INT32_MAX || E > INT32_MAX / 4 || F > MAXF || K > (1 << 20)) {
        rp_seterr("gated_conv: sizes too large (N %lld, E %lld, F %lld, K %lld)", (long long)N, (long long)E,
                  (long long)F, (long long)K);
        return NULL;
    }
    rp_tensor *sc = rp_graph_check_index(fn, "source", src, E, N);
    rp_tensor *dc = sc ? rp_graph_check_index(fn, "destination", dst, E, N) : NULL;
    rp_tensor *hc = dc ? rp_contiguous(h) : NULL, *ec = hc ? rp_contiguous(e) : NULL;
    rp_tensor *wc = ec ? rp_contiguous(w) : NULL, *bc = wc ? rp_contiguous(b) : NULL;
    int64_t ps[2] = {N, 2 * F2}, ms[2] = {E, F2}, as[2] = {E, 3 * F}, gs[2] = {E, F}, ys[2] = {N, F};
    rp_tensor *P = bc ? rp_empty_uninit(RP_F32, 2, ps) : NULL;
    rp_tensor *M = P ? rp_empty_uninit(RP_F32, 2, ms) : NULL;
    rp_tensor *act = M ? rp_empty_uninit(RP_F32, 2, as) : NULL;
    rp_tensor *msg = act ? rp_empty_uninit(RP_F32, 2, gs) : NULL;
    rp_tensor *out = msg ? rp_zeros(RP_F32, 2, ys) : NULL;
    if (out) {
        const float *hp = RP_F32P(hc), *ep = RP_F32P(ec), *wp = RP_F32P(wc), *bp = RP_F32P(bc);
        const int32_t *si = RP_I32P(sc), *di = RP_I32P(dc);
        float *pp = RP_F32P(P), *mp = RP_F32P(M), *ap = RP_F32P(act), *gp = RP_F32P(msg);
        /* per node: h w_dst^T | h w_src^T; per edge: b + e w_e^T */
        gemm(false, true, N, F2, F, 1.0f, hp, F, wp, W, 0.0f, pp, 2 * F2);
        gemm(false, true, N, F2, F, 1.0f, hp, F, wp + F, W, 0.0f, pp + F2, 2 * F2);
        for (int64_t j = 0; j < E; j++) memcpy(mp + j * F2, bp, (size_t)F2 * sizeof(float));
        gemm(false, true, E, F2, K, 1.0f, ep, K, wp + F2, W, 1.0f, mp, F2);
        #pragma omp parallel for schedule(static) if (E * F2 > RP_PAR_MIN)
        for (int64_t j = 0; j < E; j++) {
            float t[2 * MAXF];
            float *m = mp + j * F2;
            const float *pd = pp + (int64_t)di[j] * 2 * F2, *pq = pp + (int64_t)si[j] * 2 * F2 + F2;
            add2_row(m, pd, pq, F2);
            edge_act(ap + j * 3 * F, gp + j * F, m, t, F);
        }
        scatter_rows(RP_F32P(out), gp, di, E, F);
        const rp_tensor *in[4] = {h, e, w, b}, *sv[6] = {hc, ec, wc, act, sc, dc};
        out = rp_record(out, fn, gated_conv_backward, 4, in, 6, sv, NULL);
    }
    rp_tensor_release(P); rp_tensor_release(M); rp_tensor_release(act); rp_tensor_release(msg);
    rp_tensor_release(hc); rp_tensor_release(ec); rp_tensor_release(wc); rp_tensor_release(bc);
    rp_tensor_release(sc); rp_tensor_release(dc);
    return out;
}

/* ---- linear ---- */

static int linear_backward(rp_node *nd, const rp_tensor *g, rp_tensor *gin[RP_NODE_MAXIN])
{
    const rp_tensor *x = nd->saved[0], *w = nd->saved[1];
    int64_t O = w->shape[0], I = w->shape[1], R = rp_numel(x) / (I ? I : 1);
    rp_tensor *gc = rp_contiguous(g);
    if (!gc) return -1;
    const float *gp = RP_F32P(gc);
    int rc = -1;
    if (nd->needs_grad[0]) {
        if (!(gin[0] = rp_empty_uninit(RP_F32, x->ndim, x->shape))) goto done;
        gemm(false, false, R, I, O, 1.0f, gp, O, RP_F32P(w), I, 0.0f, RP_F32P(gin[0]), I);
    }
    if (nd->needs_grad[1]) {
        if (!(gin[1] = rp_empty_uninit(RP_F32, 2, w->shape))) goto done;
        gemm(true, false, O, I, R, 1.0f, gp, O, RP_F32P(x), I, 0.0f, RP_F32P(gin[1]), I);
    }
    if (nd->ninputs > 2 && nd->needs_grad[2]) {
        if (!(gin[2] = rp_zeros(RP_F32, 1, &O))) goto done;
        float *gb = RP_F32P(gin[2]);
        for (int64_t r = 0; r < R; r++) acc_row(gb, gp + r * O, O);
    }
    rc = 0;
done:
    rp_tensor_release(gc);
    return rc;
}

rp_tensor *rp_linear(const rp_tensor *x, const rp_tensor *w, const rp_tensor *b)
{
    char s1[RP_SHAPE_STRLEN], s2[RP_SHAPE_STRLEN];
    if (rp_graph_need_f32("linear", "input", x) || rp_graph_need_f32("linear", "weight", w) ||
        (b && rp_graph_need_f32("linear", "bias", b)))
        return NULL;
    if (x->ndim < 1 || w->ndim != 2 || x->shape[x->ndim - 1] != w->shape[1]) {
        rp_seterr("linear: input %s does not fit weight %s (needs (..., in) and (out, in))",
                  rp_shape_str(x, s1, sizeof s1), rp_shape_str(w, s2, sizeof s2));
        return NULL;
    }
    int64_t O = w->shape[0], I = w->shape[1];
    if (b && (b->ndim != 1 || b->shape[0] != O)) {
        rp_seterr("linear: bias %s must be a vector of length %lld", rp_shape_str(b, s1, sizeof s1), (long long)O);
        return NULL;
    }
    if (I > INT32_MAX || O > INT32_MAX || rp_numel(x) / (I ? I : 1) > INT32_MAX) {
        rp_seterr("linear: sizes too large for sgemm");
        return NULL;
    }
    int64_t R = I ? rp_numel(x) / I : 0, shape[RP_MAXDIM];
    memcpy(shape, x->shape, sizeof shape);
    shape[x->ndim - 1] = O;
    rp_tensor *xc = rp_contiguous(x), *wc = xc ? rp_contiguous(w) : NULL;
    rp_tensor *bc = wc && b ? rp_contiguous(b) : NULL;
    rp_tensor *out = wc && (bc || !b) ? rp_empty_uninit(RP_F32, x->ndim, shape) : NULL;
    if (out) {
        float *op = RP_F32P(out);
        if (bc)
            for (int64_t r = 0; r < R; r++) memcpy(op + r * O, RP_F32P(bc), (size_t)O * sizeof(float));
        else
            memset(op, 0, (size_t)(R * O) * sizeof(float));
        if (R > 0 && O > 0 && I > 0)
            gemm(false, true, R, O, I, 1.0f, RP_F32P(xc), I, RP_F32P(wc), I, 1.0f, op, O);
        const rp_tensor *in[3] = {x, w, b}, *sv[2] = {xc, wc};
        out = rp_record(out, "linear", linear_backward, b ? 3 : 2, in, 2, sv, NULL);
    }
    rp_tensor_release(xc); rp_tensor_release(wc); rp_tensor_release(bc);
    return out;
}
