/* test_fp_subbyte.c: the OCP sub-byte formats e3m2fn, e2m3fn (FP6) and
 * e2m1fn (FP4): traits, every code decoded and re-encoded, specials, and a
 * sampled scan of float32 against the plain reference (the full 2^32 scan is
 * test_fp_subbyte_exhaustive, label long). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "fp8.h"
#include "test_fpsub_ref.h"

static const struct { int fmt; sub_fmt f; float max, minn, mins; int bits; } F[] = {
    {RP_FMT_E3M2FN, {3, 2, 3}, 28.0f, 0.25f, 0.0625f, 6},
    {RP_FMT_E2M3FN, {2, 3, 1}, 7.5f, 1.0f, 0.125f, 6},
    {RP_FMT_E2M1FN, {2, 1, 1}, 6.0f, 1.0f, 0.5f, 4},
};

static float u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

int main(void)
{
    for (int k = 0; k < 3; k++) {
        int fmt = F[k].fmt;
        const rp_fp8_traits *t = &rp_fp8_info[fmt];
        CHECK_EQ_INT(F[k].bits, t->bits);
        CHECK(t->max == F[k].max && t->min_normal == F[k].minn && t->min_subnormal == F[k].mins);
        CHECK(!t->has_inf && t->nan == RP_NAN_NONE && t->has_negative_zero && t->is_signed);
        CHECK(rp_fp8_is_8bit(fmt));
        CHECK_EQ_INT((1 << (t->bits - 1)) - 1, t->max_code);
        /* every code: table = formula; encode(decode(c)) = c */
        const float *tab = rp_fp8_table(fmt);
        int ncodes = 1 << t->bits;
        for (int c = 0; c < 256; c++) {
            if (c >= ncodes) { CHECK(isnan(tab[c])); continue; }
            double r = sub_decode(F[k].f, (unsigned)c);
            CHECK((double)tab[c] == r && !signbit(tab[c]) == !signbit(r));
            CHECK_EQ_INT(c, rp_fp8_encode1(tab[c], fmt, false));
            CHECK_EQ_INT(c, rp_fp8_encode1(tab[c], fmt, true));
        }
        /* the row's max / min normal / min subnormal are the decoded codes' */
        CHECK(tab[t->max_code] == t->max && tab[1] == t->min_subnormal && tab[1 << t->mbits] == t->min_normal);
        int sb = 1 << (t->bits - 1);
        /* specials, ml_dtypes: NaN -> the -0 code, -NaN -> +0, inf -> max */
        CHECK_EQ_INT(sb, rp_fp8_encode1(NAN, fmt, false));
        CHECK_EQ_INT(0, rp_fp8_encode1(-NAN, fmt, false));
        CHECK_EQ_INT(t->max_code, rp_fp8_encode1(INFINITY, fmt, false));
        CHECK_EQ_INT(sb | t->max_code, rp_fp8_encode1(-INFINITY, fmt, true));
        CHECK_EQ_INT(t->max_code, rp_fp8_encode1(1e30f, fmt, false));
        CHECK_EQ_INT(sb, rp_fp8_encode1(-0.0f, fmt, false));
        CHECK_EQ_INT(sb, rp_fp8_encode1(-1e-30f, fmt, false));
        /* a sampled scan of float32 bit patterns against the reference,
         * through the vector encoder, both saturation modes */
        enum { N = 1 << 16 };
        static float x[N];
        static uint8_t c8[N];
        int bad = 0;
        double vt[32];
        sub_table(vt, F[k].f);
        /* 2^20 hashed patterns over all of float32, then every 64th pattern
         * of |x| in [min_subnormal/8, 2 max] (the rounding boundaries) */
        uint32_t lo = 0, hi = 0;
        { float a = F[k].mins / 8, b = F[k].max * 2; memcpy(&lo, &a, 4); memcpy(&hi, &b, 4); }
        uint32_t ndense = (hi - lo) / 64;
        for (uint32_t blk = 0; blk < 16 + ndense / N + 1; blk++) {
            int n = 0;
            for (int i = 0; i < N; i++) {
                uint32_t j = blk * N + (uint32_t)i, u;
                if (blk < 16) u = j * 2654435761u;
                else if (j - 16u * N < ndense) u = (lo + (j - 16u * N) * 64) | (i & 1u) << 31;
                else break;
                x[n++] = u2f(u);
            }
            for (int sat = 0; sat < 2; sat++) {
                rp_fp8_encode_f32(c8, x, n, fmt, 1.0f, sat);
                for (int i = 0; i < n; i++)
                    if (c8[i] != sub_encode_tab(vt, t->bits - 1, x[i]) && bad++ < 3)
                        fprintf(stderr, "%s: %a -> 0x%02x, reference 0x%02x\n", t->name, x[i], c8[i],
                                sub_encode(F[k].f, x[i]));
            }
        }
        CHECK_EQ_INT(0, bad);
        /* the cast is decode(encode) */
        float y[4] = {0.3f, -5.1f, 100.0f, NAN}, z[4];
        rp_fp8_cast_f32(z, y, 4, fmt, false);
        for (int i = 0; i < 4; i++) CHECK(memcmp(&z[i], &tab[sub_encode(F[k].f, y[i])], 4) == 0);
        /* statistics: saturated counts |x| rounding above max, flushed nonzero -> zero */
        float q[4] = {F[k].max * 2, F[k].max, F[k].mins / 4, 1.0f};
        uint8_t qc[4];
        rp_fp8_qstats st;
        rp_fp8_quantize_f32(qc, &st, q, 4, fmt, 1.0f, false, false, 0, 0);
        CHECK_EQ_INT(1, st.saturated);
        CHECK_EQ_INT(1, st.flushed);
    }
    return check_report("fp_subbyte");
}
