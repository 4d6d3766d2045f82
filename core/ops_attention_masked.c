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
#include "attention_heads.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>


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

typedef struct {
    rp_att_head q, k, v, g;
    float *out, *lse, *dq, *dk, *dv;
    const uint8_t *km; /* (B, Tk) or NULL */
    bool causal;
    int Tq, Tk, D;
    float scale;
} matt_ctx;

static void matt_fwd_head(void *arg, float *S, int64_t b, int64_t h, int64_t bh)
{
    matt_ctx *c = arg;
    m_forward(S, c->out + bh * c->Tq * c->D, c->lse + bh * c->Tq, rp_att_head_at(&c->q, b, h),
              c->q.ld, rp_att_head_at(&c->k, b, h), c->k.ld, rp_att_head_at(&c->v, b, h), c->v.ld,
              c->km ? c->km + b * c->Tk : NULL, c->causal, c->Tq, c->Tk, c->D, c->scale);
}

static void matt_bwd_head(void *arg, float *P, int64_t b, int64_t h, int64_t bh)
{
    matt_ctx *c = arg;
    m_backward(P, P + (size_t)c->Tq * (size_t)c->Tk, c->dq + bh * c->Tq * c->D,
               c->dk + bh * c->Tk * c->D, c->dv + bh * c->Tk * c->D, c->lse + bh * c->Tq,
               rp_att_head_at(&c->q, b, h), c->q.ld, rp_att_head_at(&c->k, b, h), c->k.ld,
               rp_att_head_at(&c->v, b, h), c->v.ld, rp_att_head_at(&c->g, b, h), c->g.ld,
               c->km ? c->km + b * c->Tk : NULL, c->causal, c->Tq, c->Tk, c->D, c->scale);
}

static void matt_free(matt_ctx *c)
{
    rp_att_head_free(&c->q);
    rp_att_head_free(&c->k);
    rp_att_head_free(&c->v);
    rp_att_head_free(&c->g);
}

/* saved: q, k, v, lse (B, H, Tq), mask u8 (optional); iargs[0] = causal */
static int matt_backward(rp_node *n, const rp_tensor *g, rp_tensor *gin[RP_NODE_MAXIN])
{
    matt_ctx c = {0};
    c.lse = RP_F32P(n->saved[3]);
    c.km = n->nsaved > 4 ? RP_U8P(n->saved[4]) : NULL;
    c.causal = n->iargs[0] != 0;
    int rc = -1;
    if (rp_att_head_prep(&c.q, n->saved[0]) || rp_att_head_prep(&c.k, n->saved[1]) ||
        rp_att_head_prep(&c.v, n->saved[2]) || rp_att_head_prep(&c.g, g))
        goto done;
    const int64_t B = c.q.t->shape[0], H = c.q.t->shape[1];
    c.Tq = (int)c.q.t->shape[2];
    c.Tk = (int)c.k.t->shape[2];
    c.D = (int)c.q.t->shape[3];
    c.scale = (float)(1.0 / sqrt((double)c.D));
    gin[0] = rp_zeros(RP_F32, 4, c.q.t->shape);
    gin[1] = rp_zeros(RP_F32, 4, c.k.t->shape);
    gin[2] = rp_zeros(RP_F32, 4, c.k.t->shape);
    if (!gin[0] || !gin[1] || !gin[2]) goto done;
    if (c.Tq == 0 || c.Tk == 0) { rc = 0; goto done; }
    c.dq = RP_F32P(gin[0]);
    c.dk = RP_F32P(gin[1]);
    c.dv = RP_F32P(gin[2]);
    const size_t tt = (size_t)c.Tq * (size_t)c.Tk;
    if (rp_att_for_heads(B, H, 2 * tt, B * H > 1 && B * H * tt * c.D > RP_PAR_MIN,
                         matt_bwd_head, &c)) {
        rp_seterr("attention: out of memory for scratch of %d x %d", c.Tq, c.Tk);
        goto done;
    }
    rc = 0;
done:
    matt_free(&c);
    return rc;
}

rp_tensor *rp_attention_masked(const rp_tensor *q, const rp_tensor *k, const rp_tensor *v,
                               const rp_tensor *key_mask, bool causal)
{
    if (matt_check(q, k, v, key_mask, causal)) return NULL;
    if (!key_mask && causal && q->shape[2] == k->shape[2]) return rp_attention(q, k, v);
    matt_ctx c = {0};
    rp_tensor *out = NULL, *lse = NULL, *km = NULL;
    if (rp_att_head_prep(&c.q, q) || rp_att_head_prep(&c.k, k) || rp_att_head_prep(&c.v, v))
        goto done;
    if (key_mask && !(km = mask_u8(key_mask))) goto done;
    const int64_t B = q->shape[0], H = q->shape[1];
    c.Tq = (int)q->shape[2];
    c.Tk = (int)k->shape[2];
    c.D = (int)q->shape[3];
    c.scale = (float)(1.0 / sqrt((double)c.D));
    c.causal = causal;
    out = rp_zeros(RP_F32, 4, q->shape);
    lse = rp_empty_uninit(RP_F32, 3, q->shape);
    if (!out || !lse) goto fail;
    c.km = km ? RP_U8P(km) : NULL;
    c.out = RP_F32P(out);
    c.lse = RP_F32P(lse);
    if (c.Tk == 0)
        for (int64_t i = 0; i < B * H * c.Tq; i++) c.lse[i] = -INFINITY;
    const size_t tt = (size_t)c.Tq * (size_t)c.Tk;
    if (c.Tq > 0 && c.Tk > 0 &&
        rp_att_for_heads(B, H, tt, B * H > 1 && B * H * tt * c.D > RP_PAR_MIN, matt_fwd_head,
                         &c)) {
        rp_seterr("attention: out of memory for scratch of %d x %d", c.Tq, c.Tk);
        goto fail;
    }
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
    matt_free(&c);
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
