/* test_rng.c: Philox4x32-10 known answer, stream independence from the
 * thread count, get/set of the (seed, offset) state. */
#include "check.h"
#include "rng.h"

#include <string.h>

int main(void)
{
    /* Random123 known-answer vector: counter 0, key 0 */
    uint32_t out[4];
    rp_philox(0, 0, out);
    CHECK_EQ_INT(0x6627e8d5u, out[0]);
    CHECK_EQ_INT(0xe169c58du, out[1]);
    CHECK_EQ_INT(0xbc57ac4cu, out[2]);
    CHECK_EQ_INT(0x9b00dbd8u, out[3]);

    int64_t n = 200001;
    rp_tensor *a = rp_empty(RP_F32, 1, &n), *b = rp_empty(RP_F32, 1, &n);
    rp_generator g;
    rp_set_threads(1);
    rp_generator_seed(&g, 77);
    rp_fill_normal(a, &g, 0, 1);
    rp_set_threads(2);
    rp_generator_seed(&g, 77);
    rp_fill_normal(b, &g, 0, 1);
    CHECK(memcmp(rp_data(a), rp_data(b), (size_t)n * 4) == 0);
    /* the state is (seed, offset): restoring it replays the stream */
    rp_generator saved = g;
    rp_fill_uniform(a, &g, 0, 1);
    g = saved;
    rp_fill_uniform(b, &g, 0, 1);
    CHECK(memcmp(rp_data(a), rp_data(b), (size_t)n * 4) == 0);
    /* consecutive draws do not overlap */
    rp_fill_uniform(b, &g, 0, 1);
    CHECK(memcmp(rp_data(a), rp_data(b), 64) != 0);
    double mean = 0;
    for (int64_t i = 0; i < n; i++) mean += RP_F32P(a)[i];
    CHECK_NEAR(0.5, mean / (double)n, 0.01);
    rp_tensor_release(a);
    rp_tensor_release(b);
    return check_report("test_rng");
}
