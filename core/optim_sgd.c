/* optim_sgd.c: PyTorch SGD (momentum, dampening, nesterov, L2 weight decay
 * added to the gradient). */
#include "optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define F_(f) offsetof(rp_optim_config, f)
static const rp_optim_opt opts[] = {
    {"lr", RP_OPTV_NUM, F_(lr), 1e-3, 0, 0, INFINITY, RP_RANGE_FINITE, "a finite number >= 0"},
    {"momentum", RP_OPTV_NUM, F_(momentum), 0, 0, 0, INFINITY, RP_RANGE_FINITE, ">= 0"},
    {"dampening", RP_OPTV_NUM, F_(dampening), 0, 0, 0, 1, 0, "in [0, 1]"},
    {"nesterov", RP_OPTV_BOOL, F_(nesterov), 0, 0, 0, 0, 0, NULL},
    {"weight_decay", RP_OPTV_NUM, F_(weight_decay), 0, 0, 0, INFINITY, RP_RANGE_FINITE, ">= 0"},
    {NULL, 0, 0, 0, 0, 0, 0, 0, NULL},
};
#undef F_

static int check(const rp_optim_config *c)
{
    if (c->nesterov && (c->momentum <= 0 || c->dampening != 0))
        return rp_seterr("sgd: nesterov needs momentum > 0 and dampening 0 (momentum %g, dampening %g)",
                         c->momentum, c->dampening);
    return 0;
}

static int init(rp_optim_state *st, const rp_optim_config *c, const rp_tensor *p)
{
    if (c->momentum > 0) return rp_optim_state_add(st, "momentum_buffer", rp_optim_zeros1(rp_numel(p))) ? 0 : -1;
    return 0;
}

/* PyTorch SGD: g += wd*p; buf = g (first step) or momentum*buf + (1-dampening)*g;
 * d = nesterov ? g + momentum*buf : buf; p -= lr*d. */
static void sgd_kernel(float *p, float *buf, const float *g, int64_t n, const rp_optim_config *c, bool first)
{
    float lr = (float)c->lr, wd = (float)c->weight_decay, mu = (float)c->momentum;
    float damp = 1.0f - (float)c->dampening;
    for (int64_t i = 0; i < n; i++) {
        float d = g[i];
        if (wd != 0) d += wd * p[i];
        if (buf) {
            buf[i] = first ? d : mu * buf[i] + damp * d;
            d = c->nesterov ? d + mu * buf[i] : buf[i];
        }
        p[i] -= lr * d;
    }
}

static int step(rp_tensor *p, const rp_tensor *g, rp_optim_state *st, const rp_optim_config *c)
{
    rp_tensor *b = rp_optim_state_get(st, "momentum_buffer");
    if (c->momentum > 0 && !b) return rp_seterr("sgd: state has no momentum_buffer");
    sgd_kernel(RP_F32P(p), c->momentum > 0 ? RP_F32P(b) : NULL, RP_F32P(g), rp_numel(p), c, st->step == 0);
    st->step++;
    return 0;
}

const rp_optim_entry rp_optim_sgd = {"sgd", opts, check, init, step};
