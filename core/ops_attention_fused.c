/* ops_attention_fused.c: causal scaled-dot-product attention blocked over
 * queries and keys with an online softmax (FlashAttention-2: Dao, arXiv
 * 2307.08691, algorithms 1 and 2), forward and backward. No T x T matrix is
 * stored: per (batch, head) the scratch is two blocks of scores and one
 * float per query. The forward keeps one logsumexp per query; the backward
 * recomputes each block's probabilities from it.
 *
 * Determinism: every (b, h) runs on one thread with single-threaded BLAS
 * and the same sequence of block products whatever the thread count (the
 * blocks depend on T and D only), and every sum over keys or queries runs in
 * a fixed block order (key blocks ascending for the forward's output and
 * dQ; query blocks ascending for dK and dV). So the bits do not depend on
 * REPRO_THREADS. They differ from rp_attention's in the last places (the
 * sums are split differently): tests compare the two with a tolerance. */
#include "ops.h"
#include "ops_nn.h"
#include "autograd.h"
#include "attention_heads.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Rows (queries) and columns (keys) of a block; queries and keys share one
 * partition, so a diagonal block is square and every query row of a block
 * has at least its first key (j0 <= i). */
#define FA_BLK_MAX 64

/* Block size for (T, D): 64 at D >= 64 (the products are then large enough
 * to run near BLAS's rate), else 32, which wastes less above the diagonal. */
static int fa_block(int T, int D)
{
    int bs = D >= 64 ? 64 : 32;
    return T < bs ? T : bs;
}

/* Max of row[0..n) (NaN never wins, -inf if none), order-free. */
static inline float fa_row_max(const float *row, int n)
{
    float m = -INFINITY;
    for (int j = 0; j < n; j++) m = row[j] > m ? row[j] : m;
    return m;
}

/* Σ row[0..n) in eight lanes (lane l takes j ≡ l mod 8), then the lanes in
 * a fixed tree: the order is the code's, not the vectoriser's. */
static inline float fa_row_sum(const float *row, int n)
{
    float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int j = 0;
    for (; j + 8 <= n; j += 8)
        for (int l = 0; l < 8; l++) s[l] += row[j + l];
    for (int l = 0; j < n; j++, l++) s[l] += row[j];
    return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
}

/* Σ a[d] b[d] over d < n, lanes as fa_row_sum. */
static inline float fa_dot(const float *a, const float *b, int n)
{
    float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int j = 0;
    for (; j + 8 <= n; j += 8)
        for (int l = 0; l < 8; l++) s[l] += a[j + l] * b[j + l];
    for (int l = 0; j < n; j++, l++) s[l] += a[j] * b[j];
    return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
}

/* Forward, one block of scores S (nb x nk, ld nk) against running row maxima
 * m and sums l: S becomes exp(S - m_new) (0 where j > r on a diagonal
 * block), l is rescaled and extended, and alpha[r] = exp(m_old - m_new) is
 * the factor the output rows must take before P V is added. */
RP_VECTOR_CLONES static void fa_fwd_softmax(float *S, float *m, float *l, float *alpha, int nb,
                                            int nk, bool diag)
{
    for (int r = 0; r < nb; r++) {
        float *row = S + (int64_t)r * nk;
        int lim = diag ? r + 1 : nk;
        for (int j = lim; j < nk; j++) row[j] = -INFINITY;
        float mx = fa_row_max(row, lim);
        mx = m[r] > mx ? m[r] : mx;
        alpha[r] = m[r] - mx;
        m[r] = mx;
        #pragma omp simd
        for (int j = 0; j < lim; j++) row[j] -= mx;
    }
    rp_exp_f32(S, S, (int64_t)nb * nk); /* one call: short rows would leave its latency bare */
    rp_exp_f32(alpha, alpha, nb);
    for (int r = 0; r < nb; r++) l[r] = l[r] * alpha[r] + fa_row_sum(S + (int64_t)r * nk, nk);
}

RP_VECTOR_CLONES static void fa_scale_rows(float *o, const float *f, int nb, int D, bool invert)
{
    for (int r = 0; r < nb; r++) {
        float c = invert ? 1.0f / f[r] : f[r], *row = o + (int64_t)r * D;
        #pragma omp simd
        for (int d = 0; d < D; d++) row[d] *= c;
    }
}

/* One (b, h): out (T, D) contiguous, lse (T). work: FA_BLK_MAX² floats. */
static void fa_forward(float *work, float *out, float *lse, const float *q, int ldq,
                       const float *k, int ldk, const float *v, int ldv, int T, int D,
                       float scale)
{
    const int bs = fa_block(T, D);
    float *S = work, m[FA_BLK_MAX], l[FA_BLK_MAX], alpha[FA_BLK_MAX];
    for (int i0 = 0; i0 < T; i0 += bs) {
        const int nb = T - i0 < bs ? T - i0 : bs;
        float *o = out + (int64_t)i0 * D;
        for (int r = 0; r < nb; r++) {
            m[r] = -INFINITY;
            l[r] = 0.0f;
        }
        for (int j0 = 0; j0 <= i0; j0 += bs) { /* key blocks ascending: the sums' order */
            const int nk = T - j0 < bs ? T - j0 : bs;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nb, nk, D, scale,
                        q + (int64_t)i0 * ldq, ldq, k + (int64_t)j0 * ldk, ldk, 0.0f, S, nk);
            fa_fwd_softmax(S, m, l, alpha, nb, nk, j0 == i0);
            if (j0) fa_scale_rows(o, alpha, nb, D, false);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nb, D, nk, 1.0f, S, nk,
                        v + (int64_t)j0 * ldv, ldv, j0 ? 1.0f : 0.0f, o, D);
        }
        fa_scale_rows(o, l, nb, D, true);
        for (int r = 0; r < nb; r++) lse[i0 + r] = m[r] + logf(l[r]);
    }
}

/* Backward, one block: P = exp(S - lse) in place (0 above the diagonal). */
RP_VECTOR_CLONES static void fa_bwd_probs(float *S, const float *lse, int nb, int nk, bool diag)
{
    for (int r = 0; r < nb; r++) {
        float *row = S + (int64_t)r * nk, c = lse[r];
        int lim = diag ? r + 1 : nk;
        #pragma omp simd
        for (int j = 0; j < lim; j++) row[j] -= c;
        for (int j = lim; j < nk; j++) row[j] = -INFINITY;
    }
    rp_exp_f32(S, S, (int64_t)nb * nk);
}

/* dS = P ∘ (dP - Δ) over dP, Δ[r] = Σ_d dO O of the row. */
RP_VECTOR_CLONES static void fa_bwd_ds(float *dP, const float *P, const float *delta, int nb,
                                       int nk)
{
    for (int r = 0; r < nb; r++) {
        float *d = dP + (int64_t)r * nk, c = delta[r];
        const float *p = P + (int64_t)r * nk;
        #pragma omp simd
        for (int j = 0; j < nk; j++) d[j] = p[j] * (d[j] - c);
    }
}

/* One (b, h): dq, dk, dv (T, D) contiguous from dO (T, D, ld ldo), the
 * forward's out (T, D) contiguous and lse (T). work: 2 FA_BLK_MAX² + T
 * floats. */
static void fa_backward(float *work, float *dq, float *dk, float *dv, const float *out,
                        const float *lse, const float *q, int ldq, const float *k, int ldk,
                        const float *v, int ldv, const float *dO, int ldo, int T, int D,
                        float scale)
{
    const int bs = fa_block(T, D);
    float *P = work, *dP = P + FA_BLK_MAX * FA_BLK_MAX, *delta = dP + FA_BLK_MAX * FA_BLK_MAX;
    for (int i = 0; i < T; i++)
        delta[i] = fa_dot(dO + (int64_t)i * ldo, out + (int64_t)i * D, D);
    memset(dq, 0, sizeof(float) * (size_t)T * (size_t)D);
    for (int j0 = 0; j0 < T; j0 += bs) {
        const int nk = T - j0 < bs ? T - j0 : bs;
        const float *kj = k + (int64_t)j0 * ldk, *vj = v + (int64_t)j0 * ldv;
        float *dkj = dk + (int64_t)j0 * D, *dvj = dv + (int64_t)j0 * D;
        for (int i0 = j0; i0 < T; i0 += bs) { /* query blocks ascending: dK, dV's order */
            const int nb = T - i0 < bs ? T - i0 : bs;
            const float *qi = q + (int64_t)i0 * ldq, *dOi = dO + (int64_t)i0 * ldo;
            const float beta = i0 == j0 ? 0.0f : 1.0f;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nb, nk, D, scale, qi, ldq, kj,
                        ldk, 0.0f, P, nk);
            fa_bwd_probs(P, lse + i0, nb, nk, i0 == j0);
            /* dV_j += Pᵀ dO_i;  dP = dO_i V_jᵀ */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nk, D, nb, 1.0f, P, nk, dOi, ldo,
                        beta, dvj, D);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nb, nk, D, 1.0f, dOi, ldo, vj,
                        ldv, 0.0f, dP, nk);
            fa_bwd_ds(dP, P, delta + i0, nb, nk);
            /* dK_j += scale dSᵀ Q_i;  dQ_i += scale dS K_j (key blocks ascending) */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nk, D, nb, scale, dP, nk, qi, ldq,
                        beta, dkj, D);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nb, D, nk, scale, dP, nk, kj,
                        ldk, 1.0f, dq + (int64_t)i0 * D, D);
        }
    }
}

/* ---- the op ---- */

typedef struct {
    rp_att_head q, k, v, g;
    float *out, *lse, *dq, *dk, *dv;
    const float *o;
    int T, D;
    float scale;
} fa_ctx;

static void fa_fwd_head(void *arg, float *work, int64_t b, int64_t h, int64_t bh)
{
    fa_ctx *c = arg;
    const int64_t td = (int64_t)c->T * c->D;
    fa_forward(work, c->out + bh * td, c->lse + bh * c->T, rp_att_head_at(&c->q, b, h), c->q.ld,
               rp_att_head_at(&c->k, b, h), c->k.ld, rp_att_head_at(&c->v, b, h), c->v.ld, c->T,
               c->D, c->scale);
}

static void fa_bwd_head(void *arg, float *work, int64_t b, int64_t h, int64_t bh)
{
    fa_ctx *c = arg;
    const int64_t td = (int64_t)c->T * c->D;
    fa_backward(work, c->dq + bh * td, c->dk + bh * td, c->dv + bh * td, c->o + bh * td,
                c->lse + bh * c->T, rp_att_head_at(&c->q, b, h), c->q.ld,
                rp_att_head_at(&c->k, b, h), c->k.ld, rp_att_head_at(&c->v, b, h), c->v.ld,
                rp_att_head_at(&c->g, b, h), c->g.ld, c->T, c->D, c->scale);
}

#define FA_PAR_MIN (1 << 16)

static bool fa_parallel(int64_t BH, int T, int D)
{
    return BH > 1 && BH * T * T * D > FA_PAR_MIN;
}

/* saved: q, k, v, out, lse */
static int fa_backward_node(rp_node *n, const rp_tensor *g, rp_tensor *gin[RP_NODE_MAXIN])
{
    fa_ctx c = {0};
    int rc = -1;
    if (rp_att_head_prep(&c.q, n->saved[0]) || rp_att_head_prep(&c.k, n->saved[1]) ||
        rp_att_head_prep(&c.v, n->saved[2]) || rp_att_head_prep(&c.g, g))
        goto done;
    const int64_t *shape = c.q.t->shape, B = shape[0], H = shape[1];
    c.T = (int)shape[2];
    c.D = (int)shape[3];
    c.scale = (float)(1.0 / sqrt((double)c.D));
    for (int i = 0; i < 3; i++) /* every row is written (dq zeroed, dk and dv with beta 0) */
        if (!(gin[i] = rp_empty_uninit(RP_F32, 4, shape))) goto done;
    if (c.T == 0) { rc = 0; goto done; }
    c.dq = RP_F32P(gin[0]);
    c.dk = RP_F32P(gin[1]);
    c.dv = RP_F32P(gin[2]);
    c.o = RP_F32P(n->saved[3]);
    c.lse = RP_F32P(n->saved[4]);
    size_t work = 2 * FA_BLK_MAX * FA_BLK_MAX + (size_t)c.T;
    if (rp_att_for_heads(B, H, work, fa_parallel(B * H, c.T, c.D), fa_bwd_head, &c)) {
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

rp_tensor *rp_attention_fused(const rp_tensor *q, const rp_tensor *k, const rp_tensor *v)
{
    if (rp_att_check(q, k, v)) return NULL;
    fa_ctx c = {0};
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
    if (c.T > 0 && rp_att_for_heads(B, H, FA_BLK_MAX * FA_BLK_MAX,
                                    fa_parallel(B * H, c.T, c.D), fa_fwd_head, &c)) {
        rp_seterr("attention: out of memory for scratch of T = %d", c.T);
        goto fail;
    }
    const rp_tensor *ins[3] = {q, k, v}, *save[5] = {q, k, v, out, lse};
    out = rp_record(out, "attention", fa_backward_node, 3, ins, 5, save, NULL);
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
