/* ops_pair.c: layer norm and DiffCSP's all-pairs edge block as single
 * kernels (see ops_graph.h). The composed denoiser built a (B, N, N, F)
 * tensor four times per layer (three broadcast adds and silu) and reduced
 * it with a separate mean; here each pair row is made, activated and
 * reduced in one pass. Sums run in a fixed order (rows in index order). */
#include "ops_graph.h"
#include "ops.h"
#include "autograd.h"
#include "ops_nn.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ROWMAX 8192   /* largest feature row kept on the stack */
#define TWO_PI 6.283185307179586476925286766559

static int shape_err(const char *fn, const char *what, const rp_tensor *t)
{
    char s[RP_SHAPE_STRLEN];
    return rp_seterr("%s: %s has shape %s, %s", fn, what, rp_shape_str(t, s, sizeof s),
                     "which does not fit the other inputs");
}

/* silu(s) and silu'(s) from t = e^-s */
static inline float silu_t(float s, float t) { return s / (1.0f + t); }
static inline float silu_d_t(float s, float t)
{
    float sg = 1.0f / (1.0f + t);
    return sg * (1.0f + s * (1.0f - sg));
}
/* t = -s as a vector loop (restrict: t and s never overlap), then e^t */
RP_VECTOR_CLONES static void neg_row(float *restrict t, const float *restrict s, int64_t n)
{
    #pragma omp simd
    for (int64_t i = 0; i < n; i++) t[i] = -s[i];
}
static void exp_neg(float *t, const float *s, int64_t n)
{
    neg_row(t, s, n);
    rp_exp_f32(t, t, n);
}

/* Row kernels with restrict pointers: GCC -O2 vectorises a loop only when
 * it need not check for overlap at run time. Same per-element operations as
 * a plain loop, so the same bits. */
RP_VECTOR_CLONES static void add4_row(float *restrict s, const float *restrict p, const float *restrict a,
                                      const float *restrict c, const float *restrict d, int64_t F)
{
    #pragma omp simd
    for (int64_t f = 0; f < F; f++) s[f] = ((p[f] + a[f]) + c[f]) + d[f];
}
RP_VECTOR_CLONES static void add_row(float *restrict s, const float *restrict y, const float *restrict b, int64_t F)
{
    #pragma omp simd
    for (int64_t f = 0; f < F; f++) s[f] = y[f] + b[f];
}
/* ot holds t = e^-s on entry and silu(s) on return */
RP_VECTOR_CLONES static void silu_row(float *restrict ot, const float *restrict s, int64_t F)
{
    #pragma omp simd
    for (int64_t f = 0; f < F; f++) ot[f] = silu_t(s[f], ot[f]);
}
RP_VECTOR_CLONES static void silu_acc_row(float *restrict acc, const float *restrict s, const float *restrict t,
                                          int64_t F)
{
    #pragma omp simd
    for (int64_t f = 0; f < F; f++) acc[f] += silu_t(s[f], t[f]);
}
/* o holds t = e^-s on entry and g * scale * silu'(s) on return */
RP_VECTOR_CLONES static void silu_grad_row(float *restrict o, const float *restrict g, float scale,
                                           const float *restrict s, int64_t F)
{
    #pragma omp simd
    for (int64_t f = 0; f < F; f++) o[f] = g[f] * scale * silu_d_t(s[f], o[f]);
}
RP_VECTOR_CLONES static void acc_row(float *restrict acc, const float *restrict v, int64_t F)
{
    #pragma omp simd
    for (int64_t f = 0; f < F; f++) acc[f] += v[f];
}

/* ---- layer norm ---- */

static int layer_norm_backward(rp_node *nd, const rp_tensor *g, rp_tensor *gin[RP_NODE_MAXIN])
{
    const rp_tensor *y = nd->saved[0], *rs = nd->saved[1];
    int64_t C = y->shape[y->ndim - 1], R = rp_numel(rs);
    rp_tensor *gc = rp_contiguous(g);
    rp_tensor *gx = gc ? rp_empty_uninit(RP_F32, y->ndim, y->shape) : NULL;
    if (!gx) { rp_tensor_release(gc); return -1; }
    const float *gp = RP_F32P(gc), *yp = RP_F32P(y), *rp = RP_F32P(rs);
    float *op = RP_F32P(gx);
    #pragma omp parallel for schedule(static) if (R * C > RP_PAR_MIN)
    for (int64_t r = 0; r < R; r++) {
        const float *gr = gp + r * C, *yr = yp + r * C;
        double sg = 0, sgy = 0;
        for (int64_t c = 0; c < C; c++) { sg += gr[c]; sgy += (double)gr[c] * yr[c]; }
        float mg = (float)(sg / (double)C), mgy = (float)(sgy / (double)C);
        for (int64_t c = 0; c < C; c++) op[r * C + c] = rp[r] * ((gr[c] - mg) - yr[c] * mgy);
    }
    rp_tensor_release(gc);
    gin[0] = gx;
    return 0;
}

/* One row: mean and biased variance summed in double in index order. */
static void layer_norm_row(float *o, float *rstd_out, const float *xr, int64_t C, double eps)
{
    double s = 0, v = 0;
    for (int64_t c = 0; c < C; c++) s += xr[c];
    double mu = s / (double)C;
    for (int64_t c = 0; c < C; c++) { double d = xr[c] - mu; v += d * d; }
    float rstd = (float)(1.0 / sqrt(v / (double)C + eps)), m = (float)mu;
    *rstd_out = rstd;
    for (int64_t c = 0; c < C; c++) o[c] = (xr[c] - m) * rstd;
}

/* LN_GROUP rows at once, each summed exactly as layer_norm_row sums it (same
 * order, same bits): a row's double sum is one chain of dependent adds, so
 * interleaving independent rows keeps the adder busy (the DiffCSP denoiser's
 * rows have 64 entries; the latency of the chains was most of its cost). */
#define LN_GROUP 4
static void layer_norm_group(float *o, float *rstd_out, const float *x, int64_t C, double eps)
{
    double s[LN_GROUP] = {0}, v[LN_GROUP] = {0}, mu[LN_GROUP];
    for (int64_t c = 0; c < C; c++)
        for (int q = 0; q < LN_GROUP; q++) s[q] += x[q * C + c];
    for (int q = 0; q < LN_GROUP; q++) mu[q] = s[q] / (double)C;
    for (int64_t c = 0; c < C; c++)
        for (int q = 0; q < LN_GROUP; q++) { double d = x[q * C + c] - mu[q]; v[q] += d * d; }
    for (int q = 0; q < LN_GROUP; q++) {
        float rstd = (float)(1.0 / sqrt(v[q] / (double)C + eps)), m = (float)mu[q];
        rstd_out[q] = rstd;
        for (int64_t c = 0; c < C; c++) o[q * C + c] = (x[q * C + c] - m) * rstd;
    }
}

rp_tensor *rp_layer_norm(const rp_tensor *x, double eps)
{
    if (rp_graph_need_f32("layer_norm", "input", x)) return NULL;
    if (x->ndim < 1 || x->shape[x->ndim - 1] < 1) {
        char s[RP_SHAPE_STRLEN];
        rp_seterr("layer_norm: input must have a non-empty last dimension (got shape %s)", rp_shape_str(x, s, sizeof s));
        return NULL;
    }
    if (!(eps >= 0) || !isfinite(eps)) {
        rp_seterr("layer_norm: eps must be a finite number >= 0 (got %g)", eps);
        return NULL;
    }
    int64_t C = x->shape[x->ndim - 1], R = rp_numel(x) / C;
    rp_tensor *xc = rp_contiguous(x);
    rp_tensor *out = xc ? rp_empty_uninit(RP_F32, x->ndim, x->shape) : NULL;
    rp_tensor *rs = out ? rp_empty_uninit(RP_F32, 1, &R) : NULL;
    if (!rs) { rp_tensor_release(xc); rp_tensor_release(out); return NULL; }
    const float *xp = RP_F32P(xc);
    float *op = RP_F32P(out), *rp = RP_F32P(rs);
    int64_t G = (R + LN_GROUP - 1) / LN_GROUP;
    #pragma omp parallel for schedule(static) if (R * C > RP_PAR_MIN)
    for (int64_t g = 0; g < G; g++) {
        int64_t r0 = g * LN_GROUP;
        if (R - r0 >= LN_GROUP) {
            layer_norm_group(op + r0 * C, rp + r0, xp + r0 * C, C, eps);
            continue;
        }
        for (int64_t r = r0; r < R; r++) layer_norm_row(op + r * C, rp + r, xp + r * C, C, eps);
    }
    const rp_tensor *in[1] = {x}, *sv[2] = {out, rs};
    rp_tensor *res = rp_record(out, "layer_norm", layer_norm_backward, 1, in, 2, sv, NULL);
    rp_tensor_release(xc);
    rp_tensor_release(rs);
    return res;
}

/* ---- pair_silu ---- */

static int pair_silu_backward(rp_node *nd, const rp_tensor *g, rp_tensor *gin[RP_NODE_MAXIN])
{
    const rp_tensor *s = nd->saved[0];
    int64_t B = s->shape[0], N = s->shape[1], F = s->shape[3];
    rp_tensor *gc = rp_contiguous(g);
    rp_tensor *gs = gc ? rp_empty_uninit(RP_F32, 4, s->shape) : NULL;
    int64_t as[3] = {B, N, F}, ds[2] = {B, F};
    rp_tensor *ga = gs ? rp_zeros(RP_F32, 3, as) : NULL, *gcc = ga ? rp_zeros(RP_F32, 3, as) : NULL;
    rp_tensor *gd = gcc ? rp_zeros(RP_F32, 2, ds) : NULL;
    if (!gd) {
        rp_tensor_release(gc); rp_tensor_release(gs); rp_tensor_release(ga); rp_tensor_release(gcc);
        return -1;
    }
    const float *gp = RP_F32P(gc), *sp = RP_F32P(s);
    float *op = RP_F32P(gs), *pa = RP_F32P(ga), *pc = RP_F32P(gcc), *pd = RP_F32P(gd);
    #pragma omp parallel for schedule(static) if (B * N * N * F > RP_PAR_MIN)
    for (int64_t b = 0; b < B; b++) {
        for (int64_t i = 0; i < N; i++)
            for (int64_t j = 0; j < N; j++) {
                int64_t o = ((b * N + i) * N + j) * F;
                exp_neg(op + o, sp + o, F);
                silu_grad_row(op + o, gp + o, 1.0f, sp + o, F);
                acc_row(pa + (b * N + i) * F, op + o, F);
                acc_row(pc + (b * N + j) * F, op + o, F);
                acc_row(pd + b * F, op + o, F);
            }
    }
    rp_tensor_release(gc);
    gin[0] = ga; gin[1] = gcc; gin[2] = gd; gin[3] = gs;
    for (int k = 0; k < 4; k++)
        if (!nd->needs_grad[k]) { rp_tensor_release(gin[k]); gin[k] = NULL; }
    return 0;
}

rp_tensor *rp_pair_silu(const rp_tensor *a, const rp_tensor *c, const rp_tensor *d, const rp_tensor *p)
{
    const char *fn = "pair_silu";
    if (rp_graph_need_f32(fn, "a", a) || rp_graph_need_f32(fn, "c", c) || rp_graph_need_f32(fn, "d", d) ||
        rp_graph_need_f32(fn, "p", p))
        return NULL;
    if (p->ndim != 4) return shape_err(fn, "p (B, N, N, F)", p), NULL;
    int64_t B = p->shape[0], N = p->shape[1], F = p->shape[3];
    if (p->shape[2] != N) return shape_err(fn, "p (B, N, N, F)", p), NULL;
    if (a->ndim != 3 || a->shape[0] != B || a->shape[1] != N || a->shape[2] != F)
        return shape_err(fn, "a (B, N, F)", a), NULL;
    if (c->ndim != 3 || c->shape[0] != B || c->shape[1] != N || c->shape[2] != F)
        return shape_err(fn, "c (B, N, F)", c), NULL;
    if (d->ndim != 2 || d->shape[0] != B || d->shape[1] != F) return shape_err(fn, "d (B, F)", d), NULL;
    if (F > ROWMAX) return shape_err(fn, "p (F at most 8192)", p), NULL;
    rp_tensor *ac = rp_contiguous(a), *cc = ac ? rp_contiguous(c) : NULL;
    rp_tensor *dc = cc ? rp_contiguous(d) : NULL, *pc = dc ? rp_contiguous(p) : NULL;
    const rp_tensor *in[4] = {a, c, d, p};
    bool grad = rp_needs_grad(4, in);
    /* pre-activations: kept for backward, else one stack row at a time */
    rp_tensor *s = pc && grad ? rp_empty_uninit(RP_F32, 4, p->shape) : NULL;
    rp_tensor *out = pc && (s || !grad) ? rp_empty_uninit(RP_F32, 4, p->shape) : NULL;
    if (out) {
        const float *pa = RP_F32P(ac), *pcc = RP_F32P(cc), *pd = RP_F32P(dc), *pp = RP_F32P(pc);
        float *sp = s ? RP_F32P(s) : NULL, *op = RP_F32P(out);
        int64_t rows = B * N * N;
        #pragma omp parallel for schedule(static) if (rows * F > RP_PAR_MIN)
        for (int64_t r = 0; r < rows; r++) {
            int64_t b = r / (N * N), i = (r / N) % N, j = r % N, o = r * F;
            const float *ar = pa + (b * N + i) * F, *cr = pcc + (b * N + j) * F, *dr = pd + b * F;
            float row[ROWMAX];
            float *sr = sp ? sp + o : row;
            add4_row(sr, pp + o, ar, cr, dr, F);
            exp_neg(op + o, sr, F);
            silu_row(op + o, sr, F);
        }
        const rp_tensor *sv[1] = {s};
        out = rp_record(out, fn, pair_silu_backward, 4, in, grad ? 1 : 0, sv, NULL);
    }
    rp_tensor_release(s);
    rp_tensor_release(ac); rp_tensor_release(cc); rp_tensor_release(dc); rp_tensor_release(pc);
    return out;
}

/* ---- silu_mean ---- */

static int silu_mean_backward(rp_node *nd, const rp_tensor *g, rp_tensor *gin[RP_NODE_MAXIN])
{
    const rp_tensor *y = nd->saved[0], *bias = nd->saved[1];
    int64_t F = y->shape[y->ndim - 1], M = y->shape[y->ndim - 2], R = rp_numel(y) / (M * F);
    rp_tensor *gc = rp_contiguous(g);
    rp_tensor *gy = gc ? rp_empty_uninit(RP_F32, y->ndim, y->shape) : NULL;
    rp_tensor *gb = gy ? rp_zeros(RP_F32, 1, &F) : NULL;
    if (!gb) { rp_tensor_release(gc); rp_tensor_release(gy); return -1; }
    const float *gp = RP_F32P(gc), *yp = RP_F32P(y), *bp = RP_F32P(bias);
    float *op = RP_F32P(gy), *pb = RP_F32P(gb);
    float inv = 1.0f / (float)M;
    #pragma omp parallel for schedule(static) if (R * M * F > RP_PAR_MIN)
    for (int64_t r = 0; r < R; r++)
        for (int64_t j = 0; j < M; j++) {
            int64_t o = (r * M + j) * F;
            float s[ROWMAX];
            add_row(s, yp + o, bp, F);
            exp_neg(op + o, s, F);
            silu_grad_row(op + o, gp + r * F, inv, s, F);
        }
    if (nd->needs_grad[1])
        for (int64_t k = 0; k < R * M; k++) acc_row(pb, op + k * F, F);
    rp_tensor_release(gc);
    if (nd->needs_grad[0]) gin[0] = gy; else rp_tensor_release(gy);
    if (nd->needs_grad[1]) gin[1] = gb; else rp_tensor_release(gb);
    return 0;
}
/* out[r, :] = mean over j < M of silu(y[r, j, :] + b), for R rows of F
 * features (out zeroed): the forward of silu_mean, shared by pair_mlp_mean
 * so both give the same bits. */
static void silu_mean_rows(float *op, const float *yp, const float *bp, int64_t R, int64_t M, int64_t F)
{
    #pragma omp parallel for schedule(static) if (R * M * F > RP_PAR_MIN)
    for (int64_t r = 0; r < R; r++) {
        float s[ROWMAX], t[ROWMAX];
        float *acc = op + r * F;
        for (int64_t j = 0; j < M; j++) {
            add_row(s, yp + (r * M + j) * F, bp, F);
            exp_neg(t, s, F);
            silu_acc_row(acc, s, t, F);
        }
        for (int64_t f = 0; f < F; f++) acc[f] /= (float)M;
    }
}


rp_tensor *rp_silu_mean(const rp_tensor *y, const rp_tensor *bias)
{
    const char *fn = "silu_mean";
    if (rp_graph_need_f32(fn, "input", y) || rp_graph_need_f32(fn, "bias", bias)) return NULL;
    if (y->ndim < 2 || y->shape[y->ndim - 2] < 1 || y->shape[y->ndim - 1] > ROWMAX)
        return shape_err(fn, "the input (..., M, F) with M >= 1 and F <= 8192", y), NULL;
    int64_t F = y->shape[y->ndim - 1], M = y->shape[y->ndim - 2];
    if (bias->ndim != 1 || bias->shape[0] != F) return shape_err(fn, "the bias (F)", bias), NULL;
    int64_t R = F ? rp_numel(y) / (M * F) : 0, shape[RP_MAXDIM];
    memcpy(shape, y->shape, sizeof shape);
    shape[y->ndim - 2] = F;
    rp_tensor *yc = rp_contiguous(y), *bc = yc ? rp_contiguous(bias) : NULL;
    rp_tensor *out = bc ? rp_zeros(RP_F32, y->ndim - 1, shape) : NULL;
    if (out) {
        const float *yp = RP_F32P(yc), *bp = RP_F32P(bc);
        float *op = RP_F32P(out);
        silu_mean_rows(op, yp, bp, R, M, F);
        const rp_tensor *in[2] = {y, bias}, *sv[2] = {yc, bc};
        out = rp_record(out, fn, silu_mean_backward, 2, in, 2, sv, NULL);
    }
    rp_tensor_release(yc); rp_tensor_release(bc);
    return out;
}

/* ---- pair_mlp_mean: the whole edge block ---- */

/* Without a gradient: pair_silu's rows, the product with w^T exactly as
 * rp_linear makes it (a zeroed C, one rp_gemm over all rows with beta 1) and
 * silu_mean's loop, through two scratch buffers instead of two tensors and
 * two Lua calls: the bits of the three ops. With a gradient: the three ops
 * themselves, for their autograd nodes. */
rp_tensor *rp_pair_mlp_mean(const rp_tensor *a, const rp_tensor *c, const rp_tensor *d, const rp_tensor *p,
                            const rp_tensor *w, const rp_tensor *bias)
{
    const char *fn = "pair_mlp_mean";
    if (rp_graph_need_f32(fn, "weight", w) || rp_graph_need_f32(fn, "bias", bias)) return NULL;
    if (p->ndim != 4) return shape_err(fn, "p (B, N, N, F)", p), NULL;
    int64_t B = p->shape[0], N = p->shape[1], F = p->shape[3];
    if (w->ndim != 2 || w->shape[1] != F || w->shape[0] > ROWMAX) return shape_err(fn, "the weight (O, F), O at most 8192", w), NULL;
    int64_t O = w->shape[0];
    if (bias->ndim != 1 || bias->shape[0] != O) return shape_err(fn, "the bias (O)", bias), NULL;
    const rp_tensor *in[6] = {a, c, d, p, w, bias};
    if (rp_needs_grad(6, in) || B * N * N * F * O == 0) {
        rp_tensor *pre = rp_pair_silu(a, c, d, p);
        rp_tensor *y = pre ? rp_linear(pre, w, NULL) : NULL;
        rp_tensor *out = y ? rp_silu_mean(y, bias) : NULL;
        rp_tensor_release(pre);
        rp_tensor_release(y);
        return out;
    }
    /* the checks pair_silu makes, with its messages */
    if (rp_graph_need_f32(fn, "a", a) || rp_graph_need_f32(fn, "c", c) || rp_graph_need_f32(fn, "d", d) ||
        rp_graph_need_f32(fn, "p", p))
        return NULL;
    if (p->shape[2] != N) return shape_err(fn, "p (B, N, N, F)", p), NULL;
    if (a->ndim != 3 || a->shape[0] != B || a->shape[1] != N || a->shape[2] != F)
        return shape_err(fn, "a (B, N, F)", a), NULL;
    if (c->ndim != 3 || c->shape[0] != B || c->shape[1] != N || c->shape[2] != F)
        return shape_err(fn, "c (B, N, F)", c), NULL;
    if (d->ndim != 2 || d->shape[0] != B || d->shape[1] != F) return shape_err(fn, "d (B, F)", d), NULL;
    if (F > ROWMAX) return shape_err(fn, "p (F at most 8192)", p), NULL;
    int64_t rows = B * N * N;
    if (rows > INT32_MAX) return shape_err(fn, "p (at most 2^31 - 1 pairs)", p), NULL;
    int64_t shape[3] = {B, N, O};
    rp_tensor *ac = rp_contiguous(a), *cc = ac ? rp_contiguous(c) : NULL;
    rp_tensor *dc = cc ? rp_contiguous(d) : NULL, *pc = dc ? rp_contiguous(p) : NULL;
    rp_tensor *wc = pc ? rp_contiguous(w) : NULL, *bc = wc ? rp_contiguous(bias) : NULL;
    float *S = bc ? malloc((size_t)(rows * F) * sizeof(float)) : NULL;
    float *Y = S ? calloc((size_t)(rows * O), sizeof(float)) : NULL;   /* rp_linear's zeroed C */
    rp_tensor *out = Y ? rp_zeros(RP_F32, 3, shape) : NULL;
    if (bc && !Y) rp_seterr("%s: out of memory", fn);
    if (out) {
        const float *pa = RP_F32P(ac), *pcc = RP_F32P(cc), *pd = RP_F32P(dc), *pp = RP_F32P(pc);
        #pragma omp parallel for schedule(static) if (rows * F > RP_PAR_MIN)
        for (int64_t r = 0; r < rows; r++) {
            int64_t b = r / (N * N), i = (r / N) % N, j = r % N, o = r * F;
            float row[ROWMAX];
            add4_row(row, pp + o, pa + (b * N + i) * F, pcc + (b * N + j) * F, pd + b * F, F);
            exp_neg(S + o, row, F);
            silu_row(S + o, row, F);
        }
        rp_gemm(false, true, rows, O, F, 1.0f, S, F, RP_F32P(wc), F, 1.0f, Y, O);
        const float *bp = RP_F32P(bc);
        float *op = RP_F32P(out);
        int64_t R = B * N;
        silu_mean_rows(op, Y, bp, R, N, O);
    }
    free(S); free(Y);
    rp_tensor_release(ac); rp_tensor_release(cc); rp_tensor_release(dc); rp_tensor_release(pc);
    rp_tensor_release(wc); rp_tensor_release(bc);
    return out;
}

/* ---- Fourier features of fractional differences ---- */

rp_tensor *rp_frac_fourier(const rp_tensor *frac, int64_t K)
{
    const char *fn = "frac_fourier";
    if (rp_graph_need_f32(fn, "fractional coordinates", frac)) return NULL;
    if (frac->ndim != 3 || frac->shape[2] != 3)
        return shape_err(fn, "the fractional coordinates (B, N, 3)", frac), NULL;
    if (K < 1 || K > 4096) {
        rp_seterr("%s: number of frequencies must be in 1..4096 (got %lld)", fn, (long long)K);
        return NULL;
    }
    const rp_tensor *in[1] = {frac};
    if (rp_needs_grad(1, in)) {
        rp_seterr("%s: not differentiable; call it on coordinates without a gradient (T.no_grad or :detach())", fn);
        return NULL;
    }
    int64_t B = frac->shape[0], N = frac->shape[1], shape[4] = {B, N, N, 6 * K};
    rp_tensor *fc = rp_contiguous(frac);
    rp_tensor *out = fc ? rp_empty_uninit(RP_F32, 4, shape) : NULL;
    if (out) {
        const float *fp = RP_F32P(fc);
        float *op = RP_F32P(out);
        int64_t rows = B * N * N;
        #pragma omp parallel for schedule(static) if (rows * K > RP_PAR_MIN / 8)
        for (int64_t r = 0; r < rows; r++) {
            int64_t b = r / (N * N), i = (r / N) % N, j = r % N;
            float *o = op + r * 6 * K;
            for (int c = 0; c < 3; c++) {
                /* f_j - f_i wrapped into [0, 1) as repro.diffusion.frac does */
                float dd = fp[(b * N + j) * 3 + c] - fp[(b * N + i) * 3 + c];
                float w = dd - truncf(dd);
                w += (float)(w < 0.0f);
                w -= (float)(w >= 1.0f);
                /* w = 0 (every i = j pair): sin 0 and cos 0 are exactly 0 and 1 */
                double th = TWO_PI * (double)w, s1 = w == 0.0f ? 0.0 : sin(th), c1 = w == 0.0f ? 1.0 : cos(th);
                double sk = 0.0, ck = 1.0;
                for (int64_t k = 0; k < K; k++) {   /* rotation by th: sin, cos of k th */
                    o[c * 2 * K + k] = (float)sk;
                    o[c * 2 * K + K + k] = (float)ck;
                    double ns = sk * c1 + ck * s1;
                    ck = ck * c1 - sk * s1;
                    sk = ns;
                }
            }
        }
    }
    rp_tensor_release(fc);
    return out;
}
