/* optim_shampoo.c: Shampoo with AdamW grafting (optim.h has the update
 * rule; the kit's variant and DistributedShampoo's by options) over the
 * per-dimension statistics of optim_precond.c. */
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
    {"exponent", RP_OPTV_NUM, F_(exponent), -0.25, 0, -1, 0, RP_RANGE_HI_OPEN, "in [-1, 0)"},
    {"matrix_eps", RP_OPTV_NUM, F_(matrix_eps), 1e-6, 0, 0, INFINITY, RP_RANGE_FINITE, "a finite number >= 0"},
    {"matrix_eps_relative", RP_OPTV_BOOL, F_(matrix_eps_relative), 1, 0, 0, 0, 0, NULL},
    {"start_preconditioning_step", RP_OPTV_INT, F_(start_preconditioning_step), 1, 0, 1, INFINITY,
     RP_RANGE_OR_MINUS1, ">= 1 or -1 (= precondition_frequency)"},
    {"graft", RP_OPTV_BOOL, F_(graft), 1, 0, 0, 0, 0, NULL},
    {NULL, 0, 0, 0, 0, 0, 0, 0, NULL},
};
#undef F_

static int init(rp_optim_state *st, const rp_optim_config *c, const rp_tensor *p) { return rp_pc_init(st, c, p, "root"); }

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
    double bc = 1.0 - pow(rp_pc_shampoo_beta(c), (double)st->step);
    for (int d = 0; d < st->ndim; d++) {
        if (!st->precond[d]) continue;
        int n = (int)st->shape[d];
        float *R = RP_F32P(rp_pc_buf(st, "root", d)), *GG = RP_F32P(rp_pc_buf(st, "GG", d));
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

static int step(rp_tensor *p, const rp_tensor *gt, rp_optim_state *st, const rp_optim_config *c)
{
    int64_t n = rp_numel(p);
    if (rp_pc_check_state(st, "shampoo", "root", n)) return -1;
    const float *G = RP_F32P(gt);
    float *P = RP_F32P(p);
    moment m = {0}, v = {0};
    float *ua = malloc(sizeof(float) * (size_t)(n ? n : 1)), *us = malloc(sizeof(float) * (size_t)(n ? n : 1));
    float *tmp = malloc(sizeof(float) * (size_t)(n ? n : 1));
    int rc = (!ua || !us || !tmp) ? rp_seterr("shampoo: out of memory") : 0;
    if (!rc) rc = rp_pc_moment_open(&m, st, "exp_avg", c->m_format, n);
    if (!rc) rc = rp_pc_moment_open(&v, st, "exp_avg_sq", c->v_format, n);
    if (rc) goto done;
    st->step++;
    rp_pc_update_gg(st, G, (float)rp_pc_shampoo_beta(c));
    /* Roots at steps s, s+f, s+2f, ... (s = the start step). Before s the
     * update is the grafting method's alone (AdamW's direction), as
     * DistributedShampoo does before start_preconditioning_step; with s = f
     * its schedule (step % f == 0) is the same. */
    int64_t start = shampoo_start(c);
    bool pre = rp_pc_any_precond(st) && st->step >= start;
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
        rp_pc_project_all(us, tmp, st, "root", false, n);
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
        int r1 = rp_pc_moment_close(&m, n, rc == 0), r2 = rp_pc_moment_close(&v, n, rc == 0);
        if (!rc) rc = r1 ? r1 : r2;
    }
    free(ua); free(us); free(tmp);
    return rc;
}

const rp_optim_entry rp_optim_shampoo = {"shampoo", opts, NULL, init, step};
