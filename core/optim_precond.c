/* optim_precond.c: what the preconditioned optimizers (optim_soap.c,
 * optim_shampoo.c) share: per-dimension statistics GG_d (Kronecker factors)
 * and the products with per-dimension matrices. A parameter of shape
 * (d_0, ..., d_{k-1}) is rotated along dimension d by viewing it as
 * (A, n, B) with A = prod(d_<d), n = d_d, B = prod(d_>d). */
#include "optim_precond.h"
#include "ops_nn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

mode3 rp_pc_mode_of(const rp_optim_state *st, int d)
{
    mode3 m = {1, st->shape[d], 1};
    for (int i = 0; i < d; i++) m.A *= st->shape[i];
    for (int i = d + 1; i < st->ndim; i++) m.B *= st->shape[i];
    return m;
}

/* Y (A,n,B) = X ×_d op(M): Y[a] = Mᵀ X[a] if trans (projection into the
 * eigenbasis), M X[a] otherwise (projection back). M is (n,n). Y != X. */
void rp_pc_mode_mul(float *Y, const float *X, const float *M, mode3 g, bool trans)
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
void rp_pc_gg_update(float *GG, const float *X, mode3 g, float beta)
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
void rp_pc_project_all(float *x, float *tmp, const rp_optim_state *st, const char *prefix, bool trans, int64_t n)
{
    for (int d = 0; d < st->ndim; d++) {
        if (!st->precond[d]) continue;
        char name[RP_OPTIM_NAMELEN];
        snprintf(name, sizeof name, "%s%d", prefix, d);
        rp_pc_mode_mul(tmp, x, RP_F32P(rp_optim_state_get(st, name)), rp_pc_mode_of(st, d), trans);
        memcpy(x, tmp, sizeof(float) * (size_t)n);
    }
}

bool rp_pc_any_precond(const rp_optim_state *st)
{
    for (int d = 0; d < st->ndim; d++)
        if (st->precond[d]) return true;
    return false;
}

rp_tensor *rp_pc_buf(const rp_optim_state *st, const char *prefix, int d)
{
    char name[RP_OPTIM_NAMELEN];
    snprintf(name, sizeof name, "%s%d", prefix, d);
    return rp_optim_state_get(st, name);
}

int rp_pc_check_state(const rp_optim_state *st, const char *k, const char *qname, int64_t n)
{
    for (int d = 0; d < st->ndim; d++) {
        if (!st->precond[d]) continue;
        rp_tensor *gg = rp_pc_buf(st, "GG", d), *q = rp_pc_buf(st, qname, d);
        if (!gg || !q || rp_numel(gg) != st->shape[d] * st->shape[d] || rp_numel(q) != rp_numel(gg))
            return rp_seterr("%s: state for dimension %d is missing or has the wrong size", k, d + 1);
    }
    int64_t prod = 1;
    for (int d = 0; d < st->ndim; d++) prod *= st->shape[d];
    if (prod != n) return rp_seterr("%s: state geometry does not match the parameter", k);
    return 0;
}

double rp_pc_shampoo_beta(const rp_optim_config *c) { return c->shampoo_beta >= 0 ? c->shampoo_beta : c->beta2; }

void rp_pc_update_gg(rp_optim_state *st, const float *g, float beta)
{
    for (int d = 0; d < st->ndim; d++)
        if (st->precond[d]) rp_pc_gg_update(RP_F32P(rp_pc_buf(st, "GG", d)), g, rp_pc_mode_of(st, d), beta);
}


int rp_pc_moment_open(moment *m, rp_optim_state *st, const char *name, rp_moment_format fmt, int64_t n)
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

int rp_pc_moment_close(moment *m, int64_t n, bool store)
{
    int rc = 0;
    if (m->owned && m->x && store) rc = rp_moment_store(m->buf, m->scale, m->x, m->fmt, n);
    if (m->owned) free(m->x);
    m->x = NULL;
    return rc;
}

/* soap/shampoo geometry: SOAP's merge_dims (the f42d296c version: merge
 * consecutive dims while the product stays <= max_precond_dim). */
void rp_pc_geometry(rp_optim_state *st, const rp_optim_config *c, const rp_tensor *p)
{
    int nd = 0;
    if (c->kind == RP_OPT_SOAP && c->merge_dims && p->ndim > 1) {
        int64_t cur = 1;
        for (int d = 0; d < p->ndim; d++) {
            int64_t sh = p->shape[d], tmp = cur * sh;
            if (tmp > c->max_precond_dim) {
                if (cur > 1) { st->shape[nd++] = cur; cur = sh; }
                else { st->shape[nd++] = sh; cur = 1; }
            } else cur = tmp;
        }
        if (cur > 1 || nd == 0) st->shape[nd++] = cur;
    } else {
        for (int d = 0; d < p->ndim; d++) st->shape[nd++] = p->shape[d];
        if (nd == 0) st->shape[nd++] = 1; /* a scalar parameter is a 1-vector */
    }
    st->ndim = nd;
    /* soap.py's 1-d rule looks at the parameter, not the merged shape: a
     * matrix that merge_dims turns into one dimension is still rotated. */
    for (int d = 0; d < nd; d++)
        st->precond[d] = (p->ndim > 1 || c->precondition_1d) && st->shape[d] <= c->max_precond_dim;
}


/* The state of soap and shampoo: exp_avg, exp_avg_sq (in their formats),
 * the geometry, and per preconditioned dimension d its GG<d> and
 * <mat><d> (soap: Q, shampoo: root). */
int rp_pc_init(rp_optim_state *st, const rp_optim_config *c, const rp_tensor *p, const char *mat)
{
    int rc = rp_optim_add_moment(st, "exp_avg", c->m_format, p);
    if (!rc) rc = rp_optim_add_moment(st, "exp_avg_sq", c->v_format, p);
    rp_pc_geometry(st, c, p);
    for (int d = 0; !rc && d < st->ndim; d++) {
        if (!st->precond[d]) continue;
        int64_t sq[2] = {st->shape[d], st->shape[d]};
        char name[RP_OPTIM_NAMELEN];
        snprintf(name, sizeof name, "GG%d", d);
        rc = rp_optim_state_add(st, name, rp_zeros(RP_F32, 2, sq)) ? 0 : -1;
        snprintf(name, sizeof name, "%s%d", mat, d);
        if (!rc) rc = rp_optim_state_add(st, name, rp_zeros(RP_F32, 2, sq)) ? 0 : -1;
    }
    return rc;
}
