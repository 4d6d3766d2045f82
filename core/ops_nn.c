/* ops_nn.c: softmax / log_softmax, cross_entropy, rms_norm, embedding,
 * dropout, one_hot. Forward and backward are fused per row; rows run in
 * parallel, and every reduction across rows (loss mean, weight gradients)
 * runs in row order so results do not depend on the thread count. */
#include "ops.h"
#include "ops_nn.h"
#include "autograd.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int need_f32(const char *op, const char *what, const rp_tensor *t)
{
    if (t->dtype != RP_F32)
        return rp_seterr("%s: %s must be f32, got %s", op, what, rp_dtype_info[t->dtype].name);
    return 0;
}

static int need_i32(const char *op, const char *what, const rp_tensor *t)
{
    if (t->dtype != RP_I32)
        return rp_seterr("%s: %s must be i32, got %s", op, what, rp_dtype_info[t->dtype].name);
    return 0;
}

/* ---- softmax / log_softmax ---- */

static int norm_dim(const char *op, const rp_tensor *x, int dim)
{
    int d = dim < 0 ? dim + x->ndim : dim;
    if (x->ndim == 0 || d < 0 || d >= x->ndim)
        return rp_seterr("%s: dimension %d out of range for a %d-d tensor", op, dim, x->ndim);
    return d;
}

/* View a contiguous shape as (O, N, I) around dimension d. */
static void split3(const rp_tensor *x, int d, int64_t *O, int64_t *N, int64_t *I)
{
    *O = 1; *I = 1;
    for (int i = 0; i < d; i++) *O *= x->shape[i];
    for (int i = d + 1; i < x->ndim; i++) *I *= x->shape[i];
    *N = x->shape[d];
}

/* y (O, N, I) = softmax or log_softmax over N of x (O, N, I). */
static void softmax_fwd(float *y, const float *x, int64_t O, int64_t N, int64_t I, bool is_log)
{
    #pragma omp parallel for schedule(static) if (O * N * I > RP_PAR_MIN)
    for (int64_t r = 0; r < O * I; r++) {
        int64_t base = (r / I) * N * I + r % I;
        const float *xp = x + base;
        float *yp = y + base;
        float mx = -INFINITY;
        for (int64_t j = 0; j < N; j++) mx = xp[j * I] > mx ? xp[j * I] : mx;
        double sum = 0;
        for (int64_t j = 0; j < N; j++) {
            float e = expf(xp[j * I] - mx);
            if (!is_log) yp[j * I] = e;
            sum += e;
        }
        if (is_log) {
            float lse = mx + (float)log(sum);
            for (int64_t j = 0; j < N; j++) yp[j * I] = xp[j * I] - lse;
        } else {
            float inv = (float)(1.0 / sum);
            for (int64_t j = 0; j < N; j++) yp[j * I] *= inv;
        }
    }
}

/* gx = y (g - Σ g y) for softmax; gx = g - exp(y) Σ g for log_softmax. */
static void softmax_bwd(float *gx, const float *g, const float *y, int64_t O, int64_t N,
                        int64_t I, bool is_log)
{
    #pragma omp parallel for schedule(static) if (O * N * I > RP_PAR_MIN)
    for (int64_t r = 0; r < O * I; r++) {
        int64_t base = (r / I) * N * I + r % I;
        const float *gp = g + base, *yp = y + base;
        float *dp = gx + base;
        double s = 0;
        for (int64_t j = 0; j < N; j++) s += is_log ? gp[j * I] : gp[j * I] * yp[j * I];
        float fs = (float)s;
        for (int64_t j = 0; j < N; j++)
            dp[j * I] = is_log ? gp[j * I] - expf(yp[j * I]) * fs : yp[j * I] * (gp[j * I] - fs);
    }
}

static int softmax_backward(rp_node *n, const rp_tensor *g, rp_tensor *gin[RP_NODE_MAXIN])
{
    const rp_tensor *y = n->saved[0];
    int d = (int)n->iargs[0];
    bool is_log = n->iargs[1] != 0;
    rp_tensor *gc = rp_contiguous_detached(g);
    if (!gc) return -1;
    gin[0] = rp_empty(RP_F32, y->ndim, y->shape);
    if (!gin[0]) { rp_tensor_release(gc); return -1; }
    int64_t O, N, I;
    split3(y, d, &O, &N, &I);
    softmax_bwd(RP_F32P(gin[0]), RP_F32P(gc), RP_F32P(y), O, N, I, is_log);
    rp_tensor_release(gc);
    return 0;
}

static rp_tensor *softmax_common(const rp_tensor *x, int dim, bool is_log)
{
    const char *op = is_log ? "log_softmax" : "softmax";
    if (need_f32(op, "input", x)) return NULL;
    int d = norm_dim(op, x, dim);
    if (d < 0) return NULL;
    rp_tensor *xc = rp_contiguous_detached(x);
    if (!xc) return NULL;
    rp_tensor *y = rp_empty(RP_F32, x->ndim, x->shape);
    if (y) {
        int64_t O, N, I;
        split3(x, d, &O, &N, &I);
        softmax_fwd(RP_F32P(y), RP_F32P(xc), O, N, I, is_log);
        rp_node *node;
        const rp_tensor *in[1] = {x}, *sv[1] = {y};
        y = rp_record(y, op, softmax_backward, 1, in, 1, sv, &node);
        if (node) { node->iargs[0] = d; node->iargs[1] = is_log; }
    }
    rp_tensor_release(xc);
    return y;
}

rp_tensor *rp_softmax(const rp_tensor *x, int dim) { return softmax_common(x, dim, false); }
rp_tensor *rp_log_softmax(const rp_tensor *x, int dim) { return softmax_common(x, dim, true); }

rp_tensor *rp_softmax_ref(const rp_tensor *x, int dim, bool is_log)
{
    int d = norm_dim("softmax", x, dim);
    if (d < 0 || need_f32("softmax", "input", x)) return NULL;
    rp_tensor *y = rp_copy_contiguous(x);
    if (!y) return NULL;
    int64_t O, N, I;
    split3(x, d, &O, &N, &I);
    float *p = RP_F32P(y);
    for (int64_t o = 0; o < O; o++)
        for (int64_t i = 0; i < I; i++) {
            float *r = p + o * N * I + i;
            double mx = -INFINITY, s = 0;
            for (int64_t j = 0; j < N; j++) mx = fmax(mx, r[j * I]);
            for (int64_t j = 0; j < N; j++) s += exp(r[j * I] - mx);
            for (int64_t j = 0; j < N; j++)
                r[j * I] = (float)(is_log ? r[j * I] - mx - log(s) : exp(r[j * I] - mx) / s);
        }
    return y;
}

/* ---- cross_entropy ---- */

static int ce_check(const rp_tensor *logits, const rp_tensor *targets, int64_t ignore)
{
    char a[RP_SHAPE_STRLEN], b[RP_SHAPE_STRLEN];
    if (need_f32("cross_entropy", "logits", logits) ||
        need_i32("cross_entropy", "targets", targets))
        return -1;
    bool ok = (logits->ndim == 2 || logits->ndim == 3) && targets->ndim == logits->ndim - 1;
    for (int d = 0; ok && d < targets->ndim; d++) ok = targets->shape[d] == logits->shape[d];
    if (!ok)
        return rp_seterr("cross_entropy: logits %s and targets %s do not match (expected "
                         "(N, C) with (N) or (B, T, C) with (B, T))",
                         rp_shape_str(logits, a, sizeof a), rp_shape_str(targets, b, sizeof b));
    int64_t C = logits->shape[logits->ndim - 1];
    if (C == 0) return rp_seterr("cross_entropy: logits %s have no classes",
                                 rp_shape_str(logits, a, sizeof a));
    int64_t n = rp_numel(targets);
    for (int64_t i = 0; i < n; i++) {
        int64_t t = (int64_t)rp_get_flat(targets, i);
        if (t != ignore && (t < 0 || t >= C))
            return rp_seterr("cross_entropy: target %lld at position %lld out of range [0, %lld)",
                             (long long)t, (long long)i, (long long)C);
    }
    return 0;
}

static int ce_backward(rp_node *n, const rp_tensor *g, rp_tensor *gin[RP_NODE_MAXIN])
{
    const rp_tensor *x = n->saved[0], *tg = n->saved[1], *lse = n->saved[2];
    int64_t ignore = n->iargs[0], C = x->shape[x->ndim - 1], R = rp_numel(tg);
    float scale = (float)(rp_get_flat(g, 0) / n->dargs[0]);
    gin[0] = rp_empty_uninit(RP_F32, x->ndim, x->shape); /* every row is written */
    if (!gin[0]) return -1;
    const float *xp = RP_F32P(x), *lp = RP_F32P(lse);
    const int32_t *tp = RP_I32P(tg);
    float *gp = RP_F32P(gin[0]);
    #pragma omp parallel for schedule(static) if (R * C > RP_PAR_MIN)
    for (int64_t r = 0; r < R; r++) {
        float *d = gp + r * C;
        if (tp[r] == ignore) { memset(d, 0, sizeof(float) * (size_t)C); continue; }
        rp_sub_exp_f32(d, xp + r * C, lp[r], C);
        for (int64_t c = 0; c < C; c++) d[c] = scale * d[c];
        d[tp[r]] -= scale;
    }
    return 0;
}

rp_tensor *rp_cross_entropy(const rp_tensor *logits, const rp_tensor *targets,
                            int64_t ignore_index)
{
    if (ce_check(logits, targets, ignore_index)) return NULL;
    int64_t C = logits->shape[logits->ndim - 1], R = rp_numel(targets);
    rp_tensor *x = rp_contiguous_detached(logits), *tg = rp_contiguous_detached(targets);
    rp_tensor *lse = rp_empty(RP_F32, 1, &R), *loss = rp_empty(RP_F32, 1, &R), *out = NULL;
    if (!x || !tg || !lse || !loss) goto done;
    const float *xp = RP_F32P(x);
    const int32_t *tp = RP_I32P(tg);
    float *lp = RP_F32P(lse), *lo = RP_F32P(loss);
    #pragma omp parallel for schedule(static) if (R * C > RP_PAR_MIN)
    for (int64_t r = 0; r < R; r++) {
        const float *row = xp + r * C;
        float mx = -INFINITY;
        for (int64_t c = 0; c < C; c++) mx = row[c] > mx ? row[c] : mx;
        double s = 0;
        float e[256]; /* exps in vectorised blocks, summed in the same order */
        for (int64_t c0 = 0; c0 < C; c0 += 256) {
            int64_t m = C - c0 < 256 ? C - c0 : 256;
            rp_sub_exp_f32(e, row + c0, mx, m);
            for (int64_t c = 0; c < m; c++) s += e[c];
        }
        lp[r] = mx + (float)log(s);
        lo[r] = tp[r] == ignore_index ? 0.0f : lp[r] - row[tp[r]];
    }
    double total = 0;
    int64_t count = 0;
    for (int64_t r = 0; r < R; r++)
        if (tp[r] != ignore_index) { total += lo[r]; count++; }
    out = rp_scalar((float)(total / (double)count)); /* 0/0 = NaN when all ignored */
    if (!out) goto done;
    rp_node *node;
    const rp_tensor *in[2] = {logits, targets}, *sv[3] = {x, tg, lse};
    out = rp_record(out, "cross_entropy", ce_backward, 2, in, 3, sv, &node);
    if (node) { node->iargs[0] = ignore_index; node->dargs[0] = (double)count; }
done:
    rp_tensor_release(x);
    rp_tensor_release(tg);
    rp_tensor_release(lse);
    rp_tensor_release(loss);
    return out;
}

double rp_cross_entropy_ref(const rp_tensor *logits, const rp_tensor *targets,
                            int64_t ignore_index)
{
    if (ce_check(logits, targets, ignore_index)) return NAN;
    int64_t C = logits->shape[logits->ndim - 1], R = rp_numel(targets), count = 0;
    double total = 0;
    for (int64_t r = 0; r < R; r++) {
        int64_t t = (int64_t)rp_get_flat(targets, r);
        if (t == ignore_index) continue;
        double mx = -INFINITY, s = 0;
        for (int64_t c = 0; c < C; c++) mx = fmax(mx, rp_get_flat(logits, r * C + c));
        for (int64_t c = 0; c < C; c++) s += exp(rp_get_flat(logits, r * C + c) - mx);
        total += mx + log(s) - rp_get_flat(logits, r * C + t);
        count++;
    }
    return total / (double)count;
}

/* ---- rms_norm ---- */

static int rms_check(const rp_tensor *x, const rp_tensor *w)
{
    char a[RP_SHAPE_STRLEN], b[RP_SHAPE_STRLEN];
    if (need_f32("rms_norm", "input", x) || (w && need_f32("rms_norm", "weight", w))) return -1;
    if (x->ndim == 0) return rp_seterr("rms_norm: input must have at least 1 dimension");
    if (w && (w->ndim != 1 || w->shape[0] != x->shape[x->ndim - 1]))
        return rp_seterr("rms_norm: weight %s does not match input %s (expected {%lld})",
                         rp_shape_str(w, b, sizeof b), rp_shape_str(x, a, sizeof a),
                         (long long)x->shape[x->ndim - 1]);
    return 0;
}

/* Sum of squares of RB rows at once, each row's sum in column order in
 * double, exactly the order of one row at a time: the rows' chains are
 * independent, so interleaving them only hides the latency of the adds
 * (one chain is latency-bound; the bits do not change). */
#define RMS_RB 4
static void rms_sumsq(double *ss, const float *x, int64_t nr, int64_t C)
{
    if (nr == RMS_RB) {
        const float *x0 = x, *x1 = x + C, *x2 = x + 2 * C, *x3 = x + 3 * C;
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (int64_t c = 0; c < C; c++) {
            s0 += (double)x0[c] * x0[c];
            s1 += (double)x1[c] * x1[c];
            s2 += (double)x2[c] * x2[c];
            s3 += (double)x3[c] * x3[c];
        }
        ss[0] = s0; ss[1] = s1; ss[2] = s2; ss[3] = s3;
        return;
    }
    for (int64_t k = 0; k < nr; k++) {
        double s = 0;
        for (int64_t c = 0; c < C; c++) s += (double)x[k * C + c] * x[k * C + c];
        ss[k] = s;
    }
}

/* y (R, C) = x * rstd * w; rstd (R). Groups of RMS_RB rows (see rms_sumsq). */
static void rms_fwd(float *y, float *rstd, const float *x, const float *w, int64_t R, int64_t C,
                    double eps)
{
    int64_t NG = (R + RMS_RB - 1) / RMS_RB;
    #pragma omp parallel for schedule(static) if (R * C > RP_PAR_MIN)
    for (int64_t gi = 0; gi < NG; gi++) {
        int64_t r0 = gi * RMS_RB, nr = R - r0 < RMS_RB ? R - r0 : RMS_RB;
        double ss[RMS_RB];
        rms_sumsq(ss, x + r0 * C, nr, C);
        for (int64_t k = 0; k < nr; k++) {
            int64_t r = r0 + k;
            const float *xr = x + r * C;
            float rs = (float)(1.0 / sqrt(ss[k] / (double)(C ? C : 1) + eps));
            rstd[r] = rs;
            for (int64_t c = 0; c < C; c++) y[r * C + c] = xr[c] * rs * (w ? w[c] : 1.0f);
        }
    }
}

/* dot[k] = Σ_c (g w) x rs of RB rows, each in column order in double, the
 * product rounded left to right as one row at a time did. */
static void rms_bwd_dots(double *dot, const float *g, const float *x, const float *rs,
                         const float *w, int64_t nr, int64_t C)
{
    if (nr == RMS_RB) {
        double d0 = 0, d1 = 0, d2 = 0, d3 = 0;
        const float *g0 = g, *g1 = g + C, *g2 = g + 2 * C, *g3 = g + 3 * C;
        const float *x0 = x, *x1 = x + C, *x2 = x + 2 * C, *x3 = x + 3 * C;
        for (int64_t c = 0; c < C; c++) {
            float wc = w ? w[c] : 1.0f;
            d0 += (double)g0[c] * wc * x0[c] * rs[0];
            d1 += (double)g1[c] * wc * x1[c] * rs[1];
            d2 += (double)g2[c] * wc * x2[c] * rs[2];
            d3 += (double)g3[c] * wc * x3[c] * rs[3];
        }
        dot[0] = d0; dot[1] = d1; dot[2] = d2; dot[3] = d3;
        return;
    }
    for (int64_t k = 0; k < nr; k++) {
        double d = 0;
        for (int64_t c = 0; c < C; c++)
            d += (double)g[k * C + c] * (w ? w[c] : 1.0f) * x[k * C + c] * rs[k];
        dot[k] = d;
    }
}

/* dx (R, C) of y = x rstd w given dy = g; when res is not NULL, dx = res +
 * that (the gradient of a residual stream the norm reads: the sum the
 * autograd engine would make, in one pass). */
static void rms_bwd_dx(float *dx, const float *res, const float *g, const float *x,
                       const float *rstd, const float *w, int64_t R, int64_t C)
{
    int64_t NG = (R + RMS_RB - 1) / RMS_RB;
    #pragma omp parallel for schedule(static) if (R * C > RP_PAR_MIN)
    for (int64_t gi = 0; gi < NG; gi++) {
        int64_t r0 = gi * RMS_RB, nr = R - r0 < RMS_RB ? R - r0 : RMS_RB;
        double dot[RMS_RB];
        rms_bwd_dots(dot, g + r0 * C, x + r0 * C, rstd + r0, w, nr, C);
        for (int64_t k = 0; k < nr; k++) {
            int64_t r = r0 + k;
            const float *xr = x + r * C, *gr = g + r * C;
            float rs = rstd[r], m = (float)(dot[k] / (double)C);
            float *d = dx + r * C;
            if (res) {
                const float *e = res + r * C;
                for (int64_t c = 0; c < C; c++)
                    d[c] = e[c] + rs * (gr[c] * (w ? w[c] : 1.0f) - xr[c] * rs * m);
            } else {
                for (int64_t c = 0; c < C; c++)
                    d[c] = rs * (gr[c] * (w ? w[c] : 1.0f) - xr[c] * rs * m);
            }
        }
    }
}

/* a[c] += g[c] x[c] rs in double, c = 0..n-1: independent columns, so the
 * vector clones give the scalar loop's bits. */
RP_VECTOR_CLONES
static void rms_dw_row(double *restrict a, const float *restrict g, const float *restrict x, double rs,
                       int64_t n)
{
    #pragma omp simd
    for (int64_t c = 0; c < n; c++) a[c] += (double)g[c] * x[c] * rs;
}

/* gw (C) = Σ_r g x rstd, each column summed in row order in double (fixed,
 * thread-count independent); columns are split over threads, which leaves
 * every column's order alone. */
static void rms_bwd_dw(float *gw, const float *g, const float *x, const float *rstd, int64_t R,
                       int64_t C, double *acc)
{
    enum { CB = 128 };
    int64_t NB = (C + CB - 1) / CB;
    #pragma omp parallel for schedule(static) if (R * C > RP_PAR_MIN && NB > 1)
    for (int64_t b = 0; b < NB; b++) {
        int64_t c0 = b * CB, c1 = c0 + CB < C ? c0 + CB : C;
        double *a = acc + c0;
        for (int64_t c = c0; c < c1; c++) a[c - c0] = 0;
        for (int64_t r = 0; r < R; r++)
            rms_dw_row(a, g + r * C + c0, x + r * C + c0, (double)rstd[r], c1 - c0);
        for (int64_t c = c0; c < c1; c++) gw[c] = (float)a[c - c0];
    }
}

static int rms_backward(rp_node *n, const rp_tensor *g, rp_tensor *gin[RP_NODE_MAXIN])
{
    const rp_tensor *x = n->saved[0], *rstd = n->saved[1];
    const rp_tensor *w = n->nsaved > 2 ? n->saved[2] : NULL;
    int64_t C = x->shape[x->ndim - 1], R = C ? rp_numel(x) / C : 0;
    rp_tensor *gc = rp_contiguous_detached(g), *wc = w ? rp_contiguous_detached(w) : NULL;
    if (!gc || (w && !wc)) goto fail;
    const float *xp = RP_F32P(x), *gp = RP_F32P(gc), *rp = RP_F32P(rstd);
    const float *wp = wc ? RP_F32P(wc) : NULL;
    if (n->needs_grad[0]) {
        gin[0] = rp_empty_uninit(RP_F32, x->ndim, x->shape); /* every row is written */
        if (!gin[0]) goto fail;
        rms_bwd_dx(RP_F32P(gin[0]), NULL, gp, xp, rp, wp, R, C);
    }
    if (w && n->needs_grad[1]) {
        gin[1] = rp_empty_uninit(RP_F32, 1, &C);
        double *acc = malloc(sizeof(double) * ((size_t)C + 1));
        if (!gin[1] || !acc) { free(acc); rp_seterr("rms_norm: out of memory"); goto fail; }
        rms_bwd_dw(RP_F32P(gin[1]), gp, xp, rp, R, C, acc);
        free(acc);
    }
    rp_tensor_release(gc);
    rp_tensor_release(wc);
    return 0;
fail:
    rp_tensor_release(gc);
    rp_tensor_release(wc);
    return -1;
}

rp_tensor *rp_rms_norm(const rp_tensor *x, const rp_tensor *weight, double eps)
{
    if (rms_check(x, weight)) return NULL;
    int64_t C = x->shape[x->ndim - 1], R = C ? rp_numel(x) / C : 0;
    rp_tensor *xc = rp_contiguous_detached(x), *wc = weight ? rp_contiguous_detached(weight) : NULL;
    rp_tensor *rstd = rp_empty_uninit(RP_F32, 1, &R), *y = rp_empty_uninit(RP_F32, x->ndim, x->shape);
    if (!xc || (weight && !wc) || !rstd || !y) { rp_tensor_release(y); y = NULL; goto done; }
    rms_fwd(RP_F32P(y), RP_F32P(rstd), RP_F32P(xc), wc ? RP_F32P(wc) : NULL, R, C, eps);
    const rp_tensor *in[2] = {x, weight}, *sv[3] = {xc, rstd, wc};
    y = rp_record(y, "rms_norm", rms_backward, 2, in, wc ? 3 : 2, sv, NULL);
done:
    rp_tensor_release(xc);
    rp_tensor_release(wc);
    rp_tensor_release(rstd);
    return y;
}

rp_tensor *rp_rms_norm_ref(const rp_tensor *x, const rp_tensor *w, double eps)
{
    if (rms_check(x, w)) return NULL;
    rp_tensor *y = rp_copy_contiguous(x);
    if (!y) return NULL;
    int64_t C = x->shape[x->ndim - 1], R = C ? rp_numel(x) / C : 0;
    float *p = RP_F32P(y);
    for (int64_t r = 0; r < R; r++) {
        double ss = 0;
        for (int64_t c = 0; c < C; c++) ss += (double)p[r * C + c] * p[r * C + c];
        double rs = 1.0 / sqrt(ss / (double)C + eps);
        for (int64_t c = 0; c < C; c++)
            p[r * C + c] = (float)(p[r * C + c] * rs * (w ? rp_get_flat(w, c) : 1.0));
    }
    return y;
}

/* ---- embedding ---- */

static int ids_check(const char *op, const rp_tensor *ids, int64_t n, const char *what)
{
    if (need_i32(op, "ids", ids)) return -1;
    if (ids->ndim + 1 > RP_MAXDIM)
        return rp_seterr("%s: ids have %d dimensions (at most %d)", op, ids->ndim, RP_MAXDIM - 1);
    int64_t k = rp_numel(ids);
    for (int64_t i = 0; i < k; i++) {
        int64_t v = (int64_t)rp_get_flat(ids, i);
        if (v < 0 || v >= n)
            return rp_seterr("%s: id %lld at position %lld out of range [0, %lld) (%s %lld)", op,
                             (long long)v, (long long)i, (long long)n, what, (long long)n);
    }
    return 0;
}

static int embedding_backward(rp_node *n, const rp_tensor *g, rp_tensor *gin[RP_NODE_MAXIN])
{
    const rp_tensor *ids = n->saved[0];
    int64_t shape[2] = {n->iargs[0], n->iargs[1]}, C = shape[1], k = rp_numel(ids);
    rp_tensor *gc = rp_contiguous_detached(g);
    if (!gc) return -1;
    gin[0] = rp_zeros(RP_F32, 2, shape);
    if (!gin[0]) { rp_tensor_release(gc); return -1; }
    float *gw = RP_F32P(gin[0]);
    const float *gp = RP_F32P(gc);
    const int32_t *ip = RP_I32P(ids);
    /* Positions in order: repeated ids add up the same way every run. */
    for (int64_t i = 0; i < k; i++) {
        float *row = gw + (int64_t)ip[i] * C;
        for (int64_t c = 0; c < C; c++) row[c] += gp[i * C + c];
    }
    rp_tensor_release(gc);
    return 0;
}

rp_tensor *rp_embedding(const rp_tensor *weight, const rp_tensor *ids)
{
    char a[RP_SHAPE_STRLEN];
    if (need_f32("embedding", "weight", weight)) return NULL;
    if (weight->ndim != 2) {
        rp_seterr("embedding: weight must be (V, C), got %s", rp_shape_str(weight, a, sizeof a));
        return NULL;
    }
    int64_t V = weight->shape[0], C = weight->shape[1];
    if (ids_check("embedding", ids, V, "V =")) return NULL;
    int64_t shape[RP_MAXDIM];
    memcpy(shape, ids->shape, sizeof(int64_t) * (size_t)ids->ndim);
    shape[ids->ndim] = C;
    rp_tensor *ic = rp_contiguous_detached(ids), *y = rp_empty(RP_F32, ids->ndim + 1, shape);
    if (!ic || !y) { rp_tensor_release(ic); rp_tensor_release(y); return NULL; }
    const float *wp = RP_F32P(weight);
    const int32_t *ip = RP_I32P(ic);
    float *yp = RP_F32P(y);
    int64_t k = rp_numel(ids), s0 = weight->stride[0], s1 = weight->stride[1];
    #pragma omp parallel for schedule(static) if (k * C > RP_PAR_MIN)
    for (int64_t i = 0; i < k; i++)
        for (int64_t c = 0; c < C; c++) yp[i * C + c] = wp[ip[i] * s0 + c * s1];
    rp_node *node;
    const rp_tensor *in[2] = {weight, ids}, *sv[1] = {ic};
    y = rp_record(y, "embedding", embedding_backward, 2, in, 1, sv, &node);
    if (node) { node->iargs[0] = V; node->iargs[1] = C; }
    rp_tensor_release(ic);
    return y;
}

/* ---- dropout ---- */

static int dropout_backward(rp_node *n, const rp_tensor *g, rp_tensor *gin[RP_NODE_MAXIN])
{
    double p = n->dargs[0];
    uint64_t seed, base;
    memcpy(&seed, &n->iargs[0], sizeof seed);
    memcpy(&base, &n->iargs[1], sizeof base);
    rp_tensor *gc = rp_contiguous_detached(g);
    if (!gc) return -1;
    gin[0] = rp_empty(RP_F32, g->ndim, g->shape);
    if (!gin[0]) { rp_tensor_release(gc); return -1; }
    int64_t k = rp_numel(g);
    float scale = (float)(1.0 / (1.0 - p));
    const float *gp = RP_F32P(gc);
    float *d = RP_F32P(gin[0]);
    #pragma omp parallel for schedule(static) if (k > RP_PAR_MIN)
    for (int64_t i = 0; i < k; i++)
        d[i] = (double)rp_u01(rp_rng_word(seed, base, (uint64_t)i)) >= p ? gp[i] * scale : 0.0f;
    rp_tensor_release(gc);
    return 0;
}

rp_tensor *rp_dropout(const rp_tensor *x, double p, bool training, rp_generator *g)
{
    if (need_f32("dropout", "input", x)) return NULL;
    if (!(p >= 0 && p <= 1)) {
        rp_seterr("dropout: probability %g not in [0, 1]", p);
        return NULL;
    }
    if (!training || p == 0) {
        rp_tensor_retain((rp_tensor *)x);
        return (rp_tensor *)x;
    }
    int64_t k = rp_numel(x);
    uint64_t seed = g->seed, base = rp_generator_advance(g, (uint64_t)k);
    rp_tensor *xc = rp_contiguous_detached(x), *y = rp_empty(RP_F32, x->ndim, x->shape);
    if (!xc || !y) { rp_tensor_release(xc); rp_tensor_release(y); return NULL; }
    float scale = p < 1 ? (float)(1.0 / (1.0 - p)) : 0.0f;
    const float *xp = RP_F32P(xc);
    float *yp = RP_F32P(y);
    #pragma omp parallel for schedule(static) if (k > RP_PAR_MIN)
    for (int64_t i = 0; i < k; i++)
        yp[i] = (double)rp_u01(rp_rng_word(seed, base, (uint64_t)i)) >= p ? xp[i] * scale : 0.0f;
    rp_tensor_release(xc);
    rp_node *node;
    const rp_tensor *in[1] = {x};
    y = rp_record(y, "dropout", dropout_backward, 1, in, 0, NULL, &node);
    if (node) {
        node->dargs[0] = p;
        memcpy(&node->iargs[0], &seed, sizeof seed);
        memcpy(&node->iargs[1], &base, sizeof base);
    }
    return y;
}

/* ---- one_hot ---- */

rp_tensor *rp_one_hot(const rp_tensor *ids, int64_t n)
{
    if (n < 0) {
        rp_seterr("one_hot: negative number of classes %lld", (long long)n);
        return NULL;
    }
    if (ids_check("one_hot", ids, n, "classes")) return NULL;
    int64_t shape[RP_MAXDIM];
    memcpy(shape, ids->shape, sizeof(int64_t) * (size_t)ids->ndim);
    shape[ids->ndim] = n;
    rp_tensor *y = rp_zeros(RP_F32, ids->ndim + 1, shape);
    if (!y) return NULL;
    int64_t k = rp_numel(ids);
    for (int64_t i = 0; i < k; i++) RP_F32P(y)[i * n + (int64_t)rp_get_flat(ids, i)] = 1.0f;
    return y;
}

/* ---- fused SwiGLU gate ---- */

#define SILU_CHUNK (1 << 14)

static int silu_mul_backward(rp_node *n, const rp_tensor *g, rp_tensor *gin[RP_NODE_MAXIN])
{
    const rp_tensor *a = n->saved[0], *b = n->saved[1];
    rp_tensor *gc = rp_contiguous_detached(g);
    if (!gc) return -1;
    if (n->needs_grad[0]) gin[0] = rp_empty_uninit(RP_F32, a->ndim, a->shape);
    if (n->needs_grad[1]) gin[1] = rp_empty_uninit(RP_F32, a->ndim, a->shape);
    if ((n->needs_grad[0] && !gin[0]) || (n->needs_grad[1] && !gin[1])) {
        rp_tensor_release(gc);
        return -1;
    }
    int64_t m = rp_numel(a), nchunks = (m + SILU_CHUNK - 1) / SILU_CHUNK;
    const float *gp = RP_F32P(gc), *ap = RP_F32P(a), *bp = RP_F32P(b);
    float *ga = gin[0] ? RP_F32P(gin[0]) : NULL, *gb = gin[1] ? RP_F32P(gin[1]) : NULL;
    #pragma omp parallel for schedule(static) if (m > RP_PAR_MIN)
    for (int64_t k = 0; k < nchunks; k++) {
        int64_t s = k * SILU_CHUNK, len = m - s < SILU_CHUNK ? m - s : SILU_CHUNK;
        rp_silu_mul_backward_f32(ga ? ga + s : NULL, gb ? gb + s : NULL, gp + s, ap + s, bp + s, len);
    }
    rp_tensor_release(gc);
    return 0;
}

rp_tensor *rp_silu_mul(const rp_tensor *a, const rp_tensor *b)
{
    if (need_f32("silu_mul", "a", a) || need_f32("silu_mul", "b", b)) return NULL;
    if (!rp_same_shape(a, b)) {
        char sa[RP_SHAPE_STRLEN], sb[RP_SHAPE_STRLEN];
        rp_seterr("silu_mul: shapes %s and %s differ", rp_shape_str(a, sa, sizeof sa),
                  rp_shape_str(b, sb, sizeof sb));
        return NULL;
    }
    rp_tensor *ac = rp_contiguous_detached(a), *bc = ac ? rp_contiguous_detached(b) : NULL;
    rp_tensor *out = bc ? rp_empty_uninit(RP_F32, a->ndim, a->shape) : NULL;
    if (out) {
        int64_t m = rp_numel(out), nchunks = (m + SILU_CHUNK - 1) / SILU_CHUNK;
        const float *ap = RP_F32P(ac), *bp = RP_F32P(bc);
        float *op = RP_F32P(out);
        #pragma omp parallel for schedule(static) if (m > RP_PAR_MIN)
        for (int64_t k = 0; k < nchunks; k++) {
            int64_t s = k * SILU_CHUNK, len = m - s < SILU_CHUNK ? m - s : SILU_CHUNK;
            rp_silu_mul_f32(op + s, ap + s, bp + s, len);
        }
        const rp_tensor *in[2] = {a, b}, *sv[2] = {ac, bc};
        out = rp_record(out, "silu_mul", silu_mul_backward, 2, in, 2, sv, NULL);
    }
    rp_tensor_release(ac);
    rp_tensor_release(bc);
    return out;
}
