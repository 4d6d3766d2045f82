/* optim_adafactor.c: Adafactor (Shazeer & Stern 2018): factored second
 * moment for >= 2-d parameters (rows x last dim), beta2_t = 1 - t^decay_rate,
 * update clipping, optional momentum, explicit lr, decoupled weight decay. */
#include "optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define F_(f) offsetof(rp_optim_config, f)
static const rp_optim_opt opts[] = {
    {"lr", RP_OPTV_NUM, F_(lr), 1e-2, 0, 0, INFINITY, RP_RANGE_FINITE, "a finite number >= 0"},
    {"beta1", RP_OPTV_NUM, F_(beta1), 0, 0, 0, 1, RP_RANGE_HI_OPEN, "in [0, 1)"},
    {"decay_rate", RP_OPTV_NUM, F_(decay_rate), -0.8, 0, -1, 0, RP_RANGE_HI_OPEN, "in [-1, 0)"},
    {"clip_threshold", RP_OPTV_NUM, F_(clip_threshold), 1.0, 0, 0, INFINITY, RP_RANGE_LO_OPEN, "> 0"},
    {"eps", RP_OPTV_NUM, F_(eps), 1e-30, 0, 0, INFINITY, RP_RANGE_FINITE, ">= 0"},
    {"weight_decay", RP_OPTV_NUM, F_(weight_decay), 0, 0, 0, INFINITY, RP_RANGE_FINITE, ">= 0"},
    {NULL, 0, 0, 0, 0, 0, 0, 0, NULL},
};
#undef F_

static int init(rp_optim_state *st, const rp_optim_config *c, const rp_tensor *p)
{
    int rc = 0;
    int64_t n = rp_numel(p);
    if (c->beta1 > 0) rc = rp_optim_state_add(st, "exp_avg", rp_optim_zeros1(n)) ? 0 : -1;
    if (!rc && p->ndim >= 2) {
        int64_t cols = p->shape[p->ndim - 1], rows = cols ? n / cols : 0;
        rc = rp_optim_state_add(st, "exp_avg_sq_row", rp_optim_zeros1(rows)) ? 0 : -1;
        if (!rc) rc = rp_optim_state_add(st, "exp_avg_sq_col", rp_optim_zeros1(cols)) ? 0 : -1;
    } else if (!rc) {
        rc = rp_optim_state_add(st, "exp_avg_sq", rp_optim_zeros1(n)) ? 0 : -1;
    }
    return rc;
}

/* Adafactor for a (rows, cols) matrix view or a vector (rows = 0). */
static void adafactor_step(float *p, const float *g, rp_optim_state *st, const rp_optim_config *c,
                           int64_t rows, int64_t cols, float *u)
{
    int64_t n = rows ? rows * cols : cols, t = st->step;
    float b2t = (float)(1.0 - pow((double)t, c->decay_rate));
    float eps1 = (float)c->eps;
    if (rows) {
        float *r = RP_F32P(rp_optim_state_get(st, "exp_avg_sq_row"));
        float *cc = RP_F32P(rp_optim_state_get(st, "exp_avg_sq_col"));
        for (int64_t i = 0; i < rows; i++) {
            double s = 0;
            for (int64_t j = 0; j < cols; j++) s += (double)g[i * cols + j] * g[i * cols + j] + eps1;
            r[i] = b2t * r[i] + (1 - b2t) * (float)(s / (double)cols);
        }
        for (int64_t j = 0; j < cols; j++) {
            double s = 0;
            for (int64_t i = 0; i < rows; i++) s += (double)g[i * cols + j] * g[i * cols + j] + eps1;
            cc[j] = b2t * cc[j] + (1 - b2t) * (float)(s / (double)rows);
        }
        double rmean = 0;
        for (int64_t i = 0; i < rows; i++) rmean += r[i];
        rmean /= (double)rows;
        /* v̂_ij = r_i c_j / mean(r): the rank-1 estimate of the second moment. */
        for (int64_t i = 0; i < rows; i++)
            for (int64_t j = 0; j < cols; j++) {
                double vhat = (double)r[i] * cc[j] / rmean;
                u[i * cols + j] = (float)(g[i * cols + j] / sqrt(vhat));
            }
    } else {
        float *v = RP_F32P(rp_optim_state_get(st, "exp_avg_sq"));
        for (int64_t i = 0; i < n; i++) {
            v[i] = b2t * v[i] + (1 - b2t) * (g[i] * g[i] + eps1);
            u[i] = g[i] / sqrtf(v[i]);
        }
    }
    double ss = 0;
    for (int64_t i = 0; i < n; i++) ss += (double)u[i] * u[i];
    double rms = n ? sqrt(ss / (double)n) : 0;
    float clip = (float)fmax(1.0, rms / c->clip_threshold);
    rp_tensor *mt = rp_optim_state_get(st, "exp_avg");
    float *m = mt ? RP_F32P(mt) : NULL;
    float lr = (float)c->lr, decay = (float)(1.0 - c->lr * c->weight_decay), b1 = (float)c->beta1;
    for (int64_t i = 0; i < n; i++) {
        float d = u[i] / clip;
        if (m) { m[i] = b1 * m[i] + (1 - b1) * d; d = m[i]; }
        if (c->weight_decay != 0) p[i] *= decay;
        p[i] -= lr * d;
    }
}

static int step(rp_tensor *p, const rp_tensor *g, rp_optim_state *st, const rp_optim_config *c)
{
    int64_t n = rp_numel(p);
    float *u = malloc(sizeof(float) * (size_t)(n ? n : 1));
    if (!u) return rp_seterr("adafactor: out of memory");
    st->step++;
    int64_t cols = p->ndim >= 2 ? p->shape[p->ndim - 1] : n;
    int64_t rows = p->ndim >= 2 ? (cols ? n / cols : 0) : 0;
    if (n > 0) adafactor_step(RP_F32P(p), RP_F32P(g), st, c, rows, cols, u);
    free(u);
    return 0;
}

const rp_optim_entry rp_optim_adafactor = {"adafactor", opts, NULL, init, step};
