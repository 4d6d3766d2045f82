/* test_ops_graph.c: the fused softplus kernel (rp_softplus, a vectorised
 * series for log1p on [0, 1] after the kit's exp) against its plain libm
 * reference (rp_softplus_ref) over a sweep of inputs, in relative error,
 * with the special values, and every unaligned short tail of the vector
 * loop giving the bits of the long run. */
#include "check.h"
#include "ops_graph.h"
#include "ops.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#define NX 20001

int main(void)
{
    int64_t n = NX;
    rp_tensor *x = rp_empty(RP_F32, 1, &n);
    float *xp = RP_F32P(x);
    for (int64_t i = 0; i < n; i++) xp[i] = -100.0f + 200.0f * (float)i / (float)(n - 1);
    rp_tensor *y = rp_softplus(x), *r = rp_softplus_ref(x);
    CHECK(y && r);
    const float *yp = RP_F32P(y), *rp = RP_F32P(r);
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)yp[i] - rp[i]) / fmax(fabs((double)rp[i]), 1e-38);
        if (e > worst) worst = e;
    }
    /* a few ulp: the exp is within 2 ulp, the series within 1.5e-8 */
    CHECK(worst < 6e-7);
    /* tails: softplus of x[s .. s+len) equals the long run's values bit for bit */
    for (int64_t s = 0; s < 9; s++)
        for (int64_t len = 1; len < 40; len += 3) {
            rp_tensor *v = rp_narrow(x, 0, 1000 + s, len);
            rp_tensor *w = v ? rp_softplus(v) : NULL;
            CHECK(w != NULL);
            if (w) CHECK(memcmp(RP_F32P(w), yp + 1000 + s, (size_t)len * sizeof(float)) == 0);
            rp_tensor_release(v);
            rp_tensor_release(w);
        }
    float sp[4] = {INFINITY, -INFINITY, NAN, 0.0f};
    int64_t four = 4;
    rp_tensor *s4 = rp_empty(RP_F32, 1, &four);
    memcpy(RP_F32P(s4), sp, sizeof sp);
    rp_tensor *o4 = rp_softplus(s4);
    CHECK(o4 != NULL);
    if (o4) {
        const float *o = RP_F32P(o4);
        CHECK(isinf(o[0]) && o[0] > 0);
        CHECK(o[1] == 0.0f);
        CHECK(isnan(o[2]));
        CHECK_NEAR(0.69314718, o[3], 1e-7);
    }
    /* an i32 input is an error, not a crash */
    rp_tensor *i = rp_empty(RP_I32, 1, &four);
    CHECK(rp_softplus(i) == NULL);
    rp_tensor_release(i); rp_tensor_release(o4); rp_tensor_release(s4);
    rp_tensor_release(x); rp_tensor_release(y); rp_tensor_release(r);
    return check_report("ops_graph");
}
