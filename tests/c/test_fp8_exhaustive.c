/* test_fp8_exhaustive.c: every float32 bit pattern through the fast encoder
 * (rp_fp8_encode_f32, both saturation modes) and through the plain reference
 * in test_fp8_ref.h: e4m3fn and e5m2 (non-saturating) on all 2^32 patterns,
 * their saturating casts and the other 8-bit formats on every 16th block of 65536 consecutive patterns (all exponents,
 * signs and specials are covered), bf16/fp16 casts likewise against a plain
 * double-precision rounding. ctest label "long". Under the sanitizers the
 * scan takes a stride (the code is the same; sanitizers only slow it). */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fp8.h"
#include "test_fp8_ref.h"

#if defined(__SANITIZE_ADDRESS__)
#define STRIDE 257u
#else
#define STRIDE 1u
#endif

enum { CHUNK = 1 << 16, SPARSE = 16 };

/* Plain RNE to a 16-bit IEEE format, returned as float. */
static float ref_cast16(float x, int fmt, bool sat)
{
    const rp_fp8_traits *t = &rp_fp8_info[fmt];
    if (isnan(x)) return x;
    double a = fabs((double)x), r;
    if (isinf(x)) {
        r = INFINITY;
    } else if (a == 0) {
        r = 0;
    } else {
        int e;
        frexp(a, &e);
        int E = e - 1 + t->bias;
        if (E < 1) E = 1;
        double sp = ldexp(1.0, E - t->bias - t->mbits);
        r = nearbyint(a / sp) * sp;
    }
    if (r > t->max) r = sat ? t->max : INFINITY;
    return (float)(signbit(x) ? -r : r);
}

int main(void)
{
    /* REPRO_FP8_STRIDE=k checks every k-th pattern (for quick local runs). */
    const char *env = getenv("REPRO_FP8_STRIDE");
    const uint32_t stride = env && atoi(env) > 0 ? (uint32_t)atoi(env) : STRIDE;
    const int fm[] = {RP_FMT_E4M3FN, RP_FMT_E5M2, RP_FMT_E4M3FNUZ, RP_FMT_E5M2FNUZ,
                      RP_FMT_E4M3, RP_FMT_E3M4, RP_FMT_E8M0FNU};
    const int nf = (int)(sizeof fm / sizeof fm[0]);
    long long bad[7][2] = {{0}}, bad16[2] = {0};
    const uint64_t nchunks = ((uint64_t)1 << 32) / CHUNK;
    #pragma omp parallel
    {
        float *x = malloc(CHUNK * sizeof *x), *y = malloc(CHUNK * sizeof *y);
        uint8_t *c = malloc(CHUNK);
        long long lbad[7][2] = {{0}}, lbad16[2] = {0};
        #pragma omp for schedule(dynamic, 64)
        for (uint64_t k = 0; k < nchunks; k++) {
            int n = 0;
            for (uint64_t i = 0; i < CHUNK; i++) {
                uint32_t u = (uint32_t)(k * CHUNK + i);
                if (u % stride) continue;
                memcpy(&x[n++], &u, 4);
            }
            for (int f = 0; f < nf; f++)
                for (int sat = 0; sat < 2; sat++) {
                    /* e4m3fn and e5m2 (RNE, non-saturating) see every
                     * pattern; saturation and the other formats every
                     * SPARSE-th chunk (time: the reference is slow) */
                    if ((f >= 2 || sat) && k % SPARSE) continue;
                    /* omp nesting is off, so this runs on the calling thread */
                    rp_fp8_encode_f32(c, x, n, fm[f], 1.0f, sat);
                    for (int i = 0; i < n; i++)
                        if (c[i] != ref_encode(x[i], fm[f], sat)) {
                            if (lbad[f][sat]++ < 3) {
                                uint32_t u;
                                memcpy(&u, &x[i], 4);
                                #pragma omp critical
                                fprintf(stderr, "%s sat=%d: 0x%08x -> 0x%02x, reference 0x%02x\n",
                                        rp_fp8_info[fm[f]].name, sat, u, c[i],
                                        ref_encode(x[i], fm[f], sat));
                            }
                        }
                }
            if (k % SPARSE == 1) /* 16-bit casts on every SPARSE-th chunk */
                for (int f16 = 0; f16 < 2; f16++) {
                    int fmt = f16 ? RP_FMT_FP16 : RP_FMT_BF16;
                    rp_fp8_cast_f32(y, x, n, fmt, f16 == 1);
                    for (int i = 0; i < n; i++) {
                        float r = ref_cast16(x[i], fmt, f16 == 1);
                        bool same = isnan(r) ? isnan(y[i]) : memcmp(&r, &y[i], 4) == 0;
                        if (!same && lbad16[f16]++ < 3) {
                            #pragma omp critical
                            fprintf(stderr, "%s: %a -> %a, reference %a\n",
                                    rp_fp8_info[fmt].name, x[i], y[i], r);
                        }
                    }
                }
        }
        #pragma omp critical
        {
            for (int f = 0; f < nf; f++)
                for (int s = 0; s < 2; s++) bad[f][s] += lbad[f][s];
            bad16[0] += lbad16[0];
            bad16[1] += lbad16[1];
        }
        free(x);
        free(y);
        free(c);
    }
    for (int f = 0; f < nf; f++)
        for (int s = 0; s < 2; s++) CHECK_EQ_INT(0, bad[f][s]);
    CHECK_EQ_INT(0, bad16[0]);
    CHECK_EQ_INT(0, bad16[1]);
    return check_report("test_fp8_exhaustive");
}
