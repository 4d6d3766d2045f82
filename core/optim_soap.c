/* optim_soap.c: SOAP (nikhilvyas/SOAP soap.py at commit f42d296c; optim.h
 * has the update rule) over the per-dimension statistics of optim_precond.c. */
#include "optim_precond.h"
#include "linalg.h"
#include "ops_nn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define F_(f) offsetof(rp_optim_config, f)
static const rp_optim_opt opts[] = {
    {"lr", RP_OPTV_NUM, F_(lr), 3e-3, 0, 0, INFINITY, RP_RANGE_FINITE, "a finite number >= 0"},
    {"betas", RP_OPTV_BETAS, F_(beta1), 0.95, 0.95, 0, 1, RP_RANGE_HI_OPEN, "in [0, 1)"},
    {"shampoo_beta", RP_OPTV_NUM, F_(shampoo_beta), -1, 0, -INFINITY, 1, RP_RANGE_HI_OPEN,
     "< 1 (negative: use betas[2])"},
    {"eps", RP_OPTV_NUM, F_(eps), 1e-8, 0, 0, INFINITY, RP_RANGE_FINITE, ">= 0"},
    {"weight_decay", RP_OPTV_NUM, F_(weight_decay), 0.01, 0, 0, INFINITY, RP_RANGE_FINITE, ">= 0"},
    {"precondition_frequency", RP_OPTV_INT, F_(precondition_frequency), 10, 0, 1, INFINITY, 0, ">= 1"},
    {"max_precond_dim", RP_OPTV_I64, F_(max_precond_dim), 10000, 0, 0, INFINITY, 0, ">= 0"},
    {"merge_dims", RP_OPTV_BOOL, F_(merge_dims), 0, 0, 0, 0, 0, NULL},
    {"precondition_1d", RP_OPTV_BOOL, F_(precondition_1d), 0, 0, 0, 0, 0, NULL},
    {"normalize_grads", RP_OPTV_BOOL, F_(normalize_grads), 0, 0, 0, 0, 0, NULL},
    {"correct_bias", RP_OPTV_BOOL, F_(correct_bias), 1, 0, 0, 0, 0, NULL},
    {"m_format", RP_OPTV_FMT, F_(m_format), RP_MOM_F32, 0, 0, 0, 0, NULL},
    {"v_format", RP_OPTV_FMT, F_(v_format), RP_MOM_F32, 0, 0, 0, 0, NULL},
    {NULL, 0, 0, 0, 0, 0, 0, 0, NULL},
};
#undef F_

static int init(rp_optim_state *st, const rp_optim_config *c, const rp_tensor *p) { return rp_pc_init(st, c, p, "Q"); }

/* Q_d = eigenvectors of GG_d + 1e-30 I, columns in descending eigenvalue
 * order (soap.py's get_orthogonal_matrix: eigh then flip). */
static int soap_init_q(rp_optim_state *st)
{
    for (int d = 0; d < st->ndim; d++) {
        if (!st->precond[d]) continue;
        int n = (int)st->shape[d];
        float *Q = RP_F32P(rp_pc_buf(st, "Q", d));
        float *w = malloc(sizeof(float) * (size_t)n), *V = malloc(sizeof(float) * (size_t)n * n);
        if (!w || !V) { free(w); free(V); return rp_seterr("soap: out of memory (eigh %d)", n); }
        memcpy(V, RP_F32P(rp_pc_buf(st, "GG", d)), sizeof(float) * (size_t)n * n);
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
        float *Q = RP_F32P(rp_pc_buf(st, "Q", d)), *P = RP_F32P(rp_pc_buf(st, "GG", d));
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
            mode3 g = rp_pc_mode_of(st, d);
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

static int step(rp_tensor *p, const rp_tensor *gt, rp_optim_state *st, const rp_optim_config *c)
{
    int64_t n = rp_numel(p);
    if (rp_pc_check_state(st, "soap", "Q", n)) return -1;
    const float *G = RP_F32P(gt);
    float *P = RP_F32P(p);
    float beta_s = (float)rp_pc_shampoo_beta(c);
    if (!st->started) { /* statistics only: no parameter update on the first step */
        rp_pc_update_gg(st, G, beta_s);
        if (soap_init_q(st)) return -1;
        st->started = 1;
        return 0;
    }
    moment m = {0}, v = {0};
    float *gp = malloc(sizeof(float) * (size_t)(n ? n : 1)), *tmp = malloc(sizeof(float) * (size_t)(n ? n : 1));
    int rc = (!gp || !tmp) ? rp_seterr("soap: out of memory") : 0;
    if (!rc) rc = rp_pc_moment_open(&m, st, "exp_avg", c->m_format, n);
    if (!rc) rc = rp_pc_moment_open(&v, st, "exp_avg_sq", c->v_format, n);
    if (rc) goto done;

    memcpy(gp, G, sizeof(float) * (size_t)n);
    rp_pc_project_all(gp, tmp, st, "Q", true, n);
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
    rp_pc_project_all(gp, tmp, st, "Q", false, n);
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
    bool refresh = st->step % c->precondition_frequency == 0 && rp_pc_any_precond(st);
    if (refresh) rp_pc_project_all(m.x, tmp, st, "Q", false, n);
    rp_pc_update_gg(st, G, beta_s);
    if (refresh) {
        rc = soap_refresh_q(st, v.x);
        rp_pc_project_all(m.x, tmp, st, "Q", true, n);
    }
done:
    {
        int r1 = rp_pc_moment_close(&m, n, rc == 0), r2 = rp_pc_moment_close(&v, n, rc == 0);
        if (!rc) rc = r1 ? r1 : r2;
    }
    free(gp);
    free(tmp);
    return rc;
}

const rp_optim_entry rp_optim_soap = {"soap", opts, NULL, init, step};
