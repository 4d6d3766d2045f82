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
ALWAYS_INLINE uint32_t enc_sm(uint32_t u, int m, int bias, uint32_t maxc, uint32_t ovf,
                             uint32_t nanc, bool fnuz, bool sat)
{
    const int S = 23 - m;
    const uint32_t minnorm = (uint32_t)(128 - bias) << 23;
    const float C = u2f((uint32_t)(127 + 24 - bias - m) << 23);
    /* |x| < 2^31, so signed compares are exact (and native in SSE2) */
    uint32_t sign = (u >> 24) & 0x80u, a = u & 0x7FFFFFFFu;
    uint32_t r = a + ((a >> S) & 1u) + ((1u << (S - 1)) - 1u);
    int32_t cn = (int32_t)(r >> S) - ((127 - bias) << m);
    int32_t cs = (int32_t)(f2u(u2f(a) + C) - f2u(C));
    int32_t c = (int32_t)a < (int32_t)minnorm ? cs : cn;
    uint32_t mag = c > (int32_t)maxc ? (sat ? maxc : ovf) : (uint32_t)c;
    mag = (int32_t)a > 0x7F800000 ? nanc : mag;
    uint32_t sb = fnuz ? (mag != 0 ? sign : 0) : sign;
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

/* The code in a 32-bit lane (< 256): a loop that decodes it again at once
 * keeps every lane 32 bits wide, which vectorizes. fmt is a constant at
 * every call site that matters, so the switch folds. */
ALWAYS_INLINE uint32_t enc32(int fmt, uint32_t u, bool sat)
{
    switch (fmt) {
    case RP_FMT_E4M3FN: return enc_sm(u, 3, 7, 0x7E, 0x7F, 0x7F, false, sat);
    case RP_FMT_E5M2: return enc_sm(u, 2, 15, 0x7B, 0x7C, 0x7E, false, sat);
    case RP_FMT_E4M3FNUZ: return enc_sm(u, 3, 8, 0x7F, 0x80, 0x80, true, sat);
    case RP_FMT_E5M2FNUZ: return enc_sm(u, 2, 16, 0x7F, 0x80, 0x80, true, sat);
    case RP_FMT_E4M3: return enc_sm(u, 3, 7, 0x77, 0x78, 0x7C, false, sat);
    case RP_FMT_E3M4: return enc_sm(u, 4, 3, 0x6F, 0x70, 0x78, false, sat);
    default: return enc_e8m0(u, sat);
    }
}

ALWAYS_INLINE uint8_t enc(int fmt, uint32_t u, bool sat) { return (uint8_t)enc32(fmt, u, sat); }
#define PAR_MIN 65536

/* OpenMP outlines a parallel loop body into a function that reads fmt and
 * sat from memory, which defeats constant folding and vectorization. So a
 * parallel region only splits [0, n) into one contiguous range per thread,
 * and each range runs through a plain function whose loops are specialised
 * per format by FMT_DISPATCH (a literal fmt) and vectorized with omp simd. */
#define PAR_RANGE(n, lo, hi)                                                   \
    int nt_ = omp_get_num_threads(), t_ = omp_get_thread_num();                \
    int64_t lo = (n) * t_ / nt_, hi = (n) * (t_ + 1) / nt_

#define FMT_DISPATCH(CALL)                                                     \
    switch (fmt) {                                                             \
    case RP_FMT_E4M3FN: { const int F_ = RP_FMT_E4M3FN; CALL; } break;         \
    case RP_FMT_E5M2: { const int F_ = RP_FMT_E5M2; CALL; } break;             \
    case RP_FMT_E4M3FNUZ: { const int F_ = RP_FMT_E4M3FNUZ; CALL; } break;     \
    case RP_FMT_E5M2FNUZ: { const int F_ = RP_FMT_E5M2FNUZ; CALL; } break;     \
    case RP_FMT_E4M3: { const int F_ = RP_FMT_E4M3; CALL; } break;             \
    case RP_FMT_E3M4: { const int F_ = RP_FMT_E3M4; CALL; } break;             \
    case RP_FMT_E8M0FNU: { const int F_ = RP_FMT_E8M0FNU; CALL; } break;       \
    default: break;                                                            \
    }

ALWAYS_INLINE void encode_loop(uint8_t *out, const float *in, int64_t n, int fmt, float scale,
                               bool sat)
{
    #pragma omp simd
    for (int64_t i = 0; i < n; i++) out[i] = enc(fmt, f2u(in[i] * scale), sat);
}

#endif
