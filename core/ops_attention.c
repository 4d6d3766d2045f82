/* ops_attention.c: causal scaled-dot-product attention (fused forward that
 * keeps one logsumexp per query row, fused backward that recomputes the
 * probabilities from it) and rotary position embeddings. */
#include "ops.h"
#include "ops_nn.h"
#include "autograd.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* q/k/v as sgemm operands: (B, H, T, D) with unit stride in D and row stride
 * ld in T; anything else is copied to contiguous first. */
typedef struct {
    rp_tensor *t; /* owned */
    int64_t sb, sh;
    int ld;
} head_view;

static int head_prep(head_view *hv, const rp_tensor *x)
{
    int64_t T = x->shape[2], D = x->shape[3];
    bool ok = (D <= 1 || x->stride[3] == 1) && (T <= 1 || x->stride[2] >= D) &&
              x->stride[2] <= INT_MAX;
    hv->t = ok ? rp_detach(x) : rp_copy_contiguous(x);
    if (!hv->t) return -1;
    hv->sb = hv->t->stride[0];
    hv->sh = hv->t->stride[1];
    int64_t ld = T <= 1 ? D : hv->t->stride[2];
    hv->ld = (int)(ld > 0 ? ld : 1);
    if (hv->ld < D) hv->ld = (int)D;
    return 0;
}

static int att_check(const rp_tensor *q, const rp_tensor *k, const rp_tensor *v)
{
    char a[RP_SHAPE_STRLEN], b[RP_SHAPE_STRLEN], c[RP_SHAPE_STRLEN];
    if (q->dtype != RP_F32 || k->dtype != RP_F32 || v->dtype != RP_F32)
        return rp_seterr("attention: q, k, v must be f32, got %s, %s, %s",
                         rp_dtype_info[q->dtype].name, rp_dtype_info[k->dtype].name,
                         rp_dtype_info[v->dtype].name);
    if (q->ndim != 4 || !rp_same_shape(q, k) || !rp_same_shape(q, v))
        return rp_seterr("attention: q %s, k %s, v %s must share one (B, H, T, D) shape",
                         rp_shape_str(q, a, sizeof a), rp_shape_str(k, b, sizeof b),
                         rp_shape_str(v, c, sizeof c));
    if (q->shape[3] == 0 || q->shape[2] > INT_MAX || q->shape[3] > INT_MAX)
        return rp_seterr("attention: unsupported head size in %s", rp_shape_str(q, a, sizeof a));
    return 0;
}

/* Per-thread scratch of two (T, T) matrices around a parallel loop over
 * (B, H). BLAS runs single-threaded inside, so each block's arithmetic is the
 * same whatever the number of OpenMP threads. */
#define ATT_PAR_MIN (1 << 16)

/* P (T, T) = causal softmax(scale q kᵀ) given row logsumexp in lse (T); when
 * lse_out, compute lse too. Entries above the diagonal are 0. */
static void att_probs(float *P, float *lse, bool lse_out, const float *q, int ldq,
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

static int att_backward(rp_node *n, const rp_tensor *g, rp_tensor *gin[RP_NODE_MAXIN])
{
    const rp_tensor *lse = n->saved[3];
    head_view hq = {0}, hk = {0}, hv = {0}, hg = {0};
    int rc = -1;
    if (head_prep(&hq, n->saved[0]) || head_prep(&hk, n->saved[1]) ||
        head_prep(&hv, n->saved[2]) || head_prep(&hg, g))
        goto done;
    const int64_t B = hq.t->shape[0], H = hq.t->shape[1];
    const int T = (int)hq.t->shape[2], D = (int)hq.t->shape[3];
    const float scale = (float)(1.0 / sqrt((double)D));
    for (int i = 0; i < 3; i++) {
        gin[i] = rp_empty(RP_F32, 4, hq.t->shape);
        if (!gin[i]) goto done;
    }
    if (T == 0) { rc = 0; goto done; }
    int blas_threads = openblas_get_num_threads();
    openblas_set_num_threads(1);
    int oom = 0;
    #pragma omp parallel if (B * H > 1 && B * H * T * T * D > ATT_PAR_MIN)
    {
        float *P = malloc(sizeof(float) * (size_t)T * (size_t)T);
        float *dP = malloc(sizeof(float) * (size_t)T * (size_t)T);
        if (!P || !dP) {
            #pragma omp atomic write
            oom = 1;
        }
        #pragma omp for schedule(static)
        for (int64_t bh = 0; bh < B * H; bh++) {
            if (!P || !dP) continue;
            int64_t b = bh / H, h = bh % H;
            const float *q = RP_F32P(hq.t) + b * hq.sb + h * hq.sh;
            const float *k = RP_F32P(hk.t) + b * hk.sb + h * hk.sh;
            const float *v = RP_F32P(hv.t) + b * hv.sb + h * hv.sh;
            const float *dO = RP_F32P(hg.t) + b * hg.sb + h * hg.sh;
            float *lp = RP_F32P(lse) + bh * T;
            float *dq = RP_F32P(gin[0]) + bh * T * D, *dk = RP_F32P(gin[1]) + bh * T * D;
            float *dv = RP_F32P(gin[2]) + bh * T * D;
            att_probs(P, lp, false, q, hq.ld, k, hk.ld, T, D, scale);
            /* dV = Pᵀ dO;  dP = dO Vᵀ */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, D, T, 1.0f, P, T, dO,
                        hg.ld, 0.0f, dv, D);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, D, 1.0f, dO, hg.ld, v,
                        hv.ld, 0.0f, dP, T);
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
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, D, T, scale, dP, T, k,
                        hk.ld, 0.0f, dq, D);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, D, T, scale, dP, T, q,
                        hq.ld, 0.0f, dk, D);
        }
        free(P);
        free(dP);
    }
    openblas_set_num_threads(blas_threads);
    if (oom) { rp_seterr("attention: out of memory for scratch of T = %d", T); goto done; }
    rc = 0;
done:
    rp_tensor_release(hq.t);
    rp_tensor_release(hk.t);
    rp_tensor_release(hv.t);
    rp_tensor_release(hg.t);
    return rc;
}

rp_tensor *rp_attention(const rp_tensor *q, const rp_tensor *k, const rp_tensor *v)
{
    if (att_check(q, k, v)) return NULL;
    head_view hq = {0}, hk = {0}, hv = {0};
    rp_tensor *out = NULL, *lse = NULL;
    if (head_prep(&hq, q) || head_prep(&hk, k) || head_prep(&hv, v)) goto done;
    const int64_t B = q->shape[0], H = q->shape[1];
    const int T = (int)q->shape[2], D = (int)q->shape[3];
    const float scale = (float)(1.0 / sqrt((double)D));
    out = rp_empty_uninit(RP_F32, 4, q->shape);
    lse = rp_empty_uninit(RP_F32, 3, q->shape);
    if (!out || !lse) goto fail;
    int oom = 0;
    if (T > 0) {
        int blas_threads = openblas_get_num_threads();
        openblas_set_num_threads(1);
        #pragma omp parallel if (B * H > 1 && B * H * T * T * D > ATT_PAR_MIN)
        {
            float *P = malloc(sizeof(float) * (size_t)T * (size_t)T);
            if (!P) {
                #pragma omp atomic write
                oom = 1;
            }
            #pragma omp for schedule(static)
            for (int64_t bh = 0; bh < B * H; bh++) {
                if (!P) continue;
                int64_t b = bh / H, h = bh % H;
                att_probs(P, RP_F32P(lse) + bh * T, true,
                          RP_F32P(hq.t) + b * hq.sb + h * hq.sh, hq.ld,
                          RP_F32P(hk.t) + b * hk.sb + h * hk.sh, hk.ld, T, D, scale);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, D, T, 1.0f, P, T,
                            RP_F32P(hv.t) + b * hv.sb + h * hv.sh, hv.ld, 0.0f,
                            RP_F32P(out) + bh * T * D, D);
            }
            free(P);
        }
        openblas_set_num_threads(blas_threads);
    }
    if (oom) { rp_seterr("attention: out of memory for scratch of T = %d", T); goto fail; }
    const rp_tensor *ins[3] = {q, k, v};
    if (rp_needs_grad(3, ins)) {
        rp_tensor *in3[3] = {(rp_tensor *)q, (rp_tensor *)k, (rp_tensor *)v};
        rp_node *node = rp_node_attach(out, "attention", att_backward, 3, in3);
        if (!node || rp_node_save(node, q) || rp_node_save(node, k) || rp_node_save(node, v) ||
            rp_node_save(node, lse))
            goto fail;
    }
    goto done;
fail:
    rp_tensor_release(out);
    out = NULL;
done:
    rp_tensor_release(lse);
    rp_tensor_release(hq.t);
    rp_tensor_release(hk.t);
    rp_tensor_release(hv.t);
    return out;
}

rp_tensor *rp_attention_ref(const rp_tensor *q, const rp_tensor *k, const rp_tensor *v)
{
    if (att_check(q, k, v)) return NULL;
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

/* ---- rotary embeddings ---- */

/* cos/sin table (T, D/2): angle (offset + t) * base^(-2i/D), in double. */
static float *rope_table(int64_t T, int64_t D, int64_t offset, double base)
{
    int64_t half = D / 2;
    float *tab = malloc(sizeof(float) * (size_t)(2 * T * half + 1));
    if (!tab) { rp_seterr("rope: out of memory"); return NULL; }
    for (int64_t t = 0; t < T; t++)
        for (int64_t i = 0; i < half; i++) {
            double ang = (double)(offset + t) * pow(base, -2.0 * (double)i / (double)D);
            tab[2 * (t * half + i)] = (float)cos(ang);
            tab[2 * (t * half + i) + 1] = (float)sin(ang);
        }
    return tab;
}

/* y (R, T, D) = rotate x by sign * angle; sign -1 is the inverse (backward). */
static void rope_apply(float *y, const float *x, const float *tab, int64_t R, int64_t T,
                       int64_t D, float sign)
{
    int64_t half = D / 2;
    #pragma omp parallel for schedule(static) if (R * T * D > 32768)
    for (int64_t rt = 0; rt < R * T; rt++) {
        const float *cs = tab + 2 * (rt % T) * half;
        const float *xr = x + rt * D;
        float *yr = y + rt * D;
        for (int64_t i = 0; i < half; i++) {
            float c = cs[2 * i], s = sign * cs[2 * i + 1];
            float a = xr[i], b = xr[i + half];
            yr[i] = a * c - b * s;
            yr[i + half] = b * c + a * s;
        }
    }
}

static int rope_backward(rp_node *n, const rp_tensor *g, rp_tensor *gin[RP_NODE_MAXIN])
{
    int64_t T = g->shape[g->ndim - 2], D = g->shape[g->ndim - 1];
    int64_t R = T * D != 0 ? rp_numel(g) / (T * D) : 0;
    rp_tensor *gc = rp_is_contiguous(g) ? rp_detach(g) : rp_copy_contiguous(g);
    float *tab = rope_table(T, D, n->iargs[0], n->dargs[0]);
    gin[0] = rp_empty(RP_F32, g->ndim, g->shape);
    int rc = -1;
    if (gc && tab && gin[0]) {
        rope_apply(RP_F32P(gin[0]), RP_F32P(gc), tab, R, T, D, -1.0f);
        rc = 0;
    }
    free(tab);
    rp_tensor_release(gc);
    return rc;
}

rp_tensor *rp_rope(const rp_tensor *x, int64_t offset, double base)
{
    char a[RP_SHAPE_STRLEN];
    if (x->dtype != RP_F32) {
        rp_seterr("rope: input must be f32, got %s", rp_dtype_info[x->dtype].name);
        return NULL;
    }
    if (x->ndim < 2 || x->shape[x->ndim - 1] % 2 != 0) {
        rp_seterr("rope: input %s must be (..., T, D) with D even", rp_shape_str(x, a, sizeof a));
        return NULL;
    }
    if (!(base > 0) || offset < 0) {
        rp_seterr("rope: base %g must be positive and offset %lld non-negative", base,
                  (long long)offset);
        return NULL;
    }
    int64_t T = x->shape[x->ndim - 2], D = x->shape[x->ndim - 1];
    int64_t R = T * D != 0 ? rp_numel(x) / (T * D) : 0;
    rp_tensor *xc = rp_is_contiguous(x) ? rp_detach(x) : rp_copy_contiguous(x);
    float *tab = rope_table(T, D, offset, base);
    rp_tensor *y = rp_empty_uninit(RP_F32, x->ndim, x->shape);
    if (!xc || !tab || !y) {
        rp_tensor_release(y);
        y = NULL;
        goto done;
    }
    rope_apply(RP_F32P(y), RP_F32P(xc), tab, R, T, D, 1.0f);
    const rp_tensor *ins[1] = {x};
    if (rp_needs_grad(1, ins)) {
        rp_tensor *in1[1] = {(rp_tensor *)x};
        rp_node *node = rp_node_attach(y, "rope", rope_backward, 1, in1);
        if (!node) { rp_tensor_release(y); y = NULL; goto done; }
        node->iargs[0] = offset;
        node->dargs[0] = base;
    }
done:
    free(tab);
    rp_tensor_release(xc);
    return y;
}
