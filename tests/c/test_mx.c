/* test_mx.c: the MX block formats against a plain per-block reference
 * (frexp for the scale, the element cast by rp_fp8_encode1 on x * 2^-E in
 * double), packing of mxfp4, partial last blocks, zero / NaN / inf / tiny /
 * huge blocks, and dequantize = table value * 2^E. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fp8.h"

static int ref_scale(const float *x, int n, int emax)
{
    double a = 0;
    for (int i = 0; i < n; i++) {
        if (isnan(x[i]) || isinf(x[i])) return 0xFF;
        a = fmax(a, fabs((double)x[i]));
    }
    if (a == 0) return 0;
    int ex;
    frexp(a, &ex); /* a in [2^(ex-1), 2^ex) */
    int E = ex - 1 - emax;
    E = E < -127 ? -127 : E > 127 ? 127 : E;
    return E + 127;
}

static void check_case(int mx, const float *x, int64_t R, int64_t K)
{
    const rp_mx_traits *m = &rp_mx_info[mx];
    int64_t rb = rp_mx_row_bytes(mx, K), nb = rp_mx_row_blocks(K);
    uint8_t *codes = malloc((size_t)(R * rb)), *scales = malloc((size_t)(R * nb));
    float *y = malloc((size_t)(R * K) * sizeof *y), amax;
    rp_mx_quantize_f32(codes, scales, &amax, x, R, K, mx);
    rp_mx_dequantize_f32(y, codes, scales, R, K, mx);
    const float *tab = rp_fp8_table(m->elem);
    int bad = 0;
    for (int64_t r = 0; r < R; r++)
        for (int64_t b = 0; b < nb; b++) {
            int n = (int)(K - b * 32 < 32 ? K - b * 32 : 32);
            const float *xb = x + r * K + b * 32;
            int sc = ref_scale(xb, n, m->emax);
            if (scales[r * nb + b] != sc && bad++ < 3)
                fprintf(stderr, "%s: block scale 0x%02x, reference 0x%02x\n", m->name, scales[r * nb + b], sc);
            for (int i = 0; i < n; i++) {
                int64_t j = b * 32 + i;
                unsigned c = m->packed ? (codes[r * rb + j / 2] >> (4 * (j & 1))) & 0xF : codes[r * rb + j];
                if (sc == 0xFF) { /* NaN scale: the block decodes to NaN; its codes are x's own casts */
                    if (!isnan(y[r * K + j]) && bad++ < 3) fprintf(stderr, "NaN block\n");
                    if (c != rp_fp8_encode1(xb[i], m->elem, true) && bad++ < 3)
                        fprintf(stderr, "%s: NaN block x=%a code 0x%x\n", m->name, xb[i], c);
                    continue;
                }
                float v = (float)ldexp((double)xb[i], -(sc - 127));
                unsigned want = rp_fp8_encode1(v, m->elem, true);
                double yv = ldexp((double)tab[c], sc - 127);
                if ((c != want || (float)yv != y[r * K + j]) && bad++ < 3)
                    fprintf(stderr, "%s: x=%a code 0x%x (ref 0x%x) y=%a (ref %a)\n", m->name, xb[i], c, want,
                            y[r * K + j], yv);
            }
        }
    CHECK_EQ_INT(0, bad);
    /* the amax taken from the blocks' maxima is rp_amax_f32's, bit for bit (NaN too) */
    float ref = rp_amax_f32(x, R * K);
    uint32_t ab, rb2;
    memcpy(&ab, &amax, 4);
    memcpy(&rb2, &ref, 4);
    CHECK_EQ_INT((int64_t)rb2, (int64_t)ab);
    free(codes); free(scales); free(y);
}

int main(void)
{
    for (int mx = 0; mx < RP_NMX; mx++) {
        const rp_mx_traits *m = &rp_mx_info[mx];
        int ex;
        frexpf(rp_fp8_info[m->elem].max, &ex);
        CHECK_EQ_INT(ex - 1, m->emax);
        CHECK_EQ_INT(rp_fp8_info[m->elem].bits <= 4, m->packed);
        CHECK_EQ_INT(mx, rp_mx_format_from_name(m->name));
    }
    CHECK_EQ_INT(-1, rp_mx_format_from_name("mxfp5"));
    CHECK(strncmp(rp_mx_format_names(), "mxfp8_e4m3, ", 12) == 0);
    CHECK_EQ_INT(19, rp_mx_row_bytes(RP_MX_FP4, 37));
    CHECK_EQ_INT(2, rp_mx_row_blocks(37));
    /* random rows with a spread of magnitudes, K = 37 (odd, partial block) and 96 */
    uint32_t s = 12345;
    for (int k = 0; k < 2; k++) {
        int64_t R = 5, K = k ? 96 : 37;
        float *x = malloc((size_t)(R * K) * sizeof *x);
        for (int64_t i = 0; i < R * K; i++) {
            s = s * 1664525u + 1013904223u;
            float u = (float)(s >> 8) / 16777216.0f - 0.5f;
            x[i] = ldexpf(u, (int)((s >> 3) % 40) - 20 + (int)(i / K) * 30 - 60);
        }
        x[3] = 0.0f;                       /* in a block */
        for (int i = 32; i < 37; i++) x[i] = 0.0f; /* a zero (partial) block */
        x[K + 1] = NAN;                    /* a NaN block */
        x[2 * K + 40 < R * K ? 2 * K + 40 : 0] = -INFINITY; /* an inf block */
        x[3 * K] = 3e38f; x[4 * K] = 1e-44f; x[4 * K + 1] = -1e-40f; /* huge, subnormal */
        for (int mx = 0; mx < RP_NMX; mx++) check_case(mx, x, R, K);
        free(x);
    }
    /* rows of 4133 = 129 blocks + 5: three chunks of the quantizer (64
     * blocks each) with a partial last block, 9 rows (past the threshold of
     * the threaded path); one block of subnormals only, one of zeros, one
     * holding NaN, one holding inf */
    {
        int64_t R = 9, K = 4133;
        float *x = malloc((size_t)(R * K) * sizeof *x);
        for (int64_t i = 0; i < R * K; i++) {
            s = s * 1664525u + 1013904223u;
            float u = (float)(s >> 8) / 16777216.0f - 0.5f;
            x[i] = ldexpf(u, (int)((s >> 3) % 24) - 12);
        }
        for (int i = 0; i < 32; i++) x[K + 64 * 32 + i] = ldexpf((float)(i + 1), -149 + (i % 7)); /* subnormals */
        for (int i = 0; i < 32; i++) x[2 * K + 70 * 32 + i] = 0.0f;
        x[3 * K + 4130] = NAN;
        x[5 * K + 3000] = INFINITY;
        for (int mx = 0; mx < RP_NMX; mx++) check_case(mx, x, R, K);
        free(x);
    }
    return check_report("mx");
}
