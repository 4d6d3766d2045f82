/* optim_soap.c: the preconditioned optimizers, SOAP and Shampoo, over
 * per-dimension statistics GG_d (Kronecker factors). A parameter of shape
 * (d_0, ..., d_{k-1}) is rotated along dimension d by viewing it as
 * (A, n, B) with A = prod(d_<d), n = d_d, B = prod(d_>d). */
#include "optim.h"
#include "linalg.h"
#include "ops_nn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct { int64_t A, n, B; } mode3;

static mode3 mode_of(const rp_optim_state *st, int d)
{
    mode3 m = {1, st->shape[d], 1};
    for (int i = 0; i < d; i++) m.A *= st->shape[i];
    for (int i = d + 1; i < st->ndim; i++) m.B *= st->shape[i];
    return m;
}

/* Y (A,n,B) = X ×_d op(M): Y[a] = Mᵀ X[a] if trans (projection into the
 * eigenbasis), M X[a] otherwise (projection back). M is (n,n). Y != X. */
static void mode_mul(float *Y, const float *X, const float *M, mode3 g, bool trans)
{
    int64_t n = g.n;
    if (g.B == 1) { /* rows of X are the vectors: Y = X op(M)ᵀ */
        rp_gemm(false, !trans, g.A, n, n, 1.0f, X, n, M, n, 0.0f, Y, n);
        return;
    }
    for (int64_t a = 0; a < g.A; a++)
        rp_gemm(trans, false, n, g.B, n, 1.0f, M, n, X + a * g.n * g.B, g.B, 0.0f,
                Y + a * g.n * g.B, g.B);
}

/* GG (n,n) = beta*GG + (1-beta) * sum_a X[a] X[a]ᵀ: the moving average of the
 * contraction of G with itself over every dimension but d. */
static void gg_update(float *GG, const float *X, mode3 g, float beta)
{
    int64_t n = g.n;
    if (g.B == 1) {
        rp_gemm(true, false, n, n, g.A, 1.0f - beta, X, n, X, n, beta, GG, n);
        return;
    }
    for (int64_t a = 0; a < g.A; a++) {
        const float *Xa = X + a * g.n * g.B;
        rp_gemm(false, true, n, n, g.B, 1.0f - beta, Xa, g.B, Xa, g.B, a == 0 ? beta : 1.0f, GG, n);
    }
}

/* Apply every dimension's matrix (named prefix%d) to x in place (tmp: scratch). */
static void project_all(float *x, float *tmp, const rp_optim_state *st, const char *prefix, bool trans, int64_t n)
{
    for (int d = 0; d < st->ndim; d++) {
        if (!st->precond[d]) continue;
        char name[RP_OPTIM_NAMELEN];
        snprintf(name, sizeof name, "%s%d", prefix, d);
        mode_mul(tmp, x, RP_F32P(rp_optim_state_get(st, name)), mode_of(st, d), trans);
        memcpy(x, tmp, sizeof(float) * (size_t)n);
    }
}

static bool any_precond(const rp_optim_state *st)
{
    for (int d = 0; d < st->ndim; d++)
        if (st->precond[d]) return true;
    return false;
}

static rp_tensor *bufd(const rp_optim_state *st, const char *prefix, int d)
{
    char name[RP_OPTIM_NAMELEN];
    snprintf(name, sizeof name, "%s%d", prefix, d);
    return rp_optim_state_get(st, name);
}

static int check_state(const rp_optim_state *st, const char *k, const char *qname, int64_t n)
{
    for (int d = 0; d < st->ndim; d++) {
        if (!st->precond[d]) continue;
        rp_tensor *gg = bufd(st, "GG", d), *q = bufd(st, qname, d);
        if (!gg || !q || rp_numel(gg) != st->shape[d] * st->shape[d] || rp_numel(q) != rp_numel(gg))
            return rp_seterr("%s: state for dimension %d is missing or has the wrong size", k, d + 1);
    }
    int64_t prod = 1;
    for (int d = 0; d < st->ndim; d++) prod *= st->shape[d];
    if (prod != n) return rp_seterr("%s: state geometry does not match the parameter", k);
    return 0;
}

/* Q_d = eigenvectors of GG_d + 1e-30 I, columns in descending eigenvalue
 * order (soap.py's get_orthogonal_matrix: eigh then flip). */
static int soap_init_q(rp_optim_state *st)
{
    for (int d = 0; d < st->ndim; d++) {
        if (!st->precond[d]) continue;
        int n = (int)st->shape[d];
        float *Q = RP_F32P(bufd(st, "Q", d));
        float *w = malloc(sizeof(float) * (size_t)n), *V = malloc(sizeof(float) * (size_t)n * n);
        if (!w || !V) { free(w); free(V); return rp_seterr("soap: out of memory (eigh %d)", n); }
        memcpy(V, RP_F32P(bufd(st, "GG", d)), sizeof(float) * (size_t)n * n);
        for (int i = 0; i < n; i++) V[(size_t)i * n + i] += 1e-30f;
        int rc = rp_eigh_f32(w, V, V, n);
        if (rc == 0)
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++) Q[(size_t)i * n + j] = V[(size_t)i * n + (n - 1 - j)];
        free(w);
        free(V);
        if (rc) return rc;
    }
    return 0;
}

/* soap.py's get_orthogonal_matrix_QR: one power iteration + QR per factor,
 * with the eigenvalue estimates diag(QᵀPQ) sorted descending and exp_avg_sq
 * permuted to follow its columns. */
static int soap_refresh_q(rp_optim_state *st, float *v)
{
    int64_t total = 1;
    for (int d = 0; d < st->ndim; d++) total *= st->shape[d];
    for (int d = 0; d < st->ndim; d++) {
        if (!st->precond[d]) continue;
        int n = (int)st->shape[d];
        float *Q = RP_F32P(bufd(st, "Q", d)), *P = RP_F32P(bufd(st, "GG", d));
        float *PQ = malloc(sizeof(float) * (size_t)n * n), *PQs = malloc(sizeof(float) * (size_t)n * n);
        float *est = malloc(sizeof(float) * (size_t)n);
        int *perm = malloc(sizeof(int) * (size_t)n);
        float *vt = malloc(sizeof(float) * (size_t)total);
        int rc = 0;
        if (!PQ || !PQs || !est || !perm || !vt) rc = rp_seterr("soap: out of memory (QR %d)", n);
        if (!rc) {
            rp_gemm(false, false, n, n, n, 1.0f, P, n, Q, n, 0.0f, PQ, n);
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int i = 0; i < n; i++) s += (double)Q[(size_t)i * n + j] * PQ[(size_t)i * n + j];
                est[j] = (float)s;
            }
            rp_argsort_desc_f32(perm, est, n);
            mode3 g = mode_of(st, d);
            for (int64_t a = 0; a < g.A; a++)
                for (int64_t j = 0; j < g.n; j++)
                    memcpy(vt + (a * g.n + j) * g.B, v + (a * g.n + perm[j]) * g.B, sizeof(float) * (size_t)g.B);
            memcpy(v, vt, sizeof(float) * (size_t)total);
            rp_permute_columns_f32(PQs, PQ, n, n, perm);
            rc = rp_qr_f32(Q, NULL, PQs, n, n);
        }
        free(PQ); free(PQs); free(est); free(perm); free(vt);
        if (rc) return rc;
    }
    return 0;
}

static double shampoo_beta(const rp_optim_config *c) { return c->shampoo_beta >= 0 ? c->shampoo_beta : c->beta2; }

static void update_gg(rp_optim_state *st, const float *g, float beta)
{
    for (int d = 0; d < st->ndim; d++)
        if (st->precond[d]) gg_update(RP_F32P(bufd(st, "GG", d)), g, mode_of(st, d), beta);
}

/* Moments of soap/shampoo: decode into f32 scratch unless stored as fp32. */
typedef struct { rp_tensor *buf, *scale; rp_moment_format fmt; float *x; bool owned; } moment;

static int moment_open(moment *m, rp_optim_state *st, const char *name, rp_moment_format fmt, int64_t n)
{
    char sname[RP_OPTIM_NAMELEN];
    snprintf(sname, sizeof sname, "%s_scale", name);
    m->buf = rp_optim_state_get(st, name);
    m->scale = rp_optim_state_get(st, sname);
    m->fmt = fmt;
    m->owned = fmt != RP_MOM_F32;
    m->x = NULL;
    if (!m->buf) return rp_seterr("optim: state has no %s", name);
    if (!m->owned) {
        if (m->buf->dtype != RP_F32 || rp_numel(m->buf) != n) return rp_seterr("optim: %s has the wrong size", name);
        m->x = RP_F32P(m->buf);
        return 0;
    }
    m->x = malloc(sizeof(float) * (size_t)(n ? n : 1));
    if (!m->x) return rp_seterr("optim: out of memory");
    return rp_moment_load(m->x, m->buf, m->scale, fmt, n);
}

static int moment_close(moment *m, int64_t n, bool store)
{
    int rc = 0;
    if (m->owned && m->x && store) rc = rp_moment_store(m->buf, m->scale, m->x, m->fmt, n);
    if (m->owned) free(m->x);
    m->x = NULL;
    return rc;
}

int rp_optim_soap_step(rp_tensor *p, const rp_tensor *gt, rp_optim_state *st, const rp_optim_config *c)
{
    int64_t n = rp_numel(p);
    if (check_state(st, "soap", "Q", n)) return -1;
    const float *G = RP_F32P(gt);
    float *P = RP_F32P(p);
    float beta_s = (float)shampoo_beta(c);
    if (!st->started) { /* statistics only: no parameter update on the first step */
        update_gg(st, G, beta_s);
        if (soap_init_q(st)) return -1;
        st->started = 1;
        return 0;
    }
    moment m = {0}, v = {0};
    float *gp = malloc(sizeof(float) * (size_t)(n ? n : 1)), *tmp = malloc(sizeof(float) * (size_t)(n ? n : 1));
    int rc = (!gp || !tmp) ? rp_seterr("soap: out of memory") : 0;
    if (!rc) rc = moment_open(&m, st, "exp_avg", c->m_format, n);
    if (!rc) rc = moment_open(&v, st, "exp_avg_sq", c->v_format, n);
    if (rc) goto done;

    memcpy(gp, G, sizeof(float) * (size_t)n);
    project_all(gp, tmp, st, "Q", true, n);
    st->step++;
    float b1 = (float)c->beta1, b2 = (float)c->beta2, eps = (float)c->eps;
    for (int64_t i = 0; i < n; i++) {
        m.x[i] = m.x[i] * b1 + gp[i] * (1.0f - b1);
        v.x[i] = v.x[i] * b2 + gp[i] * gp[i] * (1.0f - b2);
        gp[i] = m.x[i] / (sqrtf(v.x[i]) + eps);
    }
    double step_size = c->lr;
    if (c->correct_bias)
        step_size *= sqrt(1.0 - pow(c->beta2, (double)st->step)) / (1.0 - pow(c->beta1, (double)st->step));
    project_all(gp, tmp, st, "Q", false, n);
    if (c->normalize_grads) {
        double ss = 0;
        for (int64_t i = 0; i < n; i++) ss += (double)gp[i] * gp[i];
        float scale = (float)(1.0 / (1e-30 + sqrt(ss / (double)(n ? n : 1))));
        for (int64_t i = 0; i < n; i++) gp[i] *= scale;
    }
    float a = (float)-step_size, wd = (float)(-c->lr * c->weight_decay);
    for (int64_t i = 0; i < n; i++) P[i] += a * gp[i];
    if (c->weight_decay > 0)
        for (int64_t i = 0; i < n; i++) P[i] += wd * P[i];

    /* update_preconditioner: exp_avg leaves the basis, GG takes the current
     * gradient, Q is refreshed, exp_avg enters the new basis. */
    bool refresh = st->step % c->precondition_frequency == 0 && any_precond(st);
    if (refresh) project_all(m.x, tmp, st, "Q", false, n);
    update_gg(st, G, beta_s);
    if (refresh) {
        rc = soap_refresh_q(st, v.x);
        project_all(m.x, tmp, st, "Q", true, n);
    }
done:
    {
        int r1 = moment_close(&m, n, rc == 0), r2 = moment_close(&v, n, rc == 0);
        if (!rc) rc = r1 ? r1 : r2;
    }
    free(gp);
    free(tmp);
    return rc;
}

/* root_d = (GG_d + e I)^exponent by eigh. Two rules for e:
 *  - relative (matrix_eps_relative, the kit's variant): e = matrix_eps *
 *    max(λmax, 0), a floor relative to the factor's scale so f32 noise in tiny
 *    eigenvalues is not amplified; a zero factor gets the identity.
 *  - absolute (DistributedShampoo, facebookresearch/optimizers
 *    matrix_functions._matrix_root_eigen with use_bias_correction): the factor
 *    is divided by 1 - β^t (t: factor updates so far), its eigenvalues are
 *    shifted up by -min(λmin, 0) so they are >= 0, then e = matrix_eps. */
static int shampoo_roots(rp_optim_state *st, const rp_optim_config *c)
{
    double bc = 1.0 - pow(shampoo_beta(c), (double)st->step);
    for (int d = 0; d < st->ndim; d++) {
        if (!st->precond[d]) continue;
        int n = (int)st->shape[d];
        float *R = RP_F32P(bufd(st, "root", d)), *GG = RP_F32P(bufd(st, "GG", d));
        float *w = malloc(sizeof(float) * (size_t)n), *V = malloc(sizeof(float) * (size_t)n * n);
        float *VS = malloc(sizeof(float) * (size_t)n * n);
        int rc = (!w || !V || !VS) ? rp_seterr("shampoo: out of memory (root %d)", n) : 0;
        if (!rc) rc = rp_eigh_f32(w, V, GG, n);
        if (!rc) {
            double lmax = fmax((double)w[n - 1], 0.0), e = c->matrix_eps * lmax, shift = 0, scale = 1;
            if (!c->matrix_eps_relative) {
                scale = bc > 0 ? 1.0 / bc : 1.0;
                shift = -fmin((double)w[0] * scale, 0.0);
                e = c->matrix_eps;
            }
            if (c->matrix_eps_relative && lmax == 0) {
                memset(R, 0, sizeof(float) * (size_t)n * n);
                for (int i = 0; i < n; i++) R[(size_t)i * n + i] = 1.0f;
            } else {
                if (e == 0) e = 1e-30;
                for (int j = 0; j < n; j++) {
                    double lj = c->matrix_eps_relative ? fmax((double)w[j], 0.0) : (double)w[j] * scale + shift;
                    float f = (float)pow(lj + e, c->exponent);
                    for (int i = 0; i < n; i++) VS[(size_t)i * n + j] = V[(size_t)i * n + j] * f;
                }
                rp_gemm(false, true, n, n, n, 1.0f, VS, n, V, n, 0.0f, R, n);
            }
        }
        free(w); free(V); free(VS);
        if (rc) return rc;
    }
    return 0;
}

/* First step whose update is preconditioned: start_preconditioning_step, or
 * precondition_frequency when it is -1 (DistributedShampoo's default). */
static int64_t shampoo_start(const rp_optim_config *c)
{
    return c->start_preconditioning_step < 0 ? c->precondition_frequency : c->start_preconditioning_step;
}

int rp_optim_shampoo_step(rp_tensor *p, const rp_tensor *gt, rp_optim_state *st, const rp_optim_config *c)
{
    int64_t n = rp_numel(p);
    if (check_state(st, "shampoo", "root", n)) return -1;
    const float *G = RP_F32P(gt);
    float *P = RP_F32P(p);
    moment m = {0}, v = {0};
    float *ua = malloc(sizeof(float) * (size_t)(n ? n : 1)), *us = malloc(sizeof(float) * (size_t)(n ? n : 1));
    float *tmp = malloc(sizeof(float) * (size_t)(n ? n : 1));
    int rc = (!ua || !us || !tmp) ? rp_seterr("shampoo: out of memory") : 0;
    if (!rc) rc = moment_open(&m, st, "exp_avg", c->m_format, n);
    if (!rc) rc = moment_open(&v, st, "exp_avg_sq", c->v_format, n);
    if (rc) goto done;
    st->step++;
    update_gg(st, G, (float)shampoo_beta(c));
    /* Roots at steps s, s+f, s+2f, ... (s = the start step). Before s the
     * update is the grafting method's alone (AdamW's direction), as
     * DistributedShampoo does before start_preconditioning_step; with s = f
     * its schedule (step % f == 0) is the same. */
    int64_t start = shampoo_start(c);
    bool pre = any_precond(st) && st->step >= start;
    if (pre && (st->step - start) % c->precondition_frequency == 0) {
        rc = shampoo_roots(st, c);
        if (rc) goto done;
        st->started = 1;
    }
    double bc1 = 1.0 - pow(c->beta1, (double)st->step), bc2 = 1.0 - pow(c->beta2, (double)st->step);
    float b1 = (float)c->beta1, b2 = (float)c->beta2, eps = (float)c->eps;
    float ibc1 = (float)(1.0 / bc1), sbc2 = (float)sqrt(bc2);
    double na = 0;
    for (int64_t i = 0; i < n; i++) {
        m.x[i] = m.x[i] * b1 + G[i] * (1.0f - b1);
        v.x[i] = v.x[i] * b2 + G[i] * G[i] * (1.0f - b2);
        float mh = m.x[i] * ibc1;
        us[i] = mh;
        ua[i] = mh / (sqrtf(v.x[i]) / sbc2 + eps);
        na += (double)ua[i] * ua[i];
    }
    float *u = ua; /* no preconditioned dimension: plain AdamW */
    if (pre) {
        project_all(us, tmp, st, "root", false, n);
        if (c->graft) {
            double ns = 0;
            for (int64_t i = 0; i < n; i++) ns += (double)us[i] * us[i];
            float s = ns > 0 ? (float)(sqrt(na) / sqrt(ns)) : 0.0f;
            for (int64_t i = 0; i < n; i++) us[i] *= s;
        }
        u = us;
    }
    float decay = (float)(1.0 - c->lr * c->weight_decay), lr = (float)c->lr;
    for (int64_t i = 0; i < n; i++) {
        if (c->weight_decay != 0) P[i] *= decay;
        P[i] -= lr * u[i];
    }
done:
    {
        int r1 = moment_close(&m, n, rc == 0), r2 = moment_close(&v, n, rc == 0);
        if (!rc) rc = r1 ? r1 : r2;
    }
    free(ua); free(us); free(tmp);
    return rc;
}
