/* optim_adamw.c: PyTorch AdamW (single-tensor path), moments in any
 * storage format (optim_moments.c). */
#include "optim.h"
#include "parallel.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define F_(f) offsetof(rp_optim_config, f)
static const rp_optim_opt opts[] = {
    {"lr", RP_OPTV_NUM, F_(lr), 1e-3, 0, 0, INFINITY, RP_RANGE_FINITE, "a finite number >= 0"},
    {"betas", RP_OPTV_BETAS, F_(beta1), 0.9, 0.999, 0, 1, RP_RANGE_HI_OPEN, "in [0, 1)"},
    {"eps", RP_OPTV_NUM, F_(eps), 1e-8, 0, 0, INFINITY, RP_RANGE_FINITE, ">= 0"},
    {"weight_decay", RP_OPTV_NUM, F_(weight_decay), 0.01, 0, 0, INFINITY, RP_RANGE_FINITE, ">= 0"},
    {"m_format", RP_OPTV_FMT, F_(m_format), RP_MOM_F32, 0, 0, 0, 0, NULL},
    {"v_format", RP_OPTV_FMT, F_(v_format), RP_MOM_F32, 0, 0, 0, 0, NULL},
    {NULL, 0, 0, 0, 0, 0, 0, 0, NULL},
};
#undef F_

static int init(rp_optim_state *st, const rp_optim_config *c, const rp_tensor *p)
{
    int rc = rp_optim_add_moment(st, "exp_avg", c->m_format, p);
    if (!rc) rc = rp_optim_add_moment(st, "exp_avg_sq", c->v_format, p);
    return rc;
}

/* One chunk of the update, in the order of PyTorch's single-tensor loop. */
static void adamw_chunk(float *p, float *m, float *v, const float *g, int64_t n, bool decay_on,
                        float decay, float b1c, float b2, float b2c, float bc2_sqrt, float eps,
                        float step_size)
{
    for (int64_t i = 0; i < n; i++) {
        if (decay_on) p[i] *= decay;
        m[i] += b1c * (g[i] - m[i]);
        v[i] = b2 * v[i] + b2c * g[i] * g[i];
        float denom = sqrtf(v[i]) / bc2_sqrt + eps;
        p[i] -= step_size * (m[i] / denom);
    }
}

/* PyTorch AdamW (single-tensor path): p *= 1 - lr*wd; m = lerp(m, g, 1-b1);
 * v = b2*v + (1-b2)*g*g; p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps).
 * Elementwise: chunks of ADAMW_CHUNK over threads change no bit. */
#define ADAMW_CHUNK 16384
static void adamw_kernel(float *p, float *m, float *v, const float *g, int64_t n,
                         const rp_optim_config *c, int64_t t)
{
    double bc1 = 1.0 - pow(c->beta1, (double)t), bc2 = 1.0 - pow(c->beta2, (double)t);
    float step_size = (float)(c->lr / bc1), bc2_sqrt = (float)sqrt(bc2);
    float decay = (float)(1.0 - c->lr * c->weight_decay), b1c = (float)(1.0 - c->beta1);
    float b2 = (float)c->beta2, b2c = (float)(1.0 - c->beta2), eps = (float)c->eps;
    bool decay_on = c->weight_decay != 0;
    int64_t nch = (n + ADAMW_CHUNK - 1) / ADAMW_CHUNK;
    #pragma omp parallel for schedule(static) if (n > RP_PAR_MIN)
    for (int64_t k = 0; k < nch; k++) {
        int64_t lo = k * ADAMW_CHUNK, len = n - lo < ADAMW_CHUNK ? n - lo : ADAMW_CHUNK;
        adamw_chunk(p + lo, m + lo, v + lo, g + lo, len, decay_on, decay, b1c, b2, b2c, bc2_sqrt,
                    eps, step_size);
    }
}

static int step(rp_tensor *p, const rp_tensor *g, rp_optim_state *st, const rp_optim_config *c)
{
    int64_t n = rp_numel(p);
    int rc = 0;
    rp_tensor *mb = rp_optim_state_get(st, "exp_avg"), *vb = rp_optim_state_get(st, "exp_avg_sq");
    if (!mb || !vb) return rp_seterr("adamw: state has no exp_avg/exp_avg_sq");
    bool direct = c->m_format == RP_MOM_F32 && c->v_format == RP_MOM_F32;
    float *m = direct ? RP_F32P(mb) : malloc(sizeof(float) * (size_t)(n ? n : 1));
    float *v = direct ? RP_F32P(vb) : malloc(sizeof(float) * (size_t)(n ? n : 1));
    if (!m || !v) rc = rp_seterr("adamw: out of memory");
    rp_tensor *ms = rp_optim_moment_scale(st, "exp_avg"), *vs = rp_optim_moment_scale(st, "exp_avg_sq");
    if (!rc && !direct) {
        rc = rp_moment_load(m, mb, ms, c->m_format, n);
        if (!rc) rc = rp_moment_load(v, vb, vs, c->v_format, n);
    }
    if (!rc) {
        st->step++;
        adamw_kernel(RP_F32P(p), m, v, RP_F32P(g), n, c, st->step);
        if (!direct) {
            rc = rp_moment_store(mb, ms, m, c->m_format, n);
            if (!rc) rc = rp_moment_store(vb, vs, v, c->v_format, n);
        }
    }
    if (!direct) { free(m); free(v); }
    return rc;
}

const rp_optim_entry rp_optim_adamw = {"adamw", opts, NULL, init, step};
