/* test_autograd.c: the engine: chains, shared inputs, errors for a
 * non-differentiable node and for a freed graph. */
#include "check.h"
#include "autograd.h"
#include "ops.h"

#include <string.h>

int main(void)
{
    int64_t n = 3;
    rp_tensor *x = rp_empty(RP_F32, 1, &n);
    for (int i = 0; i < 3; i++) RP_F32P(x)[i] = (float)(i + 1);
    x->requires_grad = true;
    /* y = sum(x * x + x): dy/dx = 2x + 1, x used twice */
    rp_tensor *sq = rp_mul(x, x), *s = rp_add(sq, x), *y = rp_sum_all(s);
    CHECK_EQ_INT(0, rp_backward(y, NULL, false));
    for (int i = 0; i < 3; i++) CHECK_NEAR(2.0 * (i + 1) + 1, RP_F32P(x->grad)[i], 1e-6);
    CHECK_EQ_INT(-1, rp_backward(y, NULL, false));
    CHECK(strstr(rp_errmsg(), "already freed") != NULL);
    rp_tensor_release(sq); rp_tensor_release(s); rp_tensor_release(y);

    /* a node without a backward function */
    rp_tensor *z = rp_mul_scalar(x, 2.0);
    rp_tensor *w = rp_copy_contiguous(z);
    rp_tensor *ins[1] = {z};
    CHECK(rp_node_attach(w, "nondiff", NULL, 1, ins) != NULL);
    rp_tensor *ws = rp_sum_all(w);
    CHECK_EQ_INT(-1, rp_backward(ws, NULL, false));
    CHECK(strstr(rp_errmsg(), "'nondiff' is not differentiable") != NULL);
    rp_tensor_release(z); rp_tensor_release(w); rp_tensor_release(ws);

    /* grad mode off records nothing */
    bool prev = rp_set_grad_enabled(false);
    rp_tensor *q = rp_mul(x, x);
    CHECK(!q->requires_grad && q->grad_fn == NULL);
    rp_set_grad_enabled(prev);
    rp_tensor_release(q);

    /* a long chain frees without deep recursion trouble */
    rp_tensor *c = x;
    rp_tensor_retain(c);
    for (int i = 0; i < 2000; i++) {
        rp_tensor *nx = rp_add_scalar(c, 0.001);
        rp_tensor_release(c);
        c = nx;
    }
    rp_tensor *cs = rp_sum_all(c);
    rp_tensor_release(x->grad);
    x->grad = NULL;
    CHECK_EQ_INT(0, rp_backward(cs, NULL, false));
    CHECK_NEAR(1.0, RP_F32P(x->grad)[0], 1e-6);
    rp_tensor_release(c); rp_tensor_release(cs);
    rp_tensor_release(x);
    return check_report("test_autograd");
}
