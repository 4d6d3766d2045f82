/* test_sgd_dampening.c: SGD with momentum and dampening against PyTorch's
 * definition: the first step sets the momentum buffer to the gradient itself
 * (no dampening), later steps buf = μ·buf + (1 - dampening)·g. */
#include "check.h"
#include "optim.h"


int main(void)
{
    float p0 = 1.0f, gs[3] = {0.5f, 0.5f, -0.25f};
    /* buf: 0.5; 0.9·0.5 + 0.5·0.5 = 0.7; 0.9·0.7 + 0.5·(-0.25) = 0.505 */
    double expect[3] = {0.95, 0.88, 0.8295};
    rp_optim_config c;
    rp_optim_defaults(&c, RP_OPT_SGD);
    c.lr = 0.1; c.momentum = 0.9; c.dampening = 0.5;
    int64_t one = 1;
    rp_tensor *p = rp_empty(RP_F32, 1, &one), *g = rp_empty(RP_F32, 1, &one);
    RP_F32P(p)[0] = p0;
    rp_optim_state *st = rp_optim_state_new(&c, p);
    for (int t = 0; t < 3; t++) {
        RP_F32P(g)[0] = gs[t];
        CHECK(rp_optim_step(p, g, st, &c) == 0);
        CHECK_NEAR(expect[t], RP_F32P(p)[0], 1e-6);
    }
    rp_optim_state_free(st);
    rp_tensor_release(p); rp_tensor_release(g);
    return check_report("test_sgd_dampening");
}
