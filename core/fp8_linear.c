/* fp8_linear.c: the simulated-precision linear op, the SwiGLU gate, the
 * smoothing scale op, and the SwiGLU / Smooth-SwiGLU FFN. */
#include "fp8_linear.h"
#include "autograd.h"
#include "ops.h"
#include "ops_nn.h"

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
    r->bwd_fmt = -1;
    r->refcount = 1;
    if (delayed)
        for (int k = 0; k < RP_NROLES; k++) {
            r->ds[k] = rp_delayed_scaling_new(r->fmt[k], history, margin, algo);
            if (!r->ds[k]) { rp_linear_recipe_release(r); return NULL; }
        }
    return r;
}

int rp_linear_recipe_set_formats(rp_linear_recipe *r, int fwd, int bwd)
{
    if (!rp_fp8_is_8bit(fwd) || !rp_fp8_is_8bit(bwd))
        return rp_seterr("linear_recipe: formats must have codes (%s), got %d and %d",
                         rp_fp8_format_names(), fwd, bwd);
    r->fmt[RP_ROLE_INPUT] = r->fmt[RP_ROLE_WEIGHT] = fwd;
    r->fmt[RP_ROLE_GRAD] = bwd;
    for (int k = 0; k < RP_NROLES; k++)
        if (r->ds[k]) r->ds[k]->fmt = r->fmt[k];
    return 0;
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

/* One operand to bring to the GEMM's precision: src itself (fp32), its bf16
 * rounding, or Q(src) = decode(code(src·s))·(1/s) with the role's scale. */
typedef struct {
    rp_linear_recipe *r;
    int role;
    rp_tensor *src;   /* contiguous f32, borrowed */
    rp_tensor *q;     /* result: a new reference */
} lowp_req;

static bool is_fp8(const rp_linear_recipe *r) { return r && r->numerics == RP_NUMERICS_FP8; }

/* Would requests a and b give the same Q (same bits, same statistics)? */
static bool same_q(const lowp_req *a, const lowp_req *b)
{
    const rp_linear_recipe *ra = a->r, *rb = b->r;
    if (a->src != b->src || ra->fmt[a->role] != rb->fmt[b->role] || ra->saturate != rb->saturate ||
        ra->delayed != rb->delayed)
        return false;
    if (ra->delayed)
        return memcmp(&ra->ds[a->role]->scale, &rb->ds[b->role]->scale, sizeof(float)) == 0;
    return memcmp(&ra->margin, &rb->margin, sizeof(float)) == 0 && ra->pow2 == rb->pow2;
}

/* Fills req[i].q for all n requests. The fp8 ones run in one parallel region
 * (rp_fp8_qdq_f32), and a request equal to an earlier one (same source,
 * format and scale) shares its result. Then, in request order, each fp8 use
 * records its statistics and, for delayed scaling, updates the role's state
 * with its amax (TE semantics: the scale is used, then updated). A batch must
 * not hold one (recipe, role) twice: the second use would have to see the
 * first one's update. n <= LOWP_MAX. Returns 0, or -1 + error with no
 * reference left. */
#define LOWP_MAX 4
static int lowp_many(lowp_req *req, int n)
{
    rp_fp8_qdq_job jobs[LOWP_MAX];
    int job_of[LOWP_MAX], nj = 0;
    for (int i = 0; i < n; i++) req[i].q = NULL;
    for (int i = 0; i < n; i++) {
        lowp_req *q = &req[i];
        rp_linear_recipe *r = q->r;
        job_of[i] = -1;
        if (!r || r->numerics == RP_NUMERICS_FP32) {
            rp_tensor_retain(q->src);
            q->q = q->src;
            continue;
        }
        int k = 0;
        if (is_fp8(r))
            for (; k < i; k++)
                if (job_of[k] >= 0 && same_q(&req[k], q)) break;
        if (is_fp8(r) && k < i && !(r->sr_grad && q->role == RP_ROLE_GRAD)) {
            rp_tensor_retain(req[k].q);
            q->q = req[k].q;
            job_of[i] = job_of[k];
            continue;
        }
        /* fully written below */
        q->q = rp_empty_uninit(RP_F32, q->src->ndim, q->src->shape);
        if (!q->q) goto fail;
        if (r->numerics == RP_NUMERICS_BF16 || (r->input_bf16 && q->role == RP_ROLE_INPUT)) {
            rp_fp8_cast_f32(RP_F32P(q->q), RP_F32P(q->src), rp_numel(q->src), RP_FMT_BF16, false);
            continue;
        }
        int fmt = r->fmt[q->role];
        bool sr = r->sr_grad && q->role == RP_ROLE_GRAD;
        jobs[nj] = (rp_fp8_qdq_job){.out = RP_F32P(q->q), .codes = NULL, .in = RP_F32P(q->src),
                                    .n = rp_numel(q->src), .fmt = fmt, .saturate = r->saturate,
                                    .current = !r->delayed, .pow2 = r->pow2, .margin = r->margin,
                                    .scale = r->delayed ? r->ds[q->role]->scale : 1.0f,
                                    .sr = sr, .seed = r->seed, .base = r->sr_used};
        if (sr) r->sr_used += (uint64_t)rp_numel(q->src);
        job_of[i] = nj++;
    }
    rp_fp8_qdq_f32(jobs, nj);
    for (int i = 0; i < n; i++) {
        if (job_of[i] < 0) continue;
        rp_linear_recipe *r = req[i].r;
        if (r->frozen) continue; /* an evaluation forward: no statistics, no update */
        const rp_fp8_qstats *st = &jobs[job_of[i]].st;
        r->last[req[i].role] = *st;
        r->calls[req[i].role]++;
        if (r->delayed) {
            rp_delayed_scaling *d = r->ds[req[i].role];
            rp_delayed_scaling_update(d, st->amax);
            /* the reference code's power-of-two scale, 2^floor(log2(max/amax)) */
            if (r->pow2 && isfinite(d->scale) && d->scale > 0.0f) d->scale = exp2f(floorf(log2f(d->scale)));
        }
    }
    return 0;
fail:
    for (int i = 0; i < n; i++) {
        rp_tensor_release(req[i].q);
        req[i].q = NULL;
    }
    return -1;
}

/* The operand of a backward product for role (input or weight): the forward
 * copy fwd_q itself, or (bwd_fmt >= 0) a copy of the f32 operand src in
 * bwd_fmt with the scale the forward used. Returns a new reference. */
static rp_tensor *bwd_copy(rp_linear_recipe *r, int role, rp_tensor *src, rp_tensor *fwd_q)
{
    if (!is_fp8(r) || r->bwd_fmt < 0 || (role == RP_ROLE_INPUT && r->input_bf16)) {
        rp_tensor_retain(fwd_q);
        return fwd_q;
    }
    rp_tensor *q = rp_empty_uninit(RP_F32, src->ndim, src->shape);
    if (!q) return NULL;
    rp_fp8_qdq_job jb = {.out = RP_F32P(q), .codes = NULL, .in = RP_F32P(src), .n = rp_numel(src),
                         .fmt = r->bwd_fmt, .saturate = r->saturate, .current = false,
                         .scale = r->last[role].scale > 0.0f ? r->last[role].scale : 1.0f};
    if (r->frozen) jb.scale = r->delayed ? r->ds[role]->scale : jb.scale;
    rp_fp8_qdq_f32(&jb, 1);
    if (!r->frozen) r->last_bwd[role == RP_ROLE_INPUT ? 0 : 1] = jb.st;
    return q;
}

/* y (M,N) = op(A) (M,K) · op(B) (K,N) as rp_gemm arguments; a, b, y
 * contiguous, a stored (M,K) or, with ta, (K,M); b stored (K,N) or, with tb,
 * (N,K); no size 0. rp_gemm_many splits the products over the kit's threads
 * with the same bits as one sgemm each. */
static rp_gemm_args gemm_args(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const rp_tensor *a,
                              const rp_tensor *b, rp_tensor *y)
{
    return (rp_gemm_args){ta, tb, M, N, K, 1.0f, RP_F32P(a), ta ? M : K, RP_F32P(b), tb ? K : N,
                          0.0f, RP_F32P(y), N};
}

/* The same product into a new tensor of the given shape (M·N elements). */
static rp_tensor *gemm(int ndim, const int64_t *shape, bool ta, bool tb, int64_t M, int64_t N,
                       int64_t K, const rp_tensor *a, const rp_tensor *b)
{
    rp_tensor *y = rp_empty_uninit(RP_F32, ndim, shape);
    if (y) { /* beta 0 and no size 0: every element is written */
        rp_gemm_args g = gemm_args(ta, tb, M, N, K, a, b, y);
        rp_gemm_many(&g, 1);
    }
    return y;
}

/* ---- linear ---- */

static int linear_backward(rp_node *nd, const rp_tensor *g, rp_tensor *gin[RP_NODE_MAXIN])
{
    rp_linear_recipe *r = nd->ctx;
    const rp_tensor *xq = nd->saved[0], *wq = nd->saved[1];
    int64_t M = nd->iargs[0], N = nd->iargs[1], K = nd->iargs[2];
    rp_tensor *gc = contig_ref(g);
    if (!gc) return -1;
    lowp_req rq = {r, RP_ROLE_GRAD, gc, NULL};
    int rc = lowp_many(&rq, 1);
    rp_tensor_release(gc);
    if (rc) return -1;
    rp_tensor *gq = rq.q;
    bool full = M > 0 && K > 0 && N > 0;
    /* The two products run as one pool (rp_gemm_many): the weight gradient
     * of a narrow layer cannot be split and would otherwise run alone. */
    rp_gemm_args run[2];
    int nrun = 0;
    if (nd->needs_grad[0]) { /* dgrad (M,K) = g (M,N) · W (N,K) */
        const rp_tensor *x = nd->inputs[0];
        gin[0] = full ? rp_empty_uninit(RP_F32, x->ndim, x->shape)
                      : rp_zeros(RP_F32, x->ndim, x->shape);
        if (!gin[0]) rc = -1;
        else if (full)
            run[nrun++] = gemm_args(false, false, M, K, N, gq, wq, gin[0]);
    }
    if (rc == 0 && nd->needs_grad[1]) { /* wgrad (N,K) = gᵀ (N,M) · x (M,K) */
        const rp_tensor *w = nd->inputs[1];
        gin[1] = full ? rp_empty_uninit(RP_F32, w->ndim, w->shape)
                      : rp_zeros(RP_F32, w->ndim, w->shape);
        if (!gin[1]) rc = -1;
        else if (full)
            run[nrun++] = gemm_args(true, false, N, K, M, gq, xq, gin[1]);
    }
    if (rc == 0) rp_gemm_many(run, nrun); /* beta 0, no size 0: every element is written */
    rp_tensor_release(gq);
    return rc;
}

/* Checks the operands of y = x·wᵀ and gives the GEMM sizes. */
static int linear_check(const rp_tensor *x, const rp_tensor *w, int64_t *M, int64_t *N, int64_t *K)
{
    char a[RP_SHAPE_STRLEN], b[RP_SHAPE_STRLEN];
    if (x->dtype != RP_F32 || w->dtype != RP_F32)
        return rp_seterr("fp8.linear: needs f32 tensors (got %s and %s)", rp_dtype_info[x->dtype].name,
                         rp_dtype_info[w->dtype].name);
    if (w->ndim != 2 || x->ndim < 1 || x->shape[x->ndim - 1] != w->shape[1])
        return rp_seterr("fp8.linear: input %s and weight %s do not match (want x (..., in), W (out, in))",
                         rp_shape_str(x, a, sizeof a), rp_shape_str(w, b, sizeof b));
    *K = w->shape[1];
    *N = w->shape[0];
    *M = *K ? rp_numel(x) / *K : 0;
    if (*M > INT32_MAX || *N > INT32_MAX || *K > INT32_MAX)
        return rp_seterr("fp8.linear: sizes %s x %s too large for BLAS", rp_shape_str(x, a, sizeof a),
                         rp_shape_str(w, b, sizeof b));
    if (*M == 0 && *K == 0) *M = rp_numel(x); /* (..., 0) input: rows still count */
    return 0;
}

/* y = xq·wqᵀ for the checked x, w (sizes M, N, K), with the node that saves
 * xq and wq for backward. Borrows xq and wq. */
static rp_tensor *linear_gemm(const rp_tensor *x, const rp_tensor *w, rp_tensor *xq, rp_tensor *wq,
                              rp_linear_recipe *r, int64_t M, int64_t N, int64_t K,
                              rp_tensor *xc, rp_tensor *wc)
{
    int64_t shape[RP_MAXDIM];
    memcpy(shape, x->shape, sizeof(int64_t) * (size_t)x->ndim);
    shape[x->ndim - 1] = N;
    rp_tensor *y = M > 0 && N > 0 && K > 0 ? gemm(x->ndim, shape, false, true, M, N, K, xq, wq)
                                           : rp_zeros(RP_F32, x->ndim, shape);
    const rp_tensor *ins[2] = {x, w};
    if (y && rp_needs_grad(2, ins)) {
        rp_tensor *in2[2] = {(rp_tensor *)x, (rp_tensor *)w};
        rp_tensor *xb = bwd_copy(r, RP_ROLE_INPUT, xc, xq), *wb = xb ? bwd_copy(r, RP_ROLE_WEIGHT, wc, wq) : NULL;
        rp_node *nd = wb ? rp_node_attach(y, "fp8.linear", linear_backward, 2, in2) : NULL;
        int bad = !nd || rp_node_save(nd, xb) || rp_node_save(nd, wb);
        rp_tensor_release(xb);
        rp_tensor_release(wb);
        if (bad) {
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
    return y;
}

rp_tensor *rp_fp8_linear(const rp_tensor *x, const rp_tensor *w, rp_linear_recipe *r)
{
    int64_t M = 0, N = 0, K = 0;
    if (linear_check(x, w, &M, &N, &K)) return NULL;
    rp_tensor *xc = contig_ref(x), *wc = xc ? contig_ref(w) : NULL;
    lowp_req rq[2] = {{r, RP_ROLE_INPUT, xc, NULL}, {r, RP_ROLE_WEIGHT, wc, NULL}};
    rp_tensor *y = NULL;
    if (wc && lowp_many(rq, 2) == 0) {
        y = linear_gemm(x, w, rq[0].q, rq[1].q, r, M, N, K, xc, wc);
        rp_tensor_release(rq[0].q);
        rp_tensor_release(rq[1].q);
    }
    rp_tensor_release(xc);
    rp_tensor_release(wc);
    return y;
}

/* Elementwise loops of the smoothing op run in parallel over rows; each
 * element's arithmetic is independent of the split. */

/* ---- y = x ⊙ v (constant v along columns or rows) ---- */

/* One product per element: any split over threads gives the same bits. */
static void scale_kernel(float *y, const float *x, const float *v, int64_t R, int64_t C, bool per_row)
{
    #pragma omp parallel for schedule(static) if (R * C > RP_PAR_MIN && R > 1)
    for (int64_t r = 0; r < R; r++) {
        const float *xr = x + r * C;
        float *yr = y + r * C;
        if (per_row) {
            float vr = v[r];
            for (int64_t c = 0; c < C; c++) yr[c] = xr[c] * vr;
        } else {
            for (int64_t c = 0; c < C; c++) yr[c] = xr[c] * v[c];
        }
    }
}

static int scale_backward(rp_node *nd, const rp_tensor *g, rp_tensor *gin[RP_NODE_MAXIN])
{
    if (!nd->needs_grad[0]) return 0;
    rp_tensor *gc = contig_ref(g);
    if (!gc) return -1;
    gin[0] = rp_empty_uninit(RP_F32, g->ndim, g->shape); /* fully written */
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
    rp_tensor *y = xc ? rp_empty_uninit(RP_F32, x->ndim, x->shape) : NULL; /* fully written */
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
                         int stat, rp_swiglu_stats *st)
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
    rp_tensor *a = NULL, *b = NULL;
    if (r1 && r1 == r2) { /* one recipe: its second use must see the first one's update */
        a = rp_fp8_linear(x, w1, r1);
        b = a ? rp_fp8_linear(x, w2, r2) : NULL;
    } else { /* x, W1 and W2 in one pass, x quantized once when both scales agree */
        int64_t M = 0, N = 0, K = 0;
        if (linear_check(x, w1, &M, &N, &K)) return NULL;
        rp_tensor *xc = contig_ref(x), *w1c = xc ? contig_ref(w1) : NULL,
                  *w2c = w1c ? contig_ref(w2) : NULL;
        lowp_req rq[4] = {{r1, RP_ROLE_INPUT, xc, NULL}, {r1, RP_ROLE_WEIGHT, w1c, NULL},
                          {r2, RP_ROLE_INPUT, xc, NULL}, {r2, RP_ROLE_WEIGHT, w2c, NULL}};
        if (w2c && lowp_many(rq, 4) == 0) {
            a = linear_gemm(x, w1, rq[0].q, rq[1].q, r1, M, N, K, xc, w1c);
            b = a ? linear_gemm(x, w2, rq[2].q, rq[3].q, r2, M, N, K, xc, w2c) : NULL;
            for (int i = 0; i < 4; i++) rp_tensor_release(rq[i].q);
        }
        rp_tensor_release(xc);
        rp_tensor_release(w1c);
        rp_tensor_release(w2c);
    }
    rp_tensor *h = b ? rp_silu_mul(a, b) : NULL;
    rp_tensor_release(a);
    if (!h) {
        rp_tensor_release(b);
        return NULL;
    }
    int64_t F = w1->shape[0], M = F ? rp_numel(h) / F : 0;
    /* the statistic of the smoothing: h, or the linear branch b */
    const rp_tensor *sv = smooth != RP_SMOOTH_NONE && stat == RP_SMOOTH_STAT_LINEAR ? b : h;
    if (smooth == RP_SMOOTH_NONE) {
        /* fp8 W3: its input quantization measures max |h| anyway (same bits) */
        rp_tensor_release(b);
        bool from_q = is_fp8(r3) && !r3->input_bf16 && !r3->frozen;
        if (st && !from_q) st->h_amax = rp_amax_f32(RP_F32P(h), rp_numel(h));
        rp_tensor *y = rp_fp8_linear(h, w3, r3);
        if (st && from_q) st->h_amax = r3->last[RP_ROLE_INPUT].amax;
        rp_tensor_release(h);
        return y;
    }
    bool tok = smooth == RP_SMOOTH_TOKEN;
    int64_t ns = tok ? M : F;
    rp_tensor *s = rp_empty_uninit(RP_F32, 1, &ns), *inv = rp_empty_uninit(RP_F32, 1, &ns);
    rp_tensor *y = NULL;
    if (s && inv) {
        float *sp = RP_F32P(s), *ip = RP_F32P(inv);
        /* b is a fresh contiguous GEMM output, h a fresh contiguous gate output */
        if (tok) rp_amax_rows_f32(ip, RP_F32P(sv), M, F);
        else rp_amax_cols_f32(ip, RP_F32P(sv), M, F);
        /* max |h| is the max over the per-token / per-channel maxima (same bits) */
        if (st) st->h_amax = sv == h ? rp_amax_f32(ip, ns) : rp_amax_f32(RP_F32P(h), rp_numel(h));
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
    rp_tensor_release(b);
    return y;
}
