/* test_fp_subbyte_exhaustive.c: every float32 bit pattern (2^32) through
 * the vector encoder of e3m2fn, e2m3fn and e2m1fn, RNE, non-saturating and
 * saturating, against the plain reference of test_fpsub_ref.h (label long). */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fp8.h"
#include "test_fpsub_ref.h"

#define CHUNK (1 << 16)

/* Under AddressSanitizer (the CI's sanitizer suite) every 257th chunk: the
 * whole scan would take hours there; the Release suite runs all of it. */
#if defined(__SANITIZE_ADDRESS__)
#define CHUNK_STRIDE 257u
#else
#define CHUNK_STRIDE 1u
#endif

int main(void)
{
    const int fm[3] = {RP_FMT_E3M2FN, RP_FMT_E2M3FN, RP_FMT_E2M1FN};
    const sub_fmt sf[3] = {{3, 2, 3}, {2, 3, 1}, {2, 1, 1}};
    long long bad[3] = {0};
    double tab[3][32];
    for (int f = 0; f < 3; f++) sub_table(tab[f], sf[f]);
    const uint64_t nchunks = ((uint64_t)1 << 32) / CHUNK;
    #pragma omp parallel
    {
        float *x = malloc(CHUNK * sizeof *x);
        uint8_t *c = malloc(CHUNK);
        long long lbad[3] = {0};
        #pragma omp for schedule(dynamic, 64)
        for (uint64_t k = 0; k < nchunks; k++) {
            if (k % CHUNK_STRIDE) continue;
            for (uint64_t i = 0; i < CHUNK; i++) {
                uint32_t u = (uint32_t)(k * CHUNK + i);
                memcpy(&x[i], &u, 4);
            }
            for (int f = 0; f < 3; f++)
                for (int sat = 0; sat < 2; sat++) {
                    if (sat && k % 16) continue; /* saturation: every 16th chunk */
                    rp_fp8_encode_f32(c, x, CHUNK, fm[f], 1.0f, sat);
                    for (int i = 0; i < CHUNK; i++)
                        if (c[i] != sub_encode_tab(tab[f], sf[f].e + sf[f].m, x[i]) && lbad[f]++ < 3) {
                            #pragma omp critical
                            fprintf(stderr, "%s sat=%d: %a -> 0x%02x, reference 0x%02x\n",
                                    rp_fp8_info[fm[f]].name, sat, x[i], c[i], sub_encode(sf[f], x[i]));
                        }
                }
        }
        #pragma omp critical
        for (int f = 0; f < 3; f++) bad[f] += lbad[f];
        free(x);
        free(c);
    }
    for (int f = 0; f < 3; f++) CHECK_EQ_INT(0, (int)(bad[f] > 0 ? bad[f] : 0));
    return check_report("fp_subbyte_exhaustive");
}
