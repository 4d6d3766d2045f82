/* fp8_linear.c: the simulated-precision linear op, the SwiGLU gate, the
 * smoothing scale op, and the SwiGLU / Smooth-SwiGLU FFN. */
#include "fp8_linear.h"
#include "autograd.h"
#include "ops.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- recipes ---- */

rp_linear_recipe *rp_linear_recipe_new(int numerics, bool delayed, int history, float margin,
                                       int algo, bool saturate, bool pow2)
{
    if (numerics < RP_NUMERICS_FP32 || numerics > RP_NUMERICS_FP8) {
        rp_seterr("linear_recipe: unknown numerics %d", numerics);
        return NULL;
    }
    if (!isfinite(margin)) {
        rp_seterr("linear_recipe: margin %g is not finite", (double)margin);
        return NULL;
    }
    rp_linear_recipe *r = calloc(1, sizeof *r);
    if (!r) { rp_seterr("linear_recipe: out of memory"); return NULL; }
    r->numerics = numerics;
    r->delayed = delayed;
    r->saturate = saturate;
    r->pow2 = pow2;
    r->margin = margin;
    r->fmt[RP_ROLE_INPUT] = RP_FMT_E4M3FN;
    r->fmt[RP_ROLE_WEIGHT] = RP_FMT_E4M3FN;
    r->fmt[RP_ROLE_GRAD] = RP_FMT_E5M2;
    r->refcount = 1;
    if (delayed)
        for (int k = 0; k < RP_NROLES; k++) {
            r->ds[k] = rp_delayed_scaling_new(r->fmt[k], history, margin, algo);
            if (!r->ds[k]) { rp_linear_recipe_release(r); return NULL; }
        }
    return r;
}

void rp_linear_recipe_retain(rp_linear_recipe *r) { r->refcount++; }

void rp_linear_recipe_release(rp_linear_recipe *r)
{
    if (!r || --r->refcount > 0) return;
    for (int k = 0; k < RP_NROLES; k++) free(r->ds[k]);
    free(r);
}

static void recipe_free_ctx(void *ctx) { rp_linear_recipe_release(ctx); }

/* ---- helpers ---- */

static rp_tensor *contig_ref(const rp_tensor *t)
{
    if (rp_is_contiguous(t)) {
        rp_tensor_retain((rp_tensor *)t);
        return (rp_tensor *)t;
    }
    return rp_copy_contiguous(t);
}

/* The value the GEMM sees for one role: src itself (fp32), its bf16 rounding,
 * or Q(src) = decode(code(src·s))·(1/s) with the role's scale; records stats
 * and, for delayed scaling, updates the role's state after use. */
static rp_tensor *lowp(rp_linear_recipe *r, int role, rp_tensor *src)
{
    if (!r || r->numerics == RP_NUMERICS_FP32) {
        rp_tensor_retain(src);
        return src;
    }
    int64_t n = rp_numel(src);
    rp_tensor *out = rp_empty_uninit(RP_F32, src->ndim, src->shape); /* fully written below */
    if (!out) return NULL;
    const float *in = RP_F32P(src);
    if (r->numerics == RP_NUMERICS_BF16) {
        rp_fp8_cast_f32(RP_F32P(out), in, n, RP_FMT_BF16, false);
        return out;
    }
    uint8_t *codes = malloc((size_t)(n > 0 ? n : 1));
    if (!codes) {
        rp_tensor_release(out);
        rp_seterr("fp8 linear: out of memory for %lld codes", (long long)n);
        return NULL;
    }
    int fmt = r->fmt[role];
    float scale = r->delayed ? r->ds[role]->scale
                             : rp_fp8_current_scale(rp_amax_f32(in, n), fmt, r->margin, r->pow2);
    rp_fp8_qstats st;
    rp_fp8_quantize_f32(codes, &st, in, n, fmt, scale, r->saturate, false, 0, 0);
    rp_fp8_decode_f32(RP_F32P(out), codes, n, fmt, 1.0f / scale);
    free(codes);
    r->last[role] = st;
    r->calls[role]++;
    if (r->delayed) rp_delayed_scaling_update(r->ds[role], st.amax);
    return out;
}

/* ---- linear ---- */

static int linear_backward(rp_node *nd, const rp_tensor *g, rp_tensor *gin[RP_NODE_MAXIN])
{
    rp_linear_recipe *r = nd->ctx;
    const rp_tensor *xq = nd->saved[0], *wq = nd->saved[1];
    int64_t M = nd->iargs[0], N = nd->iargs[1], K = nd->iargs[2];
    rp_tensor *gc = contig_ref(g);
    if (!gc) return -1;
    rp_tensor *gq = lowp(r, RP_ROLE_GRAD, gc);
    rp_tensor_release(gc);
    if (!gq) return -1;
    int rc = 0;
    if (nd->needs_grad[0]) {
        const rp_tensor *x = nd->inputs[0];
        /* BLAS writes every element when no size is 0 (beta = 0) */
        bool full = M > 0 && K > 0 && N > 0;
        gin[0] = full ? rp_empty_uninit(RP_F32, x->ndim, x->shape) : rp_empty(RP_F32, x->ndim, x->shape);
        if (!gin[0]) rc = -1;
        else if (M > 0 && K > 0)  /* dgrad (M,K) = g (M,N) · W (N,K) */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)M, (int)K, (int)N, 1.0f,
                        RP_F32P(gq), (int)(N > 0 ? N : 1), RP_F32P(wq), (int)(K > 0 ? K : 1),
                        0.0f, RP_F32P(gin[0]), (int)K);
    }
    if (rc == 0 && nd->needs_grad[1]) {
        const rp_tensor *w = nd->inputs[1];
        bool full = M > 0 && K > 0 && N > 0;
        gin[1] = full ? rp_empty_uninit(RP_F32, w->ndim, w->shape) : rp_zeros(RP_F32, w->ndim, w->shape);
        if (!gin[1]) rc = -1;
        else if (M > 0 && N > 0 && K > 0)  /* wgrad (N,K) = gᵀ (N,M) · x (M,K) */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)N, (int)K, (int)M, 1.0f,
                        RP_F32P(gq), (int)N, RP_F32P(xq), (int)K, 0.0f, RP_F32P(gin[1]), (int)K);
    }
    rp_tensor_release(gq);
    return rc;
}

rp_tensor *rp_fp8_linear(const rp_tensor *x, const rp_tensor *w, rp_linear_recipe *r)
{
    char a[RP_SHAPE_STRLEN], b[RP_SHAPE_STRLEN];
    if (x->dtype != RP_F32 || w->dtype != RP_F32) {
        rp_seterr("fp8.linear: needs f32 tensors (got %s and %s)", rp_dtype_info[x->dtype].name,
                  rp_dtype_info[w->dtype].name);
        return NULL;
    }
    if (w->ndim != 2 || x->ndim < 1 || x->shape[x->ndim - 1] != w->shape[1]) {
        rp_seterr("fp8.linear: input %s and weight %s do not match (want x (..., in), W (out, in))",
                  rp_shape_str(x, a, sizeof a), rp_shape_str(w, b, sizeof b));
        return NULL;
    }
    int64_t K = w->shape[1], N = w->shape[0], M = K ? rp_numel(x) / K : 0;
    if (M > INT32_MAX || N > INT32_MAX || K > INT32_MAX) {
        rp_seterr("fp8.linear: sizes %s x %s too large for BLAS", rp_shape_str(x, a, sizeof a),
                  rp_shape_str(w, b, sizeof b));
        return NULL;
    }
    if (M == 0 && K == 0) M = rp_numel(x); /* (..., 0) input: rows still count */
    rp_tensor *xc = contig_ref(x), *wc = xc ? contig_ref(w) : NULL;
    rp_tensor *xq = wc ? lowp(r, RP_ROLE_INPUT, xc) : NULL;
    rp_tensor *wq = xq ? lowp(r, RP_ROLE_WEIGHT, wc) : NULL;
    rp_tensor_release(xc);
    rp_tensor_release(wc);
    int64_t shape[RP_MAXDIM];
    memcpy(shape, x->shape, sizeof(int64_t) * (size_t)x->ndim);
    shape[x->ndim - 1] = N;
    rp_tensor *y = !wq ? NULL : M > 0 && N > 0 && K > 0 ? rp_empty_uninit(RP_F32, x->ndim, shape)
                                                        : rp_zeros(RP_F32, x->ndim, shape);
    if (y && M > 0 && N > 0 && K > 0)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)N, (int)K, 1.0f,
                    RP_F32P(xq), (int)K, RP_F32P(wq), (int)K, 0.0f, RP_F32P(y), (int)N);
    const rp_tensor *ins[2] = {x, w};
    if (y && rp_needs_grad(2, ins)) {
        rp_tensor *in2[2] = {(rp_tensor *)x, (rp_tensor *)w};
        rp_node *nd = rp_node_attach(y, "fp8.linear", linear_backward, 2, in2);
        if (!nd || rp_node_save(nd, xq) || rp_node_save(nd, wq)) {
            rp_tensor_release(y);
            y = NULL;
        } else {
            nd->iargs[0] = M;
            nd->iargs[1] = N;
            nd->iargs[2] = K;
            if (r) {
                rp_linear_recipe_retain(r);
                nd->ctx = r;
                nd->free_ctx = recipe_free_ctx;
            }
        }
    }
    rp_tensor_release(xq);
    rp_tensor_release(wq);
    return y;
}

/* ---- SwiGLU gate: h = silu(a) ⊙ b ---- */

/* sigmoid with the kit's vectorised exp (rp_exp_f32, <= 2 ulp); the gate
 * loops run in parallel chunks of a fixed size, each element's arithmetic
 * independent of the split, so any thread count gives the same bits. */
#define GATE_CHUNK 4096
#define GATE_PAR_MIN (1 << 15)

static void sigmoid_chunk(float *s, const float *a, int64_t n)
{
    for (int64_t i = 0; i < n; i++) s[i] = -a[i];
    rp_exp_f32(s, s, n);
    for (int64_t i = 0; i < n; i++) s[i] = 1.0f / (1.0f + s[i]);
}

static int gate_backward(rp_node *nd, const rp_tensor *g, rp_tensor *gin[RP_NODE_MAXIN])
{
    const rp_tensor *a = nd->saved[0], *b = nd->saved[1];
    rp_tensor *gc = contig_ref(g);
    if (!gc) return -1;
    int64_t n = rp_numel(a);
    gin[0] = nd->needs_grad[0] ? rp_empty_uninit(RP_F32, a->ndim, a->shape) : NULL;
    gin[1] = nd->needs_grad[1] ? rp_empty_uninit(RP_F32, b->ndim, b->shape) : NULL;
    if ((nd->needs_grad[0] && !gin[0]) || (nd->needs_grad[1] && !gin[1])) {
        rp_tensor_release(gc);
        return -1;
    }
    const float *ap = RP_F32P(a), *bp = RP_F32P(b), *gp = RP_F32P(gc);
    float *da = gin[0] ? RP_F32P(gin[0]) : NULL, *db = gin[1] ? RP_F32P(gin[1]) : NULL;
    int64_t nchunks = (n + GATE_CHUNK - 1) / GATE_CHUNK;
    #pragma omp parallel for schedule(static) if (n > GATE_PAR_MIN)
    for (int64_t c = 0; c < nchunks; c++) {
        float s[GATE_CHUNK];
        int64_t o = c * GATE_CHUNK, m = n - o < GATE_CHUNK ? n - o : GATE_CHUNK;
        sigmoid_chunk(s, ap + o, m);
        if (da)
            for (int64_t i = 0; i < m; i++)
                da[o + i] = gp[o + i] * bp[o + i] * s[i] * (1.0f + ap[o + i] * (1.0f - s[i]));
        if (db)
            for (int64_t i = 0; i < m; i++) db[o + i] = gp[o + i] * ap[o + i] * s[i];
    }
    rp_tensor_release(gc);
    return 0;
}

rp_tensor *rp_swiglu_gate(const rp_tensor *a, const rp_tensor *b)
{
    if (a->dtype != RP_F32 || b->dtype != RP_F32 || !rp_same_shape(a, b)) {
        char s1[RP_SHAPE_STRLEN], s2[RP_SHAPE_STRLEN];
        rp_seterr("swiglu: gate shapes %s and %s differ (or not f32)", rp_shape_str(a, s1, sizeof s1),
                  rp_shape_str(b, s2, sizeof s2));
        return NULL;
    }
    rp_tensor *ac = contig_ref(a), *bc = ac ? contig_ref(b) : NULL;
    rp_tensor *h = bc ? rp_empty_uninit(RP_F32, a->ndim, a->shape) : NULL;
    if (h) {
        const float *ap = RP_F32P(ac), *bp = RP_F32P(bc);
        float *hp = RP_F32P(h);
        int64_t n = rp_numel(h), nchunks = (n + GATE_CHUNK - 1) / GATE_CHUNK;
        #pragma omp parallel for schedule(static) if (n > GATE_PAR_MIN)
        for (int64_t c = 0; c < nchunks; c++) {
            int64_t o = c * GATE_CHUNK, m = n - o < GATE_CHUNK ? n - o : GATE_CHUNK;
            sigmoid_chunk(hp + o, ap + o, m);
            for (int64_t i = 0; i < m; i++) hp[o + i] = ap[o + i] * hp[o + i] * bp[o + i];
        }
        const rp_tensor *ins[2] = {a, b};
        if (rp_needs_grad(2, ins)) {
            rp_tensor *in2[2] = {(rp_tensor *)a, (rp_tensor *)b};
            rp_node *nd = rp_node_attach(h, "swiglu.gate", gate_backward, 2, in2);
            if (!nd || rp_node_save(nd, ac) || rp_node_save(nd, bc)) {
                rp_tensor_release(h);
                h = NULL;
            }
        }
    }
    rp_tensor_release(ac);
    rp_tensor_release(bc);
    return h;
}

/* ---- y = x ⊙ v (constant v along columns or rows) ---- */

static void scale_kernel(float *y, const float *x, const float *v, int64_t R, int64_t C, bool per_row)
{
    for (int64_t r = 0; r < R; r++)
        for (int64_t c = 0; c < C; c++) y[r * C + c] = x[r * C + c] * v[per_row ? r : c];
}

static int scale_backward(rp_node *nd, const rp_tensor *g, rp_tensor *gin[RP_NODE_MAXIN])
{
    if (!nd->needs_grad[0]) return 0;
    rp_tensor *gc = contig_ref(g);
    if (!gc) return -1;
    gin[0] = rp_empty(RP_F32, g->ndim, g->shape);
    if (gin[0])
        scale_kernel(RP_F32P(gin[0]), RP_F32P(gc), RP_F32P(nd->saved[0]), nd->iargs[0],
                     nd->iargs[1], nd->iargs[2] != 0);
    rp_tensor_release(gc);
    return gin[0] ? 0 : -1;
}

rp_tensor *rp_scale_by_vector(const rp_tensor *x, const rp_tensor *v, bool per_row)
{
    int64_t C = x->ndim ? x->shape[x->ndim - 1] : 1, R = C ? rp_numel(x) / C : 0;
    if (x->dtype != RP_F32 || v->dtype != RP_F32 || !rp_is_contiguous(v) ||
        rp_numel(v) != (per_row ? R : C)) {
        rp_seterr("swiglu: smoothing vector of %lld entries for %lld %s",
                  (long long)rp_numel(v), (long long)(per_row ? R : C), per_row ? "rows" : "columns");
        return NULL;
    }
    rp_tensor *xc = contig_ref(x);
    rp_tensor *y = xc ? rp_empty(RP_F32, x->ndim, x->shape) : NULL;
    if (y) {
        scale_kernel(RP_F32P(y), RP_F32P(xc), RP_F32P(v), R, C, per_row);
        const rp_tensor *ins[1] = {x};
        if (rp_needs_grad(1, ins)) {
            rp_tensor *in1[1] = {(rp_tensor *)x};
            rp_node *nd = rp_node_attach(y, "swiglu.smooth", scale_backward, 1, in1);
            if (!nd || rp_node_save(nd, v)) {
                rp_tensor_release(y);
                y = NULL;
            } else {
                nd->iargs[0] = R;
                nd->iargs[1] = C;
                nd->iargs[2] = per_row;
            }
        }
    }
    rp_tensor_release(xc);
    return y;
}

/* ---- the FFN ---- */

rp_tensor *rp_fp8_swiglu(const rp_tensor *x, const rp_tensor *w1, const rp_tensor *w2,
                         const rp_tensor *w3, rp_linear_recipe *const recipes[3], int smooth,
                         rp_swiglu_stats *st)
{
    char s1[RP_SHAPE_STRLEN], s2[RP_SHAPE_STRLEN];
    if (w1->ndim != 2 || w2->ndim != 2 || w3->ndim != 2 || !rp_same_shape(w1, w2) ||
        w3->shape[0] != w1->shape[1] || w3->shape[1] != w1->shape[0]) {
        rp_seterr("fp8.swiglu: weights W1 %s, W3 %s do not fit (want W1, W2 (f, d), W3 (d, f))",
                  rp_shape_str(w1, s1, sizeof s1), rp_shape_str(w3, s2, sizeof s2));
        return NULL;
    }
    rp_linear_recipe *r1 = recipes ? recipes[0] : NULL, *r2 = recipes ? recipes[1] : NULL,
                     *r3 = recipes ? recipes[2] : NULL;
    rp_tensor *a = rp_fp8_linear(x, w1, r1);
    rp_tensor *b = a ? rp_fp8_linear(x, w2, r2) : NULL;
    rp_tensor *h = b ? rp_swiglu_gate(a, b) : NULL;
    rp_tensor_release(a);
    rp_tensor_release(b);
    if (!h) return NULL;
    int64_t F = w1->shape[0], M = F ? rp_numel(h) / F : 0;
    if (st) st->h_amax = rp_amax_f32(RP_F32P(h), rp_numel(h));
    if (smooth == RP_SMOOTH_NONE) {
        rp_tensor *y = rp_fp8_linear(h, w3, r3);
        rp_tensor_release(h);
        return y;
    }
    bool tok = smooth == RP_SMOOTH_TOKEN;
    int64_t ns = tok ? M : F;
    rp_tensor *s = rp_empty(RP_F32, 1, &ns), *inv = rp_empty(RP_F32, 1, &ns);
    rp_tensor *y = NULL;
    if (s && inv) {
        float *sp = RP_F32P(s), *ip = RP_F32P(inv);
        if (tok) rp_amax_rows_f32(ip, RP_F32P(h), M, F);
        else rp_amax_cols_f32(ip, RP_F32P(h), M, F);
        /* an all-zero (or non-finite) channel/token is left unscaled */
        for (int64_t i = 0; i < ns; i++) {
            if (!(ip[i] > 0.0f) || !isfinite(ip[i]) || !isfinite(1.0f / ip[i])) ip[i] = 1.0f;
            sp[i] = 1.0f / ip[i];
        }
        rp_tensor *hs = rp_scale_by_vector(h, s, tok);
        if (hs && !tok) {
            rp_tensor *w3s = rp_scale_by_vector(w3, inv, false);
            if (w3s) y = rp_fp8_linear(hs, w3s, r3);
            rp_tensor_release(w3s);
        } else if (hs) {
            rp_tensor *ys = rp_fp8_linear(hs, w3, r3);
            if (ys) y = rp_scale_by_vector(ys, inv, true);
            rp_tensor_release(ys);
        }
        rp_tensor_release(hs);
    }
    rp_tensor_release(s);
    rp_tensor_release(inv);
    rp_tensor_release(h);
    return y;
}
