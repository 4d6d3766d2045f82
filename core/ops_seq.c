/* ops_seq.c: sampling, token log-probabilities, categorical KL and a
 * weighted cross entropy (ops_seq.h). Rows (positions) run in parallel;
 * every sum over the vocabulary runs in index order and every sum over rows
 * in row order, so the bits do not depend on the thread count. */
#include "ops_seq.h"
#include "ops.h"
#include "ops_nn.h"
#include "autograd.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* logits must be f32 (..., V) with V >= 1; rows = numel / V. */
static int logits_check(const char *op, const char *what, const rp_tensor *x)
{
    char a[RP_SHAPE_STRLEN];
    if (x->dtype != RP_F32)
        return rp_seterr("%s: %s must be f32, got %s", op, what, rp_dtype_info[x->dtype].name);
    if (x->ndim < 1 || x->shape[x->ndim - 1] < 1 || x->shape[x->ndim - 1] > INT32_MAX)
        return rp_seterr("%s: %s must be (..., V) with 1 <= V < 2^31, got %s", op, what,
                         rp_shape_str(x, a, sizeof a));
    return 0;
}

/* t must have the shape of x without its last dim. */
static int rows_shape_check(const char *op, const char *what, const rp_tensor *x,
                            const rp_tensor *t)
{
    char a[RP_SHAPE_STRLEN], b[RP_SHAPE_STRLEN];
    bool ok = t->ndim == x->ndim - 1;
    for (int d = 0; ok && d < t->ndim; d++) ok = t->shape[d] == x->shape[d];
    if (!ok)
        return rp_seterr("%s: %s %s must have the shape of logits %s without the last dim", op,
                         what, rp_shape_str(t, b, sizeof b), rp_shape_str(x, a, sizeof a));
    return 0;
}

/* A contiguous u8 0/1 copy of mask (any dtype), or NULL with *err set. */
static rp_tensor *mask_prep(const char *op, const rp_tensor *x, const rp_tensor *mask, int *err)
{
    *err = 0;
    if (!mask) return NULL;
    if (rows_shape_check(op, "mask", x, mask)) { *err = 1; return NULL; }
    rp_tensor *m = rp_empty_uninit(RP_U8, mask->ndim, mask->shape);
    if (!m) { *err = 1; return NULL; }
    int64_t n = rp_numel(mask);
    uint8_t *p = RP_U8P(m);
    for (int64_t i = 0; i < n; i++) p[i] = rp_get_flat(mask, i) != 0;
    return m;
}

/* Row logsumexp with the kit's exp, in vectorised blocks summed in order. */
static float row_lse(const float *row, int64_t V)
{
    float mx = -INFINITY;
    for (int64_t c = 0; c < V; c++) mx = row[c] > mx ? row[c] : mx;
    if (mx == -INFINITY) return -INFINITY;
    double s = 0;
    float e[256];
    for (int64_t c0 = 0; c0 < V; c0 += 256) {
        int64_t m = V - c0 < 256 ? V - c0 : 256;
        rp_sub_exp_f32(e, row + c0, mx, m);
        for (int64_t c = 0; c < m; c++) s += e[c];
    }
    return mx + (float)log(s);
}

/* ---- sample ---- */

typedef struct { float z; int32_t j; } scored;

static int scored_cmp(const void *a, const void *b)
{
    const scored *x = a, *y = b;
    if (x->z != y->z) return x->z > y->z ? -1 : 1;
    return (x->j > y->j) - (x->j < y->j);
}

/* Uniform in [0, 1) with 53 random bits from two words. */
static double u53(uint32_t a, uint32_t b)
{
    return ((double)(a >> 5) * 67108864.0 + (double)(b >> 6)) * (1.0 / 9007199254740992.0);
}

/* The id drawn for one row; sc is V entries of scratch. */
static int32_t sample_row(const float *x, int64_t V, double temp, int64_t top_k, double top_p,
                          double u, scored *sc)
{
    float mx = -INFINITY;
    int32_t arg = 0;
    for (int64_t j = 0; j < V; j++)
        if (x[j] > mx) { mx = x[j]; arg = (int32_t)j; }
    if (temp == 0) return arg;
    const double inv = 1.0 / temp;
    if ((top_k > 0 && top_k < V) || top_p < 1) {
        int64_t n = 0;
        for (int64_t j = 0; j < V; j++)
            if (x[j] > -INFINITY) sc[n++] = (scored){x[j], (int32_t)j};
        qsort(sc, (size_t)n, sizeof *sc, scored_cmp);
        if (top_k > 0 && top_k < n) n = top_k;
        double tot = 0;
        for (int64_t i = 0; i < n; i++) tot += exp(((double)sc[i].z - mx) * inv);
        if (top_p < 1) { /* smallest prefix whose probability reaches top_p */
            double cum = 0, stop = top_p * tot;
            int64_t m = 0;
            while (m < n) {
                cum += exp(((double)sc[m].z - mx) * inv);
                m++;
                if (cum >= stop) break;
            }
            n = m;
            tot = cum;
        }
        double target = u * tot, cum = 0;
        for (int64_t i = 0; i < n; i++) {
            cum += exp(((double)sc[i].z - mx) * inv);
            if (target < cum) return sc[i].j;
        }
        return sc[n - 1].j;
    }
    double tot = 0;
    for (int64_t j = 0; j < V; j++) tot += exp(((double)x[j] - mx) * inv);
    double target = u * tot, cum = 0;
    int32_t last = arg;
    for (int64_t j = 0; j < V; j++) {
        double w = exp(((double)x[j] - mx) * inv);
        if (w > 0) last = (int32_t)j;
        cum += w;
        if (target < cum) return (int32_t)j;
    }
    return last;
}

rp_tensor *rp_sample(const rp_tensor *logits, double temperature, int64_t top_k, double top_p,
                     rp_generator *g)
{
    if (logits_check("sample", "logits", logits)) return NULL;
    if (!(temperature >= 0) || isinf(temperature))
        return rp_seterr("sample: temperature must be finite and >= 0, got %g", temperature), NULL;
    if (top_k < 0) return rp_seterr("sample: top_k must be >= 0, got %lld", (long long)top_k), NULL;
    if (!(top_p > 0 && top_p <= 1))
        return rp_seterr("sample: top_p must be in (0, 1], got %g", top_p), NULL;
    if (!g) return rp_seterr("sample: no generator"), NULL;
    const int64_t V = logits->shape[logits->ndim - 1], R = rp_numel(logits) / V;
    rp_tensor *x = rp_contiguous_detached(logits);
    if (!x) return NULL;
    const float *xp = RP_F32P(x);
    for (int64_t r = 0; r < R; r++) { /* validate first: no output on bad rows */
        const float *row = xp + r * V;
        bool finite = false;
        for (int64_t j = 0; j < V; j++) {
            if (isnan(row[j]) || row[j] == INFINITY) {
                rp_tensor_release(x);
                return rp_seterr("sample: logits row %lld has %s at id %lld", (long long)r + 1,
                                 isnan(row[j]) ? "NaN" : "+inf", (long long)j + 1), NULL;
            }
            finite = finite || row[j] > -INFINITY;
        }
        if (!finite) {
            rp_tensor_release(x);
            return rp_seterr("sample: logits row %lld has no finite entry", (long long)r + 1), NULL;
        }
    }
    rp_tensor *out = rp_empty_uninit(RP_I32, logits->ndim - 1, logits->shape);
    if (!out) { rp_tensor_release(x); return NULL; }
    const uint64_t seed = g->seed, base = rp_generator_advance(g, 2 * (uint64_t)R);
    int32_t *op = RP_I32P(out);
    int oom = 0;
    #pragma omp parallel if (R * V > RP_PAR_MIN && R > 1)
    {
        scored *sc = malloc(sizeof(scored) * (size_t)V);
        if (!sc) {
            #pragma omp atomic write
            oom = 1;
        }
        #pragma omp for schedule(static)
        for (int64_t r = 0; r < R; r++) {
            if (!sc) continue;
            double u = u53(rp_rng_word(seed, base, 2 * (uint64_t)r),
                           rp_rng_word(seed, base, 2 * (uint64_t)r + 1));
            op[r] = sample_row(xp + r * V, V, temperature, top_k, top_p, u, sc);
        }
        free(sc);
    }
    rp_tensor_release(x);
    if (oom) { rp_tensor_release(out); return rp_seterr("sample: out of memory"), NULL; }
    return out;
}

/* ---- token_logprobs ---- */

static int ids_check(const char *op, const rp_tensor *x, const rp_tensor *ids,
                     const uint8_t *mask)
{
    if (ids->dtype != RP_I32)
        return rp_seterr("%s: ids must be i32, got %s", op, rp_dtype_info[ids->dtype].name);
    if (rows_shape_check(op, "ids", x, ids)) return -1;
    const int64_t V = x->shape[x->ndim - 1], n = rp_numel(ids);
    for (int64_t i = 0; i < n; i++) {
        if (mask && !mask[i]) continue;
        int64_t v = (int64_t)rp_get_flat(ids, i);
        if (v < 0 || v >= V)
            return rp_seterr("%s: id %lld at position %lld out of range [0, %lld)", op,
                             (long long)v, (long long)i, (long long)V);
    }
    return 0;
}

/* saved: x (contig), ids (contig), lse (R), mask (u8 or absent) */
static int tlp_backward(rp_node *n, const rp_tensor *g, rp_tensor *gin[RP_NODE_MAXIN])
{
    const rp_tensor *x = n->saved[0], *ids = n->saved[1], *lse = n->saved[2];
    const uint8_t *mk = n->nsaved > 3 ? RP_U8P(n->saved[3]) : NULL;
    const int64_t V = x->shape[x->ndim - 1], R = rp_numel(ids);
    rp_tensor *gc = rp_contiguous_detached(g);
    if (!gc) return -1;
    gin[0] = rp_empty_uninit(RP_F32, x->ndim, x->shape);
    if (!gin[0]) { rp_tensor_release(gc); return -1; }
    const float *xp = RP_F32P(x), *lp = RP_F32P(lse), *gp = RP_F32P(gc);
    const int32_t *ip = RP_I32P(ids);
    float *d = RP_F32P(gin[0]);
    #pragma omp parallel for schedule(static) if (R * V > RP_PAR_MIN)
    for (int64_t r = 0; r < R; r++) {
        float *dr = d + r * V;
        if (mk && !mk[r]) { memset(dr, 0, sizeof(float) * (size_t)V); continue; }
        rp_sub_exp_f32(dr, xp + r * V, lp[r], V); /* softmax */
        const float gr = gp[r];
        for (int64_t c = 0; c < V; c++) dr[c] = -gr * dr[c];
        dr[ip[r]] += gr;
    }
    rp_tensor_release(gc);
    return 0;
}

rp_tensor *rp_token_logprobs(const rp_tensor *logits, const rp_tensor *ids, const rp_tensor *mask)
{
    if (logits_check("token_logprobs", "logits", logits)) return NULL;
    int err;
    rp_tensor *mk = mask_prep("token_logprobs", logits, mask, &err);
    if (err) return NULL;
    if (ids_check("token_logprobs", logits, ids, mk ? RP_U8P(mk) : NULL)) {
        rp_tensor_release(mk);
        return NULL;
    }
    const int64_t V = logits->shape[logits->ndim - 1], R = rp_numel(ids);
    rp_tensor *x = rp_contiguous_detached(logits), *ic = rp_contiguous_detached(ids), *out = NULL;
    rp_tensor *lse = rp_empty_uninit(RP_F32, 1, &R);
    if (!x || !ic || !lse) goto done;
    out = rp_empty_uninit(RP_F32, ids->ndim, ids->shape);
    if (!out) goto done;
    const float *xp = RP_F32P(x);
    const int32_t *ip = RP_I32P(ic);
    const uint8_t *m = mk ? RP_U8P(mk) : NULL;
    float *lp = RP_F32P(lse), *o = RP_F32P(out);
    #pragma omp parallel for schedule(static) if (R * V > RP_PAR_MIN)
    for (int64_t r = 0; r < R; r++) {
        if (m && !m[r]) { lp[r] = 0; o[r] = 0; continue; }
        lp[r] = row_lse(xp + r * V, V);
        o[r] = xp[r * V + ip[r]] - lp[r];
    }
    const rp_tensor *in[1] = {logits}, *sv[4] = {x, ic, lse, mk};
    out = rp_record(out, "token_logprobs", tlp_backward, 1, in, mk ? 4 : 3, sv, NULL);
done:
    rp_tensor_release(x);
    rp_tensor_release(ic);
    rp_tensor_release(lse);
    rp_tensor_release(mk);
    return out;
}

/* ---- kl_categorical ---- */

/* saved: xp, xq (contig), lse_p, lse_q, kl (R), mask (u8 or absent) */
static int kl_backward(rp_node *n, const rp_tensor *g, rp_tensor *gin[RP_NODE_MAXIN])
{
    const rp_tensor *x = n->saved[0], *y = n->saved[1];
    const float *lp = RP_F32P(n->saved[2]), *lq = RP_F32P(n->saved[3]), *kl = RP_F32P(n->saved[4]);
    const uint8_t *mk = n->nsaved > 5 ? RP_U8P(n->saved[5]) : NULL;
    const int64_t V = x->shape[x->ndim - 1], R = rp_numel(x) / V;
    rp_tensor *gc = rp_contiguous_detached(g);
    if (!gc) return -1;
    for (int i = 0; i < 2; i++)
        if (n->needs_grad[i] && !(gin[i] = rp_empty_uninit(RP_F32, x->ndim, x->shape))) {
            rp_tensor_release(gc);
            return -1;
        }
    const float *xp = RP_F32P(x), *yp = RP_F32P(y), *gp = RP_F32P(gc);
    float *dp = gin[0] ? RP_F32P(gin[0]) : NULL, *dq = gin[1] ? RP_F32P(gin[1]) : NULL;
    #pragma omp parallel for schedule(static) if (R * V > RP_PAR_MIN)
    for (int64_t r = 0; r < R; r++) {
        const float *xr = xp + r * V, *yr = yp + r * V;
        const bool on = !mk || mk[r];
        const double gr = gp[r];
        for (int64_t c = 0; c < V; c++) {
            double a = (double)xr[c] - lp[r], b = (double)yr[c] - lq[r], p = exp(a);
            if (dp) dp[r * V + c] = on ? (float)(gr * (p > 0 ? p * ((a - b) - kl[r]) : 0.0)) : 0.0f;
            if (dq) dq[r * V + c] = on ? (float)(gr * (exp(b) - p)) : 0.0f;
        }
    }
    rp_tensor_release(gc);
    return 0;
}

rp_tensor *rp_kl_categorical(const rp_tensor *logits_p, const rp_tensor *logits_q,
                             const rp_tensor *mask)
{
    char a[RP_SHAPE_STRLEN], b[RP_SHAPE_STRLEN];
    if (logits_check("kl_categorical", "logits_p", logits_p) ||
        logits_check("kl_categorical", "logits_q", logits_q))
        return NULL;
    if (!rp_same_shape(logits_p, logits_q))
        return rp_seterr("kl_categorical: logits_p %s and logits_q %s must have one shape",
                         rp_shape_str(logits_p, a, sizeof a), rp_shape_str(logits_q, b, sizeof b)),
               NULL;
    int err;
    rp_tensor *mk = mask_prep("kl_categorical", logits_p, mask, &err);
    if (err) return NULL;
    const int64_t V = logits_p->shape[logits_p->ndim - 1], R = rp_numel(logits_p) / V;
    rp_tensor *x = rp_contiguous_detached(logits_p), *y = rp_contiguous_detached(logits_q), *out = NULL;
    rp_tensor *lse_p = rp_empty_uninit(RP_F32, 1, &R), *lse_q = rp_empty_uninit(RP_F32, 1, &R);
    rp_tensor *kl = rp_empty_uninit(RP_F32, 1, &R);
    if (!x || !y || !lse_p || !lse_q || !kl) goto done;
    out = rp_empty_uninit(RP_F32, logits_p->ndim - 1, logits_p->shape);
    if (!out) goto done;
    const float *xp = RP_F32P(x), *yp = RP_F32P(y);
    const uint8_t *m = mk ? RP_U8P(mk) : NULL;
    float *lp = RP_F32P(lse_p), *lq = RP_F32P(lse_q), *k = RP_F32P(kl), *o = RP_F32P(out);
    #pragma omp parallel for schedule(static) if (R * V > RP_PAR_MIN)
    for (int64_t r = 0; r < R; r++) {
        if (m && !m[r]) { lp[r] = lq[r] = k[r] = o[r] = 0; continue; }
        const float *xr = xp + r * V, *yr = yp + r * V;
        lp[r] = row_lse(xr, V);
        lq[r] = row_lse(yr, V);
        double s = 0;
        for (int64_t c = 0; c < V; c++) {
            double la = (double)xr[c] - lp[r], lb = (double)yr[c] - lq[r], p = exp(la);
            if (p > 0) s += p * (la - lb); /* 0 log 0 = 0; p > 0 with q = 0 gives +inf */
        }
        k[r] = o[r] = (float)s;
    }
    const rp_tensor *in[2] = {logits_p, logits_q}, *sv[6] = {x, y, lse_p, lse_q, kl, mk};
    out = rp_record(out, "kl_categorical", kl_backward, 2, in, mk ? 6 : 5, sv, NULL);
done:
    rp_tensor_release(x);
    rp_tensor_release(y);
    rp_tensor_release(lse_p);
    rp_tensor_release(lse_q);
    rp_tensor_release(kl);
    rp_tensor_release(mk);
    return out;
}

/* ---- weighted cross entropy ---- */

/* saved: x, targets, lse (R), weights (all contig); dargs[0] = Σ w */
static int wce_backward(rp_node *n, const rp_tensor *g, rp_tensor *gin[RP_NODE_MAXIN])
{
    const rp_tensor *x = n->saved[0], *tg = n->saved[1], *lse = n->saved[2], *w = n->saved[3];
    const int64_t ignore = n->iargs[0], C = x->shape[x->ndim - 1], R = rp_numel(tg);
    const double scale = rp_get_flat(g, 0) / n->dargs[0];
    gin[0] = rp_empty_uninit(RP_F32, x->ndim, x->shape);
    if (!gin[0]) return -1;
    const float *xp = RP_F32P(x), *lp = RP_F32P(lse), *wp = RP_F32P(w);
    const int32_t *tp = RP_I32P(tg);
    float *gp = RP_F32P(gin[0]);
    #pragma omp parallel for schedule(static) if (R * C > RP_PAR_MIN)
    for (int64_t r = 0; r < R; r++) {
        float *d = gp + r * C;
        if (tp[r] == ignore) { memset(d, 0, sizeof(float) * (size_t)C); continue; }
        const float s = (float)(scale * wp[r]);
        rp_sub_exp_f32(d, xp + r * C, lp[r], C);
        for (int64_t c = 0; c < C; c++) d[c] = s * d[c];
        d[tp[r]] -= s;
    }
    return 0;
}

rp_tensor *rp_cross_entropy_weighted(const rp_tensor *logits, const rp_tensor *targets,
                                     int64_t ignore_index, const rp_tensor *weights)
{
    char a[RP_SHAPE_STRLEN], b[RP_SHAPE_STRLEN];
    if (logits_check("cross_entropy", "logits", logits)) return NULL;
    if (targets->dtype != RP_I32)
        return rp_seterr("cross_entropy: targets must be i32, got %s",
                         rp_dtype_info[targets->dtype].name), NULL;
    if ((logits->ndim != 2 && logits->ndim != 3) ||
        rows_shape_check("cross_entropy", "targets", logits, targets))
        return rp_seterr("cross_entropy: logits %s and targets %s do not match (expected "
                         "(N, C) with (N) or (B, T, C) with (B, T))",
                         rp_shape_str(logits, a, sizeof a), rp_shape_str(targets, b, sizeof b)),
               NULL;
    if (weights->dtype != RP_F32 || !rp_same_shape(weights, targets))
        return rp_seterr("cross_entropy: weight must be f32 of the targets' shape %s, got %s %s",
                         rp_shape_str(targets, a, sizeof a), rp_dtype_info[weights->dtype].name,
                         rp_shape_str(weights, b, sizeof b)), NULL;
    const int64_t C = logits->shape[logits->ndim - 1], R = rp_numel(targets);
    for (int64_t i = 0; i < R; i++) {
        int64_t t = (int64_t)rp_get_flat(targets, i);
        if (t != ignore_index && (t < 0 || t >= C))
            return rp_seterr("cross_entropy: target %lld at position %lld out of range [0, %lld)",
                             (long long)t, (long long)i, (long long)C), NULL;
    }
    rp_tensor *x = rp_contiguous_detached(logits), *tg = rp_contiguous_detached(targets), *w = rp_copy_contiguous(weights);
    rp_tensor *lse = rp_empty_uninit(RP_F32, 1, &R), *out = NULL;
    if (!x || !tg || !w || !lse) goto done;
    const float *xp = RP_F32P(x), *wp = RP_F32P(w);
    const int32_t *tp = RP_I32P(tg);
    float *lp = RP_F32P(lse);
    #pragma omp parallel for schedule(static) if (R * C > RP_PAR_MIN)
    for (int64_t r = 0; r < R; r++) lp[r] = tp[r] == ignore_index ? 0 : row_lse(xp + r * C, C);
    double total = 0, wsum = 0;
    for (int64_t r = 0; r < R; r++)
        if (tp[r] != ignore_index) {
            total += (double)wp[r] * ((double)lp[r] - xp[r * C + tp[r]]);
            wsum += wp[r];
        }
    out = rp_scalar((float)(total / wsum));
    if (!out) goto done;
    rp_node *node;
    const rp_tensor *in[1] = {logits}, *sv[4] = {x, tg, lse, w};
    out = rp_record(out, "cross_entropy", wce_backward, 1, in, 4, sv, &node);
    if (node) { node->iargs[0] = ignore_index; node->dargs[0] = wsum; }
done:
    rp_tensor_release(x);
    rp_tensor_release(tg);
    rp_tensor_release(w);
    rp_tensor_release(lse);
    return out;
}
