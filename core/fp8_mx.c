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

/* ---- quantize ----
 * A row goes in chunks of up to MX_CHUNK blocks, each in three vectorizable
 * passes: the blocks' max |x|, their scale codes and reciprocal scales (all
 * lanes at once, selects instead of branches), then the element codes with
 * one scale per block. A chunk (8 KB of input) stays in L1 between passes. */
#define MX_CHUNK 64

/* Scale code of a block whose max |x| has bits a, as the spec says:
 * floor(log2(amax)) - emax, biased by 127 and clamped to e8m0's range; 0 for
 * an all-zero block, 0xFF (NaN) for a block holding inf or NaN. The biased
 * exponent field is floor(log2) + 127 for a normal amax; a subnormal amax
 * reads as -127 instead of its floor(log2) (below -127), which changes
 * nothing: with emax >= 0 both clamp to code 0. */
ALWAYS_INLINE uint32_t mx_scale_code(uint32_t a, int emax)
{
    int e = (int)(a >> 23) - 127;
    int E = e - emax;
    E = E < -127 ? -127 : E > 127 ? 127 : E;
    uint32_t sc = (uint32_t)(E + 127);
    sc = a == 0 ? 0 : sc;
    return a >= 0x7F800000u ? 0xFFu : sc;
}

/* 1/X = 2^(127 - sc) for a scale code: exact in f32 for sc in [0, 254]
 * (2^127 down to 2^-127, a subnormal); the product x * (1/X) is exact or
 * flushes far below the element format's smallest subnormal. NaN/inf blocks
 * (sc 0xFF) encode x itself (NaN and inf codes). */
ALWAYS_INLINE float mx_inv(uint32_t sc)
{
    uint32_t b = sc <= 253u ? (254u - sc) << 23 : 0x00400000u;
    return u2f(sc == 0xFFu ? 0x3F800000u : b);
}

/* X = 2^(sc - 127): code 0 is the subnormal 2^-127, 0xFF NaN. */
ALWAYS_INLINE float mx_scale(uint32_t sc)
{
    return sc == 0xFF ? NAN : sc == 0 ? u2f(0x00400000u) : u2f(sc << 23);
}

/* Max |x| bit pattern of n elements (NaN patterns are above inf's). Eight
 * running maxima in lanes: GCC leaves a one-accumulator max reduction of 32
 * elements scalar. */
ALWAYS_INLINE uint32_t mx_amax_bits(const float *x, int n)
{
    uint32_t l[8] = {0, 0, 0, 0, 0, 0, 0, 0}, a = 0;
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) {
            uint32_t b = f2u(x[i + j]) & 0x7FFFFFFFu;
            l[j] = b > l[j] ? b : l[j];
        }
    for (; i < n; i++) {
        uint32_t b = f2u(x[i]) & 0x7FFFFFFFu;
        a = b > a ? b : a;
    }
    for (int j = 0; j < 8; j++) a = l[j] > a ? l[j] : a;
    return a;
}

/* The codes of one block of n <= 32 elements scaled by inv. Called with
 * n = RP_MX_BLOCK, a constant, for every whole block, so each loop has a
 * fixed trip count and vectorizes without a remainder. Codes are computed in
 * 32-bit lanes (one lane width: it vectorizes), narrowed to bytes, and for
 * mxfp4 packed two per byte, element 2j in the low nibble: reading a byte
 * pair as the 16-bit little-endian w = lo | hi << 8, the packed byte is
 * (w & 0x0F) | (w >> 4 & 0xF0), a 16-bit lane operation. A block whose
 * scale is not NaN holds no NaN (its max |x| is below inf), so its elements
 * take the encoder without NaN selects: one test per block, not per element. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "mxfp4 packing reads byte pairs as little-endian 16-bit lanes");

ALWAYS_INLINE void mx_encode(uint8_t *o, const float *x, int n, float inv, int FMT, bool packed,
                             bool nonan)
{
    uint8_t b8[RP_MX_BLOCK] = {0};
    if (!packed) {
        if (nonan) {
            #pragma omp simd
            for (int i = 0; i < n; i++) o[i] = (uint8_t)enc32_nonan(FMT, f2u(x[i] * inv), true);
        } else {
            #pragma omp simd
            for (int i = 0; i < n; i++) o[i] = (uint8_t)enc32(FMT, f2u(x[i] * inv), true);
        }
        return;
    }
    if (nonan) {
        #pragma omp simd
        for (int i = 0; i < n; i++) b8[i] = (uint8_t)enc32_nonan(FMT, f2u(x[i] * inv), true);
    } else {
        #pragma omp simd
        for (int i = 0; i < n; i++) b8[i] = (uint8_t)enc32(FMT, f2u(x[i] * inv), true);
    }
    if (n & 1) b8[n] = 0;
    uint16_t w[RP_MX_BLOCK / 2];
    memcpy(w, b8, sizeof w);
    #pragma omp simd
    for (int j = 0; j < (n + 1) / 2; j++) o[j] = (uint8_t)((w[j] & 0x0Fu) | (w[j] >> 4 & 0xF0u));
}

/* Blocks [0, nblk) of one row starting at x (the last one n_last long);
 * returns their max |x| bits, which make the tensor's amax, so the input is
 * read once. */
ALWAYS_INLINE uint32_t mx_chunk(uint8_t *o, uint8_t *scale, const float *x, int nblk, int n_last,
                                int FMT, int emax, bool packed)
{
    const int bb = packed ? RP_MX_BLOCK / 2 : RP_MX_BLOCK; /* code bytes per block */
    uint32_t am[MX_CHUNK], sc[MX_CHUNK], m = 0;
    float inv[MX_CHUNK];
    const int nfull = n_last == RP_MX_BLOCK ? nblk : nblk - 1;
    for (int b = 0; b < nfull; b++) am[b] = mx_amax_bits(x + b * RP_MX_BLOCK, RP_MX_BLOCK);
    if (nfull < nblk) am[nfull] = mx_amax_bits(x + nfull * RP_MX_BLOCK, n_last);
    #pragma omp simd reduction(max : m)
    for (int b = 0; b < nblk; b++) {
        sc[b] = mx_scale_code(am[b], emax);
        inv[b] = mx_inv(sc[b]);
        m = am[b] > m ? am[b] : m;
    }
    for (int b = 0; b < nblk; b++) scale[b] = (uint8_t)sc[b];
    /* While the codes are computed from L1, fetch the next chunk: its max
     * pass then finds it in cache instead of waiting on memory. (A prefetch
     * past the end of the input is harmless: it never faults.) */
    for (int b = 0; b < nfull; b++) {
        __builtin_prefetch(x + (MX_CHUNK + b) * RP_MX_BLOCK);
        __builtin_prefetch(x + (MX_CHUNK + b) * RP_MX_BLOCK + 16);
        mx_encode(o + b * bb, x + b * RP_MX_BLOCK, RP_MX_BLOCK, inv[b], FMT, packed, sc[b] != 0xFF);
    }
    if (nfull < nblk)
        mx_encode(o + nfull * bb, x + nfull * RP_MX_BLOCK, n_last, inv[nfull], FMT, packed,
                  sc[nfull] != 0xFF);
    return m;
}

ALWAYS_INLINE uint32_t mx_rows(uint8_t *codes, uint8_t *scales, const float *in, int64_t r0,
                               int64_t r1, int64_t K, int FMT, int emax, bool packed)
{
    const int64_t nb = rp_mx_row_blocks(K), rb = packed ? (K + 1) / 2 : K;
    const int bb = packed ? RP_MX_BLOCK / 2 : RP_MX_BLOCK;
    uint32_t m = 0;
    for (int64_t r = r0; r < r1; r++) {
        const float *x = in + r * K;
        uint8_t *cr = codes + r * rb, *sr = scales + r * nb;
        for (int64_t b0 = 0; b0 < nb; b0 += MX_CHUNK) {
            int nblk = (int)(nb - b0 < MX_CHUNK ? nb - b0 : MX_CHUNK);
            int64_t last = (b0 + nblk - 1) * RP_MX_BLOCK; /* first element of the chunk's last block */
            int n_last = (int)(K - last < RP_MX_BLOCK ? K - last : RP_MX_BLOCK);
            uint32_t a = mx_chunk(cr + b0 * bb, sr + b0, x + b0 * RP_MX_BLOCK, nblk, n_last, FMT,
                                  emax, packed);
            m = a > m ? a : m;
        }
    }
    return m;
}

HOT_CLONES static uint32_t mx_range(uint8_t *codes, uint8_t *scales, const float *in, int64_t r0,
                                    int64_t r1, int64_t K, int mx)
{
    const int fmt = rp_mx_info[mx].elem, emax = rp_mx_info[mx].emax;
    const bool packed = rp_mx_info[mx].packed;
    uint32_t m = 0;
    FMT_DISPATCH(m = mx_rows(codes, scales, in, r0, r1, K, F_, emax, packed))
    return m;
}

void rp_mx_quantize_f32(uint8_t *codes, uint8_t *scales, float *amax, const float *in, int64_t R,
                        int64_t K, int mx)
{
    if (mx < 0 || mx >= RP_NMX || R <= 0 || K <= 0) {
        if (amax) *amax = 0.0f;
        return;
    }
    /* amax is the max of the blocks' max |x| bits: a max is exact in any
     * order, so it is the same at any thread count (and as rp_amax_f32). */
    uint32_t m = 0;
    #pragma omp parallel if (R * K > RP_PAR_MIN) reduction(max : m)
    {
        PAR_RANGE(R, lo, hi);
        m = mx_range(codes, scales, in, lo, hi, K, mx);
    }
    if (amax) *amax = u2f(m);
}

/* ---- dequantize ---- */

/* One block of decoded values: decode(code) * X. Codes go through 32-bit
 * lanes so the decode loop has one lane width and vectorizes; mxfp4's bytes
 * are split into their two nibbles first (element 2j is the low one). */
ALWAYS_INLINE void mx_unblock(float *y, const uint8_t *cb, int n, float X, int FMT, bool packed)
{
    uint32_t c[RP_MX_BLOCK + 1];
    if (packed) {
        for (int j = 0; j < (n + 1) / 2; j++) {
            c[2 * j] = cb[j] & 0xFu;
            c[2 * j + 1] = cb[j] >> 4;
        }
    } else {
        for (int i = 0; i < n; i++) c[i] = cb[i];
    }
    #pragma omp simd
    for (int i = 0; i < n; i++) y[i] = dec(FMT, c[i]) * X;
}

ALWAYS_INLINE void mx_unrows(float *out, const uint8_t *codes, const uint8_t *scales, int64_t r0,
                             int64_t r1, int64_t K, int FMT, bool packed)
{
    const int64_t nb = rp_mx_row_blocks(K), rb = packed ? (K + 1) / 2 : K, nfull = K / RP_MX_BLOCK;
    const int bb = packed ? RP_MX_BLOCK / 2 : RP_MX_BLOCK;
    const int tail = (int)(K - nfull * RP_MX_BLOCK);
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *cr = codes + r * rb, *sr = scales + r * nb;
        float *y = out + r * K;
        for (int64_t b = 0; b < nfull; b++)
            mx_unblock(y + b * RP_MX_BLOCK, cr + b * bb, RP_MX_BLOCK, mx_scale(sr[b]), FMT, packed);
        if (tail)
            mx_unblock(y + nfull * RP_MX_BLOCK, cr + nfull * bb, tail, mx_scale(sr[nfull]), FMT, packed);
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
