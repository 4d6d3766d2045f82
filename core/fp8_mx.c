/* fp8_mx.c: the OCP Microscaling (MX v1.0) block formats: per block of 32
 * elements along the last dimension one e8m0fnu scale and the element
 * format's codes (packed two per byte for mxfp4). The element casts are the
 * encoders and decoders of fp8_impl.h, derived from the format rows. */
#include "fp8.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fp8_impl.h"

#define RP_MX_ROW_(ID, NAME, ELEM, EMAX, PACKED)                               \
    [RP_MX_##ID] = {.name = NAME, .elem = ELEM, .emax = EMAX, .packed = PACKED},
const rp_mx_traits rp_mx_info[RP_NMX] = {RP_MX_FORMATS(RP_MX_ROW_)};
#undef RP_MX_ROW_

#define RP_MX_NAME_(ID, NAME, ...) ", " NAME
static const char mx_names[] = RP_MX_FORMATS(RP_MX_NAME_);
#undef RP_MX_NAME_

int rp_mx_format_from_name(const char *name)
{
    if (!name) return -1;
    for (int i = 0; i < RP_NMX; i++)
        if (strcmp(name, rp_mx_info[i].name) == 0) return i;
    return -1;
}

const char *rp_mx_format_names(void) { return mx_names + 2; }

int64_t rp_mx_row_bytes(int mx, int64_t K) { return rp_mx_info[mx].packed ? (K + 1) / 2 : K; }
int64_t rp_mx_row_blocks(int64_t K) { return (K + RP_MX_BLOCK - 1) / RP_MX_BLOCK; }

/* The scale code of a block whose max |x| has bits a (NaN/inf: 0xFF). */
ALWAYS_INLINE uint32_t mx_scale_code(uint32_t a, int emax)
{
    if (a >= 0x7F800000u) return 0xFF;
    if (a == 0) return 0;
    int e = (int)(a >> 23) - 127;                 /* floor(log2) of a normal */
    if (a < 0x00800000u) e = (31 - __builtin_clz(a)) - 149; /* subnormal: a * 2^-149 */
    int E = e - emax;
    E = E < -127 ? -127 : E > 127 ? 127 : E;
    return (uint32_t)(E + 127);
}

/* One block of n <= 32 elements: codes (one per element, 32-bit lanes) and
 * the scale code. FMT is a constant at each call (FMT_DISPATCH). */
ALWAYS_INLINE uint32_t mx_block(uint32_t *c, const float *x, int n, int FMT, int emax)
{
    uint32_t a = 0;
    #pragma omp simd reduction(max : a)
    for (int i = 0; i < n; i++) {
        uint32_t b = f2u(x[i]) & 0x7FFFFFFFu;
        a = b > a ? b : a;
    }
    uint32_t sc = mx_scale_code(a, emax);
    /* 1/X = 2^(127 - sc) is exact in f32 for sc in [0, 254] (2^127 down to
     * 2^-127, a subnormal); the product is exact or flushes far below the
     * element format's smallest subnormal. */
    int k = 127 - (int)sc;
    float inv = sc == 0xFF ? 1.0f : k >= -126 ? u2f((uint32_t)(k + 127) << 23) : u2f(0x00400000u);
    #pragma omp simd
    for (int i = 0; i < n; i++) c[i] = enc32(FMT, f2u(x[i] * inv), true);
    return sc;
}

ALWAYS_INLINE void mx_rows(uint8_t *codes, uint8_t *scales, const float *in, int64_t r0, int64_t r1,
                           int64_t K, int FMT, int emax, bool packed)
{
    const int64_t nb = rp_mx_row_blocks(K), rb = packed ? (K + 1) / 2 : K;
    uint32_t c[RP_MX_BLOCK];
    for (int64_t r = r0; r < r1; r++) {
        const float *x = in + r * K;
        uint8_t *cr = codes + r * rb;
        for (int64_t b = 0; b < nb; b++) {
            int n = (int)(K - b * RP_MX_BLOCK < RP_MX_BLOCK ? K - b * RP_MX_BLOCK : RP_MX_BLOCK);
            scales[r * nb + b] = (uint8_t)mx_block(c, x + b * RP_MX_BLOCK, n, FMT, emax);
            if (packed) {
                uint8_t *o = cr + b * (RP_MX_BLOCK / 2);
                for (int i = 0; i + 1 < n; i += 2) o[i / 2] = (uint8_t)(c[i] | c[i + 1] << 4);
                if (n & 1) o[n / 2] = (uint8_t)c[n - 1];
            } else {
                uint8_t *o = cr + b * RP_MX_BLOCK;
                for (int i = 0; i < n; i++) o[i] = (uint8_t)c[i];
            }
        }
    }
}

HOT_CLONES static void mx_range(uint8_t *codes, uint8_t *scales, const float *in, int64_t r0,
                                int64_t r1, int64_t K, int mx)
{
    const int fmt = rp_mx_info[mx].elem, emax = rp_mx_info[mx].emax;
    const bool packed = rp_mx_info[mx].packed;
    FMT_DISPATCH(mx_rows(codes, scales, in, r0, r1, K, F_, emax, packed))
}

void rp_mx_quantize_f32(uint8_t *codes, uint8_t *scales, float *amax, const float *in, int64_t R,
                        int64_t K, int mx)
{
    if (mx < 0 || mx >= RP_NMX || R <= 0 || K <= 0) {
        if (amax) *amax = 0.0f;
        return;
    }
    #pragma omp parallel if (R * K > RP_PAR_MIN)
    {
        PAR_RANGE(R, lo, hi);
        mx_range(codes, scales, in, lo, hi, K, mx);
    }
    if (amax) *amax = rp_amax_f32(in, R * K);
}

ALWAYS_INLINE void mx_unrows(float *out, const uint8_t *codes, const uint8_t *scales, int64_t r0,
                             int64_t r1, int64_t K, int FMT, bool packed)
{
    const int64_t nb = rp_mx_row_blocks(K), rb = packed ? (K + 1) / 2 : K;
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *cr = codes + r * rb;
        float *y = out + r * K;
        for (int64_t b = 0; b < nb; b++) {
            int n = (int)(K - b * RP_MX_BLOCK < RP_MX_BLOCK ? K - b * RP_MX_BLOCK : RP_MX_BLOCK);
            uint32_t sc = scales[r * nb + b];
            /* 2^(sc-127): code 0 is the subnormal 2^-127 */
            float X = sc == 0xFF ? NAN : sc == 0 ? u2f(0x00400000u) : u2f(sc << 23);
            float *yb = y + b * RP_MX_BLOCK;
            if (packed) {
                const uint8_t *cb = cr + b * (RP_MX_BLOCK / 2);
                #pragma omp simd
                for (int i = 0; i < n; i++) yb[i] = dec(FMT, (cb[i / 2] >> (4 * (i & 1))) & 0xFu) * X;
            } else {
                const uint8_t *cb = cr + b * RP_MX_BLOCK;
                #pragma omp simd
                for (int i = 0; i < n; i++) yb[i] = dec(FMT, cb[i]) * X;
            }
        }
    }
}

HOT_CLONES static void mx_unrange(float *out, const uint8_t *codes, const uint8_t *scales, int64_t r0,
                                  int64_t r1, int64_t K, int mx)
{
    const int fmt = rp_mx_info[mx].elem;
    const bool packed = rp_mx_info[mx].packed;
    FMT_DISPATCH(mx_unrows(out, codes, scales, r0, r1, K, F_, packed))
}

void rp_mx_dequantize_f32(float *out, const uint8_t *codes, const uint8_t *scales, int64_t R,
                          int64_t K, int mx)
{
    if (mx < 0 || mx >= RP_NMX || R <= 0 || K <= 0) return;
    #pragma omp parallel if (R * K > RP_PAR_MIN)
    {
        PAR_RANGE(R, lo, hi);
        mx_unrange(out, codes, scales, lo, hi, K, mx);
    }
}
