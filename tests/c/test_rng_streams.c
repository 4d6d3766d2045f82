/* test_rng_streams.c: the layout of the counter-based streams (rng.h): a draw
 * of n values takes the words [offset, offset + n) and moves the offset to
 * the next multiple of 4 past them, so consecutive draws never share a word,
 * even of one value; uniform = rp_u01(word), normal = Box-Muller of two words
 * with u1 in (0, 1] (never log 0). Values are recomputed from rp_rng_word. */
#include "check.h"
#include "rng.h"

#include <string.h>

static void test_offsets(void)
{
    rp_generator g;
    rp_generator_seed(&g, 11);
    int64_t sizes[] = {1, 1, 3, 5, 4, 7};
    uint64_t expect = 0;
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        rp_tensor *t = rp_empty(RP_F32, 1, &sizes[k]);
        CHECK(rp_fill_uniform(t, &g, 0, 1) == 0);
        for (int64_t i = 0; i < sizes[k]; i++)
            CHECK(RP_F32P(t)[i] == rp_u01(rp_rng_word(11, expect, (uint64_t)i)));
        expect += ((uint64_t)sizes[k] + 3) / 4 * 4;
        CHECK_EQ_INT(expect, g.offset);
        rp_tensor_release(t);
    }
    /* two one-value draws differ */
    rp_generator_seed(&g, 5);
    int64_t one = 1;
    rp_tensor *a = rp_empty(RP_F32, 1, &one), *b = rp_empty(RP_F32, 1, &one);
    rp_fill_uniform(a, &g, 0, 1);
    rp_fill_uniform(b, &g, 0, 1);
    CHECK(RP_F32P(a)[0] != RP_F32P(b)[0]);
    rp_tensor_release(a); rp_tensor_release(b);
}

static void test_normal_values(void)
{
    int64_t n = 4099;
    rp_tensor *t = rp_empty(RP_F32, 1, &n);
    rp_generator g;
    rp_generator_seed(&g, 2024);
    g.offset = 8;
    CHECK(rp_fill_normal(t, &g, 0.5, 2.0) == 0);
    CHECK_EQ_INT(8 + (2 * 4099 + 3) / 4 * 4, g.offset);
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        uint32_t a = rp_rng_word(2024, 8, 2 * (uint64_t)i), b = rp_rng_word(2024, 8, 2 * (uint64_t)i + 1);
        double u1 = ((double)(a >> 8) + 1.0) / 16777216.0, u2 = (double)(b >> 8) / 16777216.0;
        double z = 0.5 + 2.0 * sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
        worst = fmax(worst, fabs(z - RP_F32P(t)[i]) / (1 + fabs(z)));
    }
    CHECK_NEAR(0, worst, 1e-6);
    /* the extreme words: a = 0 gives u1 = 2^-24, a finite value */
    CHECK(isfinite(sqrt(-2.0 * log(1.0 / 16777216.0))));
    rp_tensor_release(t);
}

int main(void)
{
    test_offsets();
    test_normal_values();
    return check_report("test_rng_streams");
}
