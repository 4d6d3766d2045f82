/* ops_attention_masked.c: scaled-dot-product attention with a key-padding
 * mask, optional causality and Tq <= Tk (decode: one query over a cache),
 * forward and backward. The plain causal case without a mask goes to
 * rp_attention (ops_attention.c) unchanged. One (batch, head) at a time:
 * scores by one single-threaded sgemm (sgemv for one query),
 * softmax over the allowed keys with one logsumexp per query kept for the
 * backward, which recomputes the probabilities. */
#include "ops.h"
#include "ops_nn.h"
#include "autograd.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>


/* (B, H, T, D) as sgemm operands: unit stride in D, row stride ld >= D; other
 * layouts are copied. A cache narrowed along T keeps its layout. */
typedef struct {
    rp_tensor *t; /* owned */
    int64_t sb, sh;
    int ld;
} mhead;

static int mhead_prep(mhead *hv, const rp_tensor *x)
{
    int64_t T = x->shape[2], D = x->shape[3];
    bool ok = (D <= 1 || x->stride[3] == 1) && (T <= 1 || x->stride[2] >= D) &&
              x->stride[2] <= INT_MAX;
    hv->t = ok ? rp_detach(x) : rp_copy_contiguous(x);
    if (!hv->t) return -1;
    hv->sb = hv->t->stride[0];
    hv->sh = hv->t->stride[1];
    int64_t ld = T <= 1 ? D : hv->t->stride[2];
    hv->ld = (int)(ld > D ? ld : D);
    return 0;
}

static int matt_check(const rp_tensor *q, const rp_tensor *k, const rp_tensor *v,
                      const rp_tensor *km, bool causal)
{
    char a[RP_SHAPE_STRLEN], b[RP_SHAPE_STRLEN], c[RP_SHAPE_STRLEN];
    if (q->dtype != RP_F32 || k->dtype != RP_F32 || v->dtype != RP_F32)
        return rp_seterr("attention: q, k, v must be f32, got %s, %s, %s",
                         rp_dtype_info[q->dtype].name, rp_dtype_info[k->dtype].name,
                         rp_dtype_info[v->dtype].name);
    bool ok = q->ndim == 4 && rp_same_shape(k, v) && k->ndim == 4 && q->shape[0] == k->shape[0] &&
              q->shape[1] == k->shape[1] && q->shape[3] == k->shape[3];
    if (!ok)
        return rp_seterr("attention: q %s must be (B, H, Tq, D) and k %s, v %s one (B, H, Tk, D)",
                         rp_shape_str(q, a, sizeof a), rp_shape_str(k, b, sizeof b),
                         rp_shape_str(v, c, sizeof c));
    if (q->shape[3] == 0 || q->shape[2] > INT_MAX || k->shape[2] > INT_MAX || q->shape[3] > INT_MAX)
        return rp_seterr("attention: unsupported sizes in q %s, k %s", rp_shape_str(q, a, sizeof a),
                         rp_shape_str(k, b, sizeof b));
    if (causal && q->shape[2] > k->shape[2])
        return rp_seterr("attention: causal attention needs Tq <= Tk, got q %s and k %s",
                         rp_shape_str(q, a, sizeof a), rp_shape_str(k, b, sizeof b));
    if (km && (km->ndim != 2 || km->shape[0] != q->shape[0] || km->shape[1] != k->shape[2]))
        return rp_seterr("attention: key_mask %s must be (B, Tk) = {%lld,%lld}",
                         rp_shape_str(km, a, sizeof a), (long long)q->shape[0],
                         (long long)k->shape[2]);
    return 0;
}

/* S (Tq, Tk) = scale q kᵀ. */
static void m_scores(float *S, const float *q, int ldq, const float *k, int ldk, int Tq, int Tk,
                     int D, float scale)
{
    if (Tq == 1) { /* one query (decode): a matrix-vector product */
        cblas_sgemv(CblasRowMajor, CblasNoTrans, Tk, D, scale, k, ldk, q, 1, 0.0f, S, 1);
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Tq, Tk, D, scale, q, ldq, k, ldk, 0.0f, S,
                Tk);
}

/* Keys row i may attend: j < lim(i) with km[j] != 0 (km NULL: all). */
static int m_limit(int i, int Tq, int Tk, bool causal)
{
    return causal ? i + Tk - Tq + 1 : Tk;
}

/* Scores S (Tq, Tk) -> probabilities in place, with lse per row computed
 * (lse_out) or read; -inf lse marks a row with no key (all zeros). */
static void m_probs(float *S, float *lse, bool lse_out, const uint8_t *km, bool causal, int Tq,
                    int Tk)
{
    for (int i = 0; i < Tq; i++) {
        float *row = S + (int64_t)i * Tk;
        int lim = m_limit(i, Tq, Tk, causal);
        if (lse_out) {
            float mx = -INFINITY;
            for (int j = 0; j < lim; j++)
                if (!km || km[j]) mx = row[j] > mx ? row[j] : mx;
            lse[i] = mx;
        }
        float c = lse[i];
        if (c == -INFINITY) { memset(row, 0, sizeof(float) * (size_t)Tk); continue; }
        rp_sub_exp_f32(row, row, c, lim);
        if (km)
            for (int j = 0; j < lim; j++) row[j] = km[j] ? row[j] : 0.0f;
        for (int j = lim; j < Tk; j++) row[j] = 0.0f;
        if (lse_out) {
            double s = 0;
            for (int j = 0; j < lim; j++) s += row[j];
            lse[i] = c + (float)log(s);
            float inv = (float)(1.0 / s);
            for (int j = 0; j < lim; j++) row[j] *= inv;
        }
    }
}

/* One (b, h): out (Tq, D), lse (Tq); S is Tq x Tk scratch. */
static void m_forward(float *S, float *out, float *lse, const float *q, int ldq, const float *k,
                      int ldk, const float *v, int ldv, const uint8_t *km, bool causal, int Tq,
                      int Tk, int D, float scale)
{
    m_scores(S, q, ldq, k, ldk, Tq, Tk, D, scale);
    m_probs(S, lse, true, km, causal, Tq, Tk);
    if (Tq == 1) {
        cblas_sgemv(CblasRowMajor, CblasTrans, Tk, D, 1.0f, v, ldv, S, 1, 0.0f, out, 1);
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Tq, D, Tk, 1.0f, S, Tk, v, ldv, 0.0f,
                out, D);
}

/* One (b, h): dq (Tq, D), dk, dv (Tk, D); P and dP are Tq x Tk scratch. */
static void m_backward(float *P, float *dP, float *dq, float *dk, float *dv, float *lse,
                       const float *q, int ldq, const float *k, int ldk, const float *v, int ldv,
                       const float *dO, int ldo, const uint8_t *km, bool causal, int Tq, int Tk,
                       int D, float scale)
{
    m_scores(P, q, ldq, k, ldk, Tq, Tk, D, scale);
    m_probs(P, lse, false, km, causal, Tq, Tk);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Tk, D, Tq, 1.0f, P, Tk, dO, ldo, 0.0f,
                dv, D);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Tq, Tk, D, 1.0f, dO, ldo, v, ldv, 0.0f,
                dP, Tk);
    for (int i = 0; i < Tq; i++) { /* dS = P ∘ (dP - Σ_j P dP), over dP */
        float *pr = P + (int64_t)i * Tk, *dr = dP + (int64_t)i * Tk;
        double s = 0;
        for (int j = 0; j < Tk; j++) s += (double)pr[j] * dr[j];
        float fs = (float)s;
        for (int j = 0; j < Tk; j++) dr[j] = pr[j] * (dr[j] - fs);
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Tq, D, Tk, scale, dP, Tk, k, ldk, 0.0f,
                dq, D);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Tk, D, Tq, scale, dP, Tk, q, ldq, 0.0f,
                dk, D);
}

/* A contiguous u8 0/1 copy of the (B, Tk) key mask. */
static rp_tensor *mask_u8(const rp_tensor *km)
{
    rp_tensor *m = rp_empty_uninit(RP_U8, 2, km->shape);
    if (!m) return NULL;
    uint8_t *p = RP_U8P(m);
    for (int64_t i = 0, n = rp_numel(km); i < n; i++) p[i] = rp_get_flat(km, i) != 0;
    return m;
}

/* saved: q, k, v, lse (B, H, Tq), mask u8 (optional); iargs[0] = causal */
static int matt_backward(rp_node *n, const rp_tensor *g, rp_tensor *gin[RP_NODE_MAXIN])
{
    const rp_tensor *lse = n->saved[3];
    const uint8_t *km = n->nsaved > 4 ? RP_U8P(n->saved[4]) : NULL;
    const bool causal = n->iargs[0] != 0;
    mhead hq = {0}, hk = {0}, hv = {0}, hg = {0};
    int rc = -1;
    if (mhead_prep(&hq, n->saved[0]) || mhead_prep(&hk, n->saved[1]) ||
        mhead_prep(&hv, n->saved[2]) || mhead_prep(&hg, g))
        goto done;
    const int64_t B = hq.t->shape[0], H = hq.t->shape[1];
    const int Tq = (int)hq.t->shape[2], Tk = (int)hk.t->shape[2], D = (int)hq.t->shape[3];
    const float scale = (float)(1.0 / sqrt((double)D));
    gin[0] = rp_zeros(RP_F32, 4, hq.t->shape);
    gin[1] = rp_zeros(RP_F32, 4, hk.t->shape);
    gin[2] = rp_zeros(RP_F32, 4, hk.t->shape);
    if (!gin[0] || !gin[1] || !gin[2]) goto done;
    if (Tq == 0 || Tk == 0) { rc = 0; goto done; }
    rp_blas_one_thread();
    int oom = 0;
    const size_t tt = (size_t)Tq * (size_t)Tk;
    #pragma omp parallel if (B * H > 1 && B * H * tt * D > RP_PAR_MIN)
    {
        float *P = malloc(sizeof(float) * 2 * tt);
        if (!P) {
            #pragma omp atomic write
            oom = 1;
        }
        #pragma omp for schedule(static)
        for (int64_t bh = 0; bh < B * H; bh++) {
            if (!P) continue;
            int64_t b = bh / H, h = bh % H;
            m_backward(P, P + tt, RP_F32P(gin[0]) + bh * Tq * D, RP_F32P(gin[1]) + bh * Tk * D,
                       RP_F32P(gin[2]) + bh * Tk * D, RP_F32P(lse) + bh * Tq,
                       RP_F32P(hq.t) + b * hq.sb + h * hq.sh, hq.ld,
                       RP_F32P(hk.t) + b * hk.sb + h * hk.sh, hk.ld,
                       RP_F32P(hv.t) + b * hv.sb + h * hv.sh, hv.ld,
                       RP_F32P(hg.t) + b * hg.sb + h * hg.sh, hg.ld, km ? km + b * Tk : NULL,
                       causal, Tq, Tk, D, scale);
        }
        free(P);
    }
    if (oom) { rp_seterr("attention: out of memory for scratch of %d x %d", Tq, Tk); goto done; }
    rc = 0;
done:
    rp_tensor_release(hq.t);
    rp_tensor_release(hk.t);
    rp_tensor_release(hv.t);
    rp_tensor_release(hg.t);
    return rc;
}

rp_tensor *rp_attention_masked(const rp_tensor *q, const rp_tensor *k, const rp_tensor *v,
                               const rp_tensor *key_mask, bool causal)
{
    if (matt_check(q, k, v, key_mask, causal)) return NULL;
    if (!key_mask && causal && q->shape[2] == k->shape[2]) return rp_attention(q, k, v);
    mhead hq = {0}, hk = {0}, hv = {0};
    rp_tensor *out = NULL, *lse = NULL, *km = NULL;
    if (mhead_prep(&hq, q) || mhead_prep(&hk, k) || mhead_prep(&hv, v)) goto done;
    if (key_mask && !(km = mask_u8(key_mask))) goto done;
    const int64_t B = q->shape[0], H = q->shape[1];
    const int Tq = (int)q->shape[2], Tk = (int)k->shape[2], D = (int)q->shape[3];
    const float scale = (float)(1.0 / sqrt((double)D));
    out = rp_zeros(RP_F32, 4, q->shape);
    lse = rp_empty_uninit(RP_F32, 3, q->shape);
    if (!out || !lse) goto fail;
    const uint8_t *kp = km ? RP_U8P(km) : NULL;
    float *lp = RP_F32P(lse);
    if (Tk == 0)
        for (int64_t i = 0; i < B * H * Tq; i++) lp[i] = -INFINITY;
    int oom = 0;
    const size_t tt = (size_t)Tq * (size_t)Tk;
    if (Tq > 0 && Tk > 0) {
        rp_blas_one_thread();
        #pragma omp parallel if (B * H > 1 && B * H * tt * D > RP_PAR_MIN)
        {
            float *S = malloc(sizeof(float) * tt);
            if (!S) {
                #pragma omp atomic write
                oom = 1;
            }
            #pragma omp for schedule(static)
            for (int64_t bh = 0; bh < B * H; bh++) {
                if (!S) continue;
                int64_t b = bh / H, h = bh % H;
                m_forward(S, RP_F32P(out) + bh * Tq * D, lp + bh * Tq,
                          RP_F32P(hq.t) + b * hq.sb + h * hq.sh, hq.ld,
                          RP_F32P(hk.t) + b * hk.sb + h * hk.sh, hk.ld,
                          RP_F32P(hv.t) + b * hv.sb + h * hv.sh, hv.ld, kp ? kp + b * Tk : NULL,
                          causal, Tq, Tk, D, scale);
            }
            free(S);
        }
    }
    if (oom) { rp_seterr("attention: out of memory for scratch of %d x %d", Tq, Tk); goto fail; }
    const rp_tensor *ins[3] = {q, k, v};
    if (rp_needs_grad(3, ins)) {
        rp_tensor *in3[3] = {(rp_tensor *)q, (rp_tensor *)k, (rp_tensor *)v};
        rp_node *node = rp_node_attach(out, "attention", matt_backward, 3, in3);
        if (!node || rp_node_save(node, q) || rp_node_save(node, k) || rp_node_save(node, v) ||
            rp_node_save(node, lse) || (km && rp_node_save(node, km)))
            goto fail;
        node->iargs[0] = causal;
    }
    goto done;
fail:
    rp_tensor_release(out);
    out = NULL;
done:
    rp_tensor_release(lse);
    rp_tensor_release(km);
    rp_tensor_release(hq.t);
    rp_tensor_release(hk.t);
    rp_tensor_release(hv.t);
    return out;
}

rp_tensor *rp_attention_masked_ref(const rp_tensor *q, const rp_tensor *k, const rp_tensor *v,
                                   const rp_tensor *key_mask, bool causal)
{
    if (matt_check(q, k, v, key_mask, causal)) return NULL;
    const int64_t B = q->shape[0], H = q->shape[1], Tq = q->shape[2], Tk = k->shape[2],
                  D = q->shape[3];
    rp_tensor *out = rp_zeros(RP_F32, 4, q->shape);
    double *p = malloc(sizeof(double) * (size_t)(Tk ? Tk : 1));
    if (!out || !p) {
        free(p);
        rp_tensor_release(out);
        rp_seterr("attention: out of memory");
        return NULL;
    }
    const double scale = 1.0 / sqrt((double)D);
#define AT(x, b, h, t, d) \
    RP_F32P(x)[(b) * x->stride[0] + (h) * x->stride[1] + (t) * x->stride[2] + (d) * x->stride[3]]
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t i = 0; i < Tq; i++) {
                double mx = -INFINITY, s = 0;
                int64_t lim = causal ? i + Tk - Tq + 1 : Tk;
                for (int64_t j = 0; j < lim; j++) {
                    p[j] = -INFINITY;
                    if (key_mask && rp_get_flat(key_mask, b * Tk + j) == 0) continue;
                    double dot = 0;
                    for (int64_t d = 0; d < D; d++) dot += (double)AT(q, b, h, i, d) * AT(k, b, h, j, d);
                    p[j] = dot * scale;
                    mx = fmax(mx, p[j]);
                }
                if (mx == -INFINITY) continue;
                for (int64_t j = 0; j < lim; j++) { p[j] = exp(p[j] - mx); s += p[j]; }
                for (int64_t d = 0; d < D; d++) {
                    double o = 0;
                    for (int64_t j = 0; j < lim; j++) o += p[j] / s * AT(v, b, h, j, d);
                    AT(out, b, h, i, d) = (float)o;
                }
            }
#undef AT
    free(p);
    return out;
}
