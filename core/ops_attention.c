/* ops_attention.c: causal scaled-dot-product attention: a fused forward that
 * keeps one logsumexp per query row and a fused backward that recomputes the
 * probabilities from it, each in two kernels: the full one (T x T scores per
 * (batch, head)) and a blocked one that skips the blocks above the diagonal.
 * Rotary embeddings are in ops_rope.c. */
#include "ops.h"
#include "ops_nn.h"
#include "autograd.h"
#include "attention_heads.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Both kernels run single-threaded sgemms inside a parallel loop over (B, H),
 * so each (b, h)'s arithmetic is the same whatever the number of OpenMP
 * threads. */
#define ATT_PAR_MIN (1 << 16)

/* ---- the full kernel: the reference the blocked one must reproduce ---- */

/* P (T, T) = causal softmax(scale q kᵀ) given row logsumexp in lse (T); when
 * lse_out, compute lse too. Entries above the diagonal are 0. */
static void full_probs(float *P, float *lse, bool lse_out, const float *q, int ldq,
                       const float *k, int ldk, int T, int D, float scale)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, D, scale, q, ldq, k, ldk, 0.0f,
                P, T);
    for (int i = 0; i < T; i++) {
        float *row = P + (int64_t)i * T;
        if (lse_out) { /* one exp per entry: normalise by the sum afterwards */
            float mx = -INFINITY;
            for (int j = 0; j <= i; j++) mx = row[j] > mx ? row[j] : mx; /* as fmaxf: NaN never wins */
            rp_sub_exp_f32(row, row, mx, i + 1); /* vectorised; the sum keeps its order */
            double s = 0;
            for (int j = 0; j <= i; j++) s += row[j];
            lse[i] = mx + (float)log(s);
            float inv = (float)(1.0 / s);
            for (int j = 0; j <= i; j++) row[j] *= inv;
        } else {
            rp_sub_exp_f32(row, row, lse[i], i + 1);
        }
        for (int j = i + 1; j < T; j++) row[j] = 0.0f;
    }
}

/* One (b, h): out (T, D) and lse (T); P is (T, T) scratch. */
static void full_forward(float *P, float *out, float *lse, const float *q, int ldq,
                         const float *k, int ldk, const float *v, int ldv, int T, int D,
                         float scale)
{
    full_probs(P, lse, true, q, ldq, k, ldk, T, D, scale);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, D, T, 1.0f, P, T, v, ldv, 0.0f,
                out, D);
}

/* One (b, h): dq, dk, dv (T, D) from dO (T, D); P and dP are (T, T) scratch. */
static void full_backward(float *P, float *dP, float *dq, float *dk, float *dv, float *lse,
                          const float *q, int ldq, const float *k, int ldk, const float *v,
                          int ldv, const float *dO, int ldo, int T, int D, float scale)
{
    full_probs(P, lse, false, q, ldq, k, ldk, T, D, scale);
    /* dV = Pᵀ dO;  dP = dO Vᵀ */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, D, T, 1.0f, P, T, dO, ldo, 0.0f,
                dv, D);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, D, 1.0f, dO, ldo, v, ldv, 0.0f,
                dP, T);
    /* dS = P ∘ (dP - Σ_j P dP), written over dP */
    for (int i = 0; i < T; i++) {
        float *pr = P + (int64_t)i * T, *dr = dP + (int64_t)i * T;
        double s = 0;
        for (int j = 0; j <= i; j++) s += (double)pr[j] * dr[j];
        float fs = (float)s;
        for (int j = 0; j <= i; j++) dr[j] = pr[j] * (dr[j] - fs);
        for (int j = i + 1; j < T; j++) dr[j] = 0.0f;
    }
    /* dQ = scale dS K;  dK = scale dSᵀ Q */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, D, T, scale, dP, T, k, ldk, 0.0f,
                dq, D);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, D, T, scale, dP, T, q, ldq, 0.0f,
                dk, D);
}

/* ---- the blocked kernel ----
 * The T query rows are split into blocks of 16 to 79 rows and a block's
 * scores are computed against keys 0..end of block only: at T = 256 the
 * sgemms do under 60% of the full kernel's work. Each score is the same
 * dot product over D; a product over keys (P V, dS K) drops the exact zeros
 * above the diagonal at its end, one over queries (Pᵀ dO, dSᵀ Q) drops them at
 * its start; row sums keep their order j = 0..i. So the results equal the
 * full kernel's as long as OpenBLAS computes each product the same way for
 * the smaller sizes, which it does not always do (it picks among internal
 * kernels by size, and splits long sums into chunks): att_plan checks it. */

/* The partition of the T queries (and keys: both share it): a first block of
 * b0 rows, then blocks of bq; bq 0 means the full kernel. */
typedef struct { int b0, bq; } att_blocks;

/* End of the block that starts at i0: b0 or bq rows, or all the rest when
 * fewer than bq / 2 would be left over (no thin blocks: they cost a call
 * each, and OpenBLAS treats very small products differently). */
static int blk_end(int i0, int T, att_blocks pb)
{
    int want = i0 == 0 ? pb.b0 : pb.bq;
    return T - i0 < want + pb.bq / 2 ? T : i0 + want;
}

/* Block rows (see att_blocks_for): blocks of ATT_BQ, the first of ATT_B0_WIDE
 * for D >= 32. A block has fewer than ATT_BLK_MAX rows. */
#define ATT_BQ 32
#define ATT_B0_WIDE 64
#define ATT_BLK_MAX (ATT_B0_WIDE + ATT_BQ / 2)
_Static_assert(ATT_B0_WIDE >= ATT_BQ, "the largest block is a first block plus a tail");

/* Max (as fmaxf: NaN never wins, -inf if none) of row[0..n). Eight partial
 * maxima vectorise; the maximum of a set does not depend on the order (a tie
 * of -0 and +0 may give either, and the exp and logsumexp below come out the
 * same for both). */
static float row_max(const float *row, int n)
{
    float m[8] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY,
                  -INFINITY, -INFINITY, -INFINITY, -INFINITY};
    int j = 0;
    for (; j + 8 <= n; j += 8)
        for (int l = 0; l < 8; l++) m[l] = row[j + l] > m[l] ? row[j + l] : m[l];
    for (; j < n; j++) m[0] = row[j] > m[0] ? row[j] : m[0];
    float r = m[0];
    for (int l = 1; l < 8; l++) r = m[l] > r ? m[l] : r;
    return r;
}

/* s[r] = Σ_{j<=i} a[r][j] (b ? b[r][j] : 1) in double, j ascending, for the
 * rows r = i - i0 of queries i = i0..i1-1. Four rows advance together: each
 * row's sum keeps its sequential order, so its bits, and the four chains
 * hide the latency of the adds. */
static void rows_sum(double *s, const float *const *a, const float *const *b, int i0, int i1)
{
    int i = i0;
    for (; i + 4 <= i1; i += 4) {
        int r = i - i0;
        const float *a0 = a[r], *a1 = a[r + 1], *a2 = a[r + 2], *a3 = a[r + 3];
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        if (b) {
            const float *b0 = b[r], *b1 = b[r + 1], *b2 = b[r + 2], *b3 = b[r + 3];
            for (int j = 0; j <= i; j++) {
                s0 += (double)a0[j] * b0[j];
                s1 += (double)a1[j] * b1[j];
                s2 += (double)a2[j] * b2[j];
                s3 += (double)a3[j] * b3[j];
            }
            s1 += (double)a1[i + 1] * b1[i + 1];
            s2 += (double)a2[i + 1] * b2[i + 1];
            s2 += (double)a2[i + 2] * b2[i + 2];
            s3 += (double)a3[i + 1] * b3[i + 1];
            s3 += (double)a3[i + 2] * b3[i + 2];
            s3 += (double)a3[i + 3] * b3[i + 3];
        } else {
            for (int j = 0; j <= i; j++) {
                s0 += a0[j];
                s1 += a1[j];
                s2 += a2[j];
                s3 += a3[j];
            }
            s1 += a1[i + 1];
            s2 += a2[i + 1];
            s2 += a2[i + 2];
            s3 += a3[i + 1];
            s3 += a3[i + 2];
            s3 += a3[i + 3];
        }
        s[r] = s0;
        s[r + 1] = s1;
        s[r + 2] = s2;
        s[r + 3] = s3;
    }
    for (; i < i1; i++) {
        const float *ar = a[i - i0], *br = b ? b[i - i0] : NULL;
        double s0 = 0;
        if (br)
            for (int j = 0; j <= i; j++) s0 += (double)ar[j] * br[j];
        else
            for (int j = 0; j <= i; j++) s0 += ar[j];
        s[i - i0] = s0;
    }
}

/* P rows of queries i0..i1-1 (row r = i - i0 at dst + r ld, keys 0..i1-1,
 * +0 above the diagonal) = causal softmax of the scores S (compact: nb = i1 -
 * i0 rows of i1 floats; dst may be S with ld i1); lse (indexed by query) is
 * computed when lse_out, else read. The rows' entries 0..i, shifted as
 * rp_sub_exp_f32 would, are packed one after the other into E so that the exp
 * runs once over the block: row by row, a short row is a few vectors whose
 * polynomial latency nothing else would hide. */
static void blk_softmax(float *dst, int ld, const float *S, float *E, float *lse, bool lse_out,
                        int i0, int i1)
{
    float mx[ATT_BLK_MAX];
    double s[ATT_BLK_MAX];
    const float *e[ATT_BLK_MAX];
    int64_t off = 0;
    for (int i = i0; i < i1; i++) {
        const float *row = S + (int64_t)(i - i0) * i1;
        float c = lse_out ? (mx[i - i0] = row_max(row, i + 1)) : lse[i], *er = E + off;
        #pragma omp simd
        for (int j = 0; j <= i; j++) er[j] = row[j] - c;
        e[i - i0] = er;
        off += i + 1;
    }
    rp_exp_f32(E, E, off);
    if (lse_out) rows_sum(s, e, NULL, i0, i1); /* one exp per entry: normalise by the sum */
    for (int i = i0; i < i1; i++) {
        float *d = dst + (int64_t)(i - i0) * ld;
        const float *er = e[i - i0];
        if (lse_out) {
            lse[i] = mx[i - i0] + (float)log(s[i - i0]);
            float inv = (float)(1.0 / s[i - i0]);
            #pragma omp simd
            for (int j = 0; j <= i; j++) d[j] = er[j] * inv;
        } else {
            memcpy(d, er, sizeof(float) * (size_t)(i + 1));
        }
        memset(d + i + 1, 0, sizeof(float) * (size_t)(i1 - i - 1));
    }
}

/* Floats of one block of scores: rows < max(b0, bq) + bq / 2, of <= T keys. */
static size_t blk_floats(int T, att_blocks pb)
{
    int rows = (pb.b0 > pb.bq ? pb.b0 : pb.bq) + pb.bq / 2;
    return (size_t)(T < rows ? T : rows) * (size_t)T;
}

/* One (b, h) as full_forward. work holds two blocks: the scores, which
 * become the probabilities, and the packed exps. */
static void blk_forward(float *work, float *out, float *lse, const float *q, int ldq,
                        const float *k, int ldk, const float *v, int ldv, int T, int D,
                        float scale, att_blocks pb)
{
    float *S = work, *E = S + blk_floats(T, pb);
    for (int i0 = 0, i1; i0 < T; i0 = i1) {
        i1 = blk_end(i0, T, pb);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, i1 - i0, i1, D, scale,
                    q + (int64_t)i0 * ldq, ldq, k, ldk, 0.0f, S, i1);
        blk_softmax(S, i1, S, E, lse, true, i0, i1);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, i1 - i0, D, i1, 1.0f, S, i1, v,
                    ldv, 0.0f, out + (int64_t)i0 * D, D);
    }
}

/* One (b, h) as full_backward. work holds P and dS (T, T), of which only the
 * blocks on and below the diagonal are written and read, then two blocks as
 * in blk_forward. */
static void blk_backward(float *work, float *dq, float *dk, float *dv, float *lse,
                         const float *q, int ldq, const float *k, int ldk, const float *v,
                         int ldv, const float *dO, int ldo, int T, int D, float scale,
                         att_blocks pb)
{
    const size_t tt = (size_t)T * (size_t)T;
    float *P = work, *dS = P + tt, *S = dS + tt, *E = S + blk_floats(T, pb);
    const float *pr[ATT_BLK_MAX], *dr[ATT_BLK_MAX];
    double s[ATT_BLK_MAX];
    for (int i0 = 0, i1; i0 < T; i0 = i1) {
        i1 = blk_end(i0, T, pb);
        const int nb = i1 - i0;
        float *Pb = P + (int64_t)i0 * T, *dSb = dS + (int64_t)i0 * T;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nb, i1, D, scale,
                    q + (int64_t)i0 * ldq, ldq, k, ldk, 0.0f, S, i1);
        blk_softmax(Pb, T, S, E, lse, false, i0, i1);
        /* dP = dO Vᵀ, then dS = P ∘ (dP - Σ_j P dP) written over it */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nb, i1, D, 1.0f,
                    dO + (int64_t)i0 * ldo, ldo, v, ldv, 0.0f, dSb, T);
        for (int r = 0; r < nb; r++) {
            pr[r] = Pb + (int64_t)r * T;
            dr[r] = dSb + (int64_t)r * T;
        }
        rows_sum(s, pr, dr, i0, i1);
        for (int i = i0; i < i1; i++) {
            const float *p = pr[i - i0];
            float *d = dSb + (int64_t)(i - i0) * T, fs = (float)s[i - i0];
            #pragma omp simd
            for (int j = 0; j <= i; j++) d[j] = p[j] * (d[j] - fs);
            memset(d + i + 1, 0, sizeof(float) * (size_t)(i1 - i - 1));
        }
        /* dQ = scale dS K over keys 0..i1-1 */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nb, D, i1, scale, dSb, T, k, ldk,
                    0.0f, dq + (int64_t)i0 * D, D);
    }
    /* for keys j0..j1-1, over queries j0..T-1: dV = Pᵀ dO, dK = scale dSᵀ Q. A
     * query i >= j0 lies in a block that ends at or after j1, so its row holds
     * these columns. */
    for (int j0 = 0, j1; j0 < T; j0 = j1) {
        j1 = blk_end(j0, T, pb);
        int64_t at = (int64_t)j0 * T + j0;
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, j1 - j0, D, T - j0, 1.0f, P + at,
                    T, dO + (int64_t)j0 * ldo, ldo, 0.0f, dv + (int64_t)j0 * D, D);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, j1 - j0, D, T - j0, scale,
                    dS + at, T, q + (int64_t)j0 * ldq, ldq, 0.0f, dk + (int64_t)j0 * D, D);
    }
}

/* Floats of scratch per thread for the forward or backward of one (b, h),
 * full kernel (bq 0) or blocked. */
static size_t att_scratch(int T, att_blocks pb, bool backward)
{
    size_t tt = (size_t)T * (size_t)T;
    if (!pb.bq) return backward ? 2 * tt : tt;
    return (backward ? 2 * tt : 0) + 2 * blk_floats(T, pb);
}

/* ---- which kernel ---- */

/* Default kernel choice (see rp_attention_kernel): build with
 * -DRP_ATT_KERNEL=2 to use the blocked kernel even where its results differ
 * from the full kernel's in the last bits. */
#ifndef RP_ATT_KERNEL
#define RP_ATT_KERNEL 1
#endif
static int att_kernel = RP_ATT_KERNEL;

int rp_attention_kernel(int kernel)
{
    int prev;
    #pragma omp critical(rp_att_plan)
    {
        prev = att_kernel;
        if (kernel >= 0 && kernel <= 2) att_kernel = kernel;
    }
    return prev;
}

/* The blocks for head size D: 32 rows, which leaves the least work above
 * the diagonal for what each sgemm call costs at T = 64..256. For D >= 32
 * the first block has 64 rows: OpenBLAS 0.3.21's SkylakeX kernels compute a
 * q kᵀ product of at most 1200 scores with K >= 32 with a dot-product kernel
 * that sums in another order than the one the full T x T product uses, and
 * a first block of 32 x 32 scores would be one. */
static att_blocks att_blocks_for(int D)
{
    return (att_blocks){D < 32 ? ATT_BQ : ATT_B0_WIDE, ATT_BQ};
}

/* Does the blocked kernel give the full kernel's bits at (T, D)? One head of
 * fixed pseudo-random data through both, forward and backward. -1 when out
 * of memory. BLAS must be single-threaded, as in the real calls. */
static int att_verify(int T, int D, att_blocks pb)
{
    size_t td = (size_t)T * (size_t)D, tt = (size_t)T * (size_t)T;
    /* q, k, v, dO, then out, dq, dk, dv of each kernel, two lse, scratch */
    float *buf = malloc(sizeof(float) * (12 * td + 2 * (size_t)T + att_scratch(T, pb, true)));
    if (!buf) return -1;
    float *q = buf, *k = q + td, *v = k + td, *dO = v + td, *r[2][4];
    for (int w = 0; w < 2; w++)
        for (int i = 0; i < 4; i++) r[w][i] = buf + (size_t)(4 + 4 * w + i) * td;
    float *lse[2] = {buf + 12 * td, buf + 12 * td + T}, *P = lse[1] + T;
    uint64_t x = 0x9e3779b97f4a7c15u;
    for (size_t i = 0; i < 4 * td; i++) { /* uniform in [-2, 2): scores spread over a few units */
        x = x * 6364136223846793005u + 1442695040888963407u;
        q[i] = (float)((double)(x >> 40) * 0x1p-22 - 2.0);
    }
    float scale = (float)(1.0 / sqrt((double)D));
    full_forward(P, r[0][0], lse[0], q, D, k, D, v, D, T, D, scale);
    full_backward(P, P + tt, r[0][1], r[0][2], r[0][3], lse[0], q, D, k, D, v, D, dO, D, T, D,
                  scale);
    blk_forward(P, r[1][0], lse[1], q, D, k, D, v, D, T, D, scale, pb);
    blk_backward(P, r[1][1], r[1][2], r[1][3], lse[1], q, D, k, D, v, D, dO, D, T, D, scale, pb);
    int same = memcmp(r[0][0], r[1][0], sizeof(float) * 4 * td) == 0 &&
               memcmp(lse[0], lse[1], sizeof(float) * (size_t)T) == 0;
    free(buf);
    return same;
}

/* The blocks for (T, D), bq 0 for the full kernel. Verdicts are cached (a
 * bounded table; a lost entry is only checked again). */
#define ATT_PLAN_CACHE 32
static struct { int T, D; att_blocks pb; } att_plans[ATT_PLAN_CACHE];
static unsigned att_nplans; /* verdicts made; the last ATT_PLAN_CACHE are kept */

static att_blocks att_plan(int T, int D)
{
    att_blocks pb = att_blocks_for(D), full = {0, 0}, plan = full;
    #pragma omp critical(rp_att_plan)
    {
        if (att_kernel == 2) {
            plan = pb;
        } else if (att_kernel == 1) {
            int n = att_nplans < ATT_PLAN_CACHE ? (int)att_nplans : ATT_PLAN_CACHE, hit = -1;
            for (int i = 0; i < n; i++)
                if (att_plans[i].T == T && att_plans[i].D == D) hit = i;
            if (hit >= 0) {
                plan = att_plans[hit].pb;
            } else {
                int ok = att_verify(T, D, pb);
                plan = ok == 1 ? pb : full;
                if (ok >= 0) { /* out of memory decides nothing */
                    int slot = att_nplans++ % ATT_PLAN_CACHE;
                    att_plans[slot].T = T;
                    att_plans[slot].D = D;
                    att_plans[slot].pb = plan;
                }
            }
        }
    }
    return plan;
}

/* ---- the op ---- */

typedef struct {
    rp_att_head q, k, v, g;
    float *out, *lse, *dq, *dk, *dv;
    int T, D;
    float scale;
    att_blocks pb;
} att_ctx;

static void att_fwd_head(void *arg, float *P, int64_t b, int64_t h, int64_t bh)
{
    att_ctx *c = arg;
    const int T = c->T, D = c->D;
    float *o = c->out + bh * T * D, *lp = c->lse + bh * T;
    const float *qp = rp_att_head_at(&c->q, b, h), *kp = rp_att_head_at(&c->k, b, h),
                *vp = rp_att_head_at(&c->v, b, h);
    if (c->pb.bq)
        blk_forward(P, o, lp, qp, c->q.ld, kp, c->k.ld, vp, c->v.ld, T, D, c->scale, c->pb);
    else
        full_forward(P, o, lp, qp, c->q.ld, kp, c->k.ld, vp, c->v.ld, T, D, c->scale);
}

static void att_bwd_head(void *arg, float *P, int64_t b, int64_t h, int64_t bh)
{
    att_ctx *c = arg;
    const int T = c->T, D = c->D;
    float *dq = c->dq + bh * T * D, *dk = c->dk + bh * T * D, *dv = c->dv + bh * T * D;
    float *lp = c->lse + bh * T;
    const float *q = rp_att_head_at(&c->q, b, h), *k = rp_att_head_at(&c->k, b, h),
                *v = rp_att_head_at(&c->v, b, h), *dO = rp_att_head_at(&c->g, b, h);
    if (c->pb.bq)
        blk_backward(P, dq, dk, dv, lp, q, c->q.ld, k, c->k.ld, v, c->v.ld, dO, c->g.ld, T, D,
                     c->scale, c->pb);
    else
        full_backward(P, P + (size_t)T * (size_t)T, dq, dk, dv, lp, q, c->q.ld, k, c->k.ld, v,
                      c->v.ld, dO, c->g.ld, T, D, c->scale);
}

static bool att_parallel(int64_t BH, int T, int D)
{
    return BH > 1 && BH * T * T * D > ATT_PAR_MIN;
}

static int att_backward(rp_node *n, const rp_tensor *g, rp_tensor *gin[RP_NODE_MAXIN])
{
    att_ctx c = {0};
    c.pb = (att_blocks){(int)n->iargs[0], (int)n->iargs[1]}; /* the forward's kernel */
    int rc = -1;
    if (rp_att_head_prep(&c.q, n->saved[0]) || rp_att_head_prep(&c.k, n->saved[1]) ||
        rp_att_head_prep(&c.v, n->saved[2]) || rp_att_head_prep(&c.g, g))
        goto done;
    const int64_t B = c.q.t->shape[0], H = c.q.t->shape[1];
    c.T = (int)c.q.t->shape[2];
    c.D = (int)c.q.t->shape[3];
    c.scale = (float)(1.0 / sqrt((double)c.D));
    for (int i = 0; i < 3; i++) { /* both kernels write every row with beta 0 sgemms */
        gin[i] = rp_empty_uninit(RP_F32, 4, c.q.t->shape);
        if (!gin[i]) goto done;
    }
    if (c.T == 0) { rc = 0; goto done; }
    c.dq = RP_F32P(gin[0]);
    c.dk = RP_F32P(gin[1]);
    c.dv = RP_F32P(gin[2]);
    c.lse = RP_F32P(n->saved[3]);
    if (rp_att_for_heads(B, H, att_scratch(c.T, c.pb, true), att_parallel(B * H, c.T, c.D),
                         att_bwd_head, &c)) {
        rp_seterr("attention: out of memory for scratch of T = %d", c.T);
        goto done;
    }
    rc = 0;
done:
    rp_att_head_free(&c.q);
    rp_att_head_free(&c.k);
    rp_att_head_free(&c.v);
    rp_att_head_free(&c.g);
    return rc;
}

rp_tensor *rp_attention(const rp_tensor *q, const rp_tensor *k, const rp_tensor *v)
{
    if (rp_att_check(q, k, v)) return NULL;
    att_ctx c = {0};
    rp_tensor *out = NULL, *lse = NULL;
    if (rp_att_head_prep(&c.q, q) || rp_att_head_prep(&c.k, k) || rp_att_head_prep(&c.v, v))
        goto done;
    const int64_t B = q->shape[0], H = q->shape[1];
    c.T = (int)q->shape[2];
    c.D = (int)q->shape[3];
    c.scale = (float)(1.0 / sqrt((double)c.D));
    out = rp_empty_uninit(RP_F32, 4, q->shape);
    lse = rp_empty_uninit(RP_F32, 3, q->shape);
    if (!out || !lse) goto fail;
    c.out = RP_F32P(out);
    c.lse = RP_F32P(lse);
    if (c.T > 0) {
        rp_blas_one_thread(); /* before att_plan's check, which runs sgemms too */
        c.pb = att_plan(c.T, c.D);
        if (rp_att_for_heads(B, H, att_scratch(c.T, c.pb, false), att_parallel(B * H, c.T, c.D),
                             att_fwd_head, &c)) {
            rp_seterr("attention: out of memory for scratch of T = %d", c.T);
            goto fail;
        }
    }
    const rp_tensor *ins[3] = {q, k, v};
    if (rp_needs_grad(3, ins)) {
        rp_tensor *in3[3] = {(rp_tensor *)q, (rp_tensor *)k, (rp_tensor *)v};
        rp_node *node = rp_node_attach(out, "attention", att_backward, 3, in3);
        if (!node || rp_node_save(node, q) || rp_node_save(node, k) || rp_node_save(node, v) ||
            rp_node_save(node, lse))
            goto fail;
        node->iargs[0] = c.pb.b0;
        node->iargs[1] = c.pb.bq;
    }
    goto done;
fail:
    rp_tensor_release(out);
    out = NULL;
done:
    rp_tensor_release(lse);
    rp_att_head_free(&c.q);
    rp_att_head_free(&c.k);
    rp_att_head_free(&c.v);
    return out;
}

rp_tensor *rp_attention_ref(const rp_tensor *q, const rp_tensor *k, const rp_tensor *v)
{
    if (rp_att_check(q, k, v)) return NULL;
    const int64_t B = q->shape[0], H = q->shape[1], T = q->shape[2], D = q->shape[3];
    rp_tensor *out = rp_zeros(RP_F32, 4, q->shape);
    double *p = malloc(sizeof(double) * (size_t)(T ? T : 1));
    if (!out || !p) { free(p); rp_tensor_release(out); rp_seterr("attention: out of memory"); return NULL; }
    const double scale = 1.0 / sqrt((double)D);
#define AT(x, b, h, t, d) RP_F32P(x)[(b) * x->stride[0] + (h) * x->stride[1] + (t) * x->stride[2] + (d) * x->stride[3]]
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t i = 0; i < T; i++) {
                double mx = -INFINITY, s = 0;
                for (int64_t j = 0; j <= i; j++) {
                    double dot = 0;
                    for (int64_t d = 0; d < D; d++) dot += (double)AT(q, b, h, i, d) * AT(k, b, h, j, d);
                    p[j] = dot * scale;
                    mx = fmax(mx, p[j]);
                }
                for (int64_t j = 0; j <= i; j++) { p[j] = exp(p[j] - mx); s += p[j]; }
                for (int64_t d = 0; d < D; d++) {
                    double o = 0;
                    for (int64_t j = 0; j <= i; j++) o += p[j] / s * AT(v, b, h, j, d);
                    AT(out, b, h, i, d) = (float)o;
                }
            }
#undef AT
    free(p);
    return out;
}
