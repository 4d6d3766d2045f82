/* fp8_impl.h: what fp8.c and fp8_quant.c share and nothing else includes:
 * bit helpers, the inline vectorizable encoders, the per-format dispatch
 * and the thread split of the FP8 kernels. */
#ifndef RP_FP8_IMPL_H
#define RP_FP8_IMPL_H

#include "fp8.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* Every system header comes before the pragma below, which applies to the
 * functions defined after it (fp8.c and fp8_quant.c include this file after
 * their other headers). */

/* The encoders compute both the normal-range and the subnormal-range result
 * (one float addition) and select; with -ftrapping-math GCC refuses to
 * execute that addition speculatively, turns the select into a branch and
 * does not vectorize. Nothing here reads FP exception flags, and
 * -fno-trapping-math changes no IEEE result (unlike -ffast-math). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

#define ALWAYS_INLINE static inline __attribute__((always_inline))

/* The hot loops are also compiled for AVX2 and picked at load time (the
 * default build targets baseline x86-64, whose SSE2 lacks the 32-bit
 * compares/blends these loops use); integer and IEEE ops give identical
 * results on either path (contraction is off project-wide). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__AVX2__)
#define HOT_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define HOT_CLONES
#endif

/* The fused quantize-dequantize is RP_VECTOR_CLONES (AVX-512 too): 0.57 ns
 * per element against 0.81 for AVX2 (its selects and unsigned compares are
 * single instructions there); same bits on every path. */

/* ---- bit helpers ---- */

ALWAYS_INLINE uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
ALWAYS_INLINE float u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* ---- the fast encoders ----
 * Sign-magnitude formats: above the target's smallest normal, round the f32
 * bit pattern at bit S = 23-m with a ties-to-even bias (the carry moves into
 * the exponent by itself); below it, adding C = 2^(24-bias-m), whose ulp is
 * the target's subnormal spacing, makes the FPU round to the subnormal grid
 * (one IEEE addition, so exactly RNE). Both paths are computed and selected,
 * which lets the loop vectorize. */
ALWAYS_INLINE uint32_t enc_sm(uint32_t u, int e, int m, int bias, uint32_t maxc, uint32_t ovf,
                             uint32_t nanc, rp_nan_kind nan, bool sat, bool finite)
{
    const int S = 23 - m;
    const uint32_t minnorm = (uint32_t)(128 - bias) << 23;
    const float C = u2f((uint32_t)(127 + 24 - bias - m) << 23);
    const bool fnuz = nan == RP_NAN_NEGZERO;
    /* |x| < 2^31, so signed compares are exact (and native in SSE2) */
    uint32_t sign = (u >> 31) << (e + m), a = u & 0x7FFFFFFFu;
    uint32_t r = a + ((a >> S) & 1u) + ((1u << (S - 1)) - 1u);
    int32_t cn = (int32_t)(r >> S) - ((127 - bias) << m);
    int32_t cs = (int32_t)(f2u(u2f(a) + C) - f2u(C));
    int32_t c = (int32_t)a < (int32_t)minnorm ? cs : cn;
    uint32_t mag = c > (int32_t)maxc ? (sat ? maxc : ovf) : (uint32_t)c;
    uint32_t sb;
    if (finite) { /* the caller knows u is not NaN: the NaN selects are identities */
        sb = fnuz ? (mag != 0 ? sign : 0) : sign;
        return mag | sb;
    }
    mag = (int32_t)a > 0x7F800000 ? nanc : mag;
    sb = fnuz ? (mag != 0 ? sign : 0) : sign;
    /* finite-only formats: NaN is ml_dtypes' quiet_NaN() (the -0 code, nanc),
     * negated for -NaN (so the +0 code) */
    if (nan == RP_NAN_NONE) sb = (int32_t)a > 0x7F800000 ? (sign ^ nanc) : sb;
    if (nan == RP_NAN_NONE) mag = (int32_t)a > 0x7F800000 ? 0 : mag;
    return mag | sb; /* < 256 */
}

/* e8m0fnu: ml_dtypes rounds on the implicit bit, so ties go up; below 2^-126
 * its denormal path gives 0x00 (2^-127) up to 2^-127 and 0x01 above. */
ALWAYS_INLINE uint32_t enc_e8m0(uint32_t u, bool sat)
{
    uint32_t a = u & 0x7FFFFFFFu;
    uint32_t c = a < 0x00800000u ? (uint32_t)(a > 0x00400000u) : (a + 0x00400000u) >> 23;
    c = c > 0xFEu ? (sat ? 0xFEu : 0xFFu) : c;
    c = (a == 0 || (u >> 31)) ? (sat ? 0x00u : 0xFFu) : c;
    c = a > 0x7F800000u ? 0xFFu : c;
    return c; /* < 256 */
}

/* One format's encoder, from its RP_FORMATS row (constants at every call). */
ALWAYS_INLINE uint32_t enc_row(int bits, int e, int m, int bias, rp_nan_kind nan, uint32_t u,
                               bool sat, bool finite)
{
    if (bits > 8) return 0; /* bf16/fp16: no codes */
    if (nan == RP_NAN_FF) return enc_e8m0(u, sat);
    return enc_sm(u, e, m, bias, (uint32_t)RP_FMT_MAX_CODE(bits, e, m, nan),
                  (uint32_t)RP_FMT_OVF_CODE(bits, e, m, nan),
                  (uint32_t)RP_FMT_NAN_CODE(bits, e, m, nan), nan, sat, finite);
}

/* The code in a 32-bit lane (< 256): a loop that decodes it again at once
 * keeps every lane 32 bits wide, which vectorizes. fmt is a constant at
 * every call site that matters, so the switch folds. */
#define ENC_CASE_(ID, NAME, BITS, E, M, BIAS, NAN, ...)                        \
    case RP_FMT_##ID: return enc_row(BITS, E, M, BIAS, NAN, u, sat, finite);
ALWAYS_INLINE uint32_t enc32_x(int fmt, uint32_t u, bool sat, bool finite)
{
    switch (fmt) {
    RP_FORMATS(ENC_CASE_)
    default: return 0;
    }
}
#undef ENC_CASE_
ALWAYS_INLINE uint32_t enc32(int fmt, uint32_t u, bool sat) { return enc32_x(fmt, u, sat, false); }
/* For inputs known not to be NaN (finite or infinite): the same codes
 * without the NaN selects. */
ALWAYS_INLINE uint32_t enc32_nonan(int fmt, uint32_t u, bool sat) { return enc32_x(fmt, u, sat, true); }

ALWAYS_INLINE uint8_t enc(int fmt, uint32_t u, bool sat) { return (uint8_t)enc32(fmt, u, sat); }
/* value(code) of a sign-magnitude format by arithmetic instead of a table
 * lookup (which does not vectorize): the same bits as rp_fp8_table,
 * including the table's NaN (quiet, the code's sign) and -0. */
ALWAYS_INLINE float dec_sm(uint32_t c, int ebits, int m, int bias, rp_nan_kind nan)
{
    const int emax = (1 << ebits) - 1, sb = ebits + m;
    const uint32_t magmask = (1u << sb) - 1u;
    uint32_t sign = (c >> sb) << 31, mag = c & magmask, e = mag >> m;
    uint32_t normal = (mag << (23 - m)) + ((uint32_t)(127 - bias) << 23);
    uint32_t sub = f2u((float)(int32_t)mag * u2f((uint32_t)(127 + 1 - bias - m) << 23));
    uint32_t v = e == 0 ? sub : normal;
    if (nan == RP_NAN_IEEE) v = (int)e == emax ? ((mag & ((1u << m) - 1)) ? 0x7FC00000u : 0x7F800000u) : v;
    if (nan == RP_NAN_ALLONES) v = mag == magmask ? 0x7FC00000u : v;
    if (nan == RP_NAN_NEGZERO) v = c == (1u << sb) ? 0x7FC00000u : v;
    return u2f(v | sign);
}

/* e8m0fnu: 2^(c-127), code 0 is the f32 subnormal 2^-127, 0xFF NaN. */
ALWAYS_INLINE float dec_e8m0(uint32_t c)
{
    uint32_t v = c == 0 ? 0x00400000u : c << 23;
    return u2f(c == 0xFFu ? 0x7FC00000u : v);
}

/* One format's decoder, from its RP_FORMATS row (valid codes only). */
ALWAYS_INLINE float dec_row(int bits, int e, int m, int bias, rp_nan_kind nan, uint32_t c)
{
    if (bits > 8) return 0.0f;
    if (nan == RP_NAN_FF) return dec_e8m0(c);
    return dec_sm(c, e, m, bias, nan);
}

#define DEC_CASE_(ID, NAME, BITS, E, M, BIAS, NAN, ...)                        \
    case RP_FMT_##ID: return dec_row(BITS, E, M, BIAS, NAN, c);
ALWAYS_INLINE float dec(int fmt, uint32_t c)
{
    switch (fmt) {
    RP_FORMATS(DEC_CASE_)
    default: return 0.0f;
    }
}
#undef DEC_CASE_

/* OpenMP outlines a parallel loop body into a function that reads fmt and
 * sat from memory, which defeats constant folding and vectorization. So a
 * parallel region only splits [0, n) into one contiguous range per thread,
 * and each range runs through a plain function whose loops are specialised
 * per format by FMT_DISPATCH (a literal fmt) and vectorized with omp simd. */
#define PAR_RANGE(n, lo, hi)                                                   \
    int nt_ = omp_get_num_threads(), t_ = omp_get_thread_num();                \
    int64_t lo = (n) * t_ / nt_, hi = (n) * (t_ + 1) / nt_

/* One case per format index (formats without codes skip CALL at run time);
 * CALL names the format F_, a constant in each case. */
#define FMT_CASE_(K, CALL)                                                     \
    case K:                                                                    \
        if ((K) < RP_NFMT && rp_fp8_info[(K) < RP_NFMT ? (K) : 0].bits <= 8) { \
            const int F_ = (K);                                                \
            CALL;                                                              \
        }                                                                      \
        break;
#define FMT_DISPATCH(CALL)                                                     \
    switch (fmt) {                                                             \
    FMT_CASE_(0, CALL)                                                          \
    FMT_CASE_(1, CALL)                                                          \
    FMT_CASE_(2, CALL)                                                          \
    FMT_CASE_(3, CALL)                                                          \
    FMT_CASE_(4, CALL)                                                          \
    FMT_CASE_(5, CALL)                                                          \
    FMT_CASE_(6, CALL)                                                          \
    FMT_CASE_(7, CALL)                                                          \
    FMT_CASE_(8, CALL)                                                          \
    FMT_CASE_(9, CALL)                                                          \
    FMT_CASE_(10, CALL)                                                          \
    FMT_CASE_(11, CALL)                                                          \
    FMT_CASE_(12, CALL)                                                          \
    FMT_CASE_(13, CALL)                                                          \
    FMT_CASE_(14, CALL)                                                          \
    FMT_CASE_(15, CALL)                                                          \
    default: break;                                                            \
    }
_Static_assert(RP_NFMT <= 16, "FMT_DISPATCH has 16 cases: add more");

ALWAYS_INLINE void encode_loop(uint8_t *out, const float *in, int64_t n, int fmt, float scale,
                               bool sat)
{
    #pragma omp simd
    for (int64_t i = 0; i < n; i++) out[i] = enc(fmt, f2u(in[i] * scale), sat);
}

#endif
