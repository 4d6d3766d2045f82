/* fp8.c: the traits table, decode tables, the fast encoders, stochastic
 * rounding, fused quantization and the scaling recipes. */
#include "fp8.h"

#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

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

const rp_fp8_traits rp_fp8_info[RP_NFMT] = {
    [RP_FMT_E4M3FN] = {.name = "e4m3fn", .bits = 8, .ebits = 4, .mbits = 3, .bias = 7,
                       .is_signed = true, .has_inf = false, .nan = RP_NAN_ALLONES,
                       .has_negative_zero = true, .max = 448.0f, .min_normal = 0x1p-6f,
                       .min_subnormal = 0x1p-9f, .nan_code = 0x7F, .max_code = 0x7E,
                       .ovf_code = 0x7F},
    [RP_FMT_E5M2] = {.name = "e5m2", .bits = 8, .ebits = 5, .mbits = 2, .bias = 15,
                     .is_signed = true, .has_inf = true, .nan = RP_NAN_IEEE,
                     .has_negative_zero = true, .max = 57344.0f, .min_normal = 0x1p-14f,
                     .min_subnormal = 0x1p-16f, .nan_code = 0x7E, .max_code = 0x7B,
                     .ovf_code = 0x7C},
    [RP_FMT_E4M3FNUZ] = {.name = "e4m3fnuz", .bits = 8, .ebits = 4, .mbits = 3, .bias = 8,
                         .is_signed = true, .has_inf = false, .nan = RP_NAN_NEGZERO,
                         .has_negative_zero = false, .max = 240.0f, .min_normal = 0x1p-7f,
                         .min_subnormal = 0x1p-10f, .nan_code = 0x80, .max_code = 0x7F,
                         .ovf_code = 0x80},
    [RP_FMT_E5M2FNUZ] = {.name = "e5m2fnuz", .bits = 8, .ebits = 5, .mbits = 2, .bias = 16,
                         .is_signed = true, .has_inf = false, .nan = RP_NAN_NEGZERO,
                         .has_negative_zero = false, .max = 57344.0f, .min_normal = 0x1p-15f,
                         .min_subnormal = 0x1p-17f, .nan_code = 0x80, .max_code = 0x7F,
                         .ovf_code = 0x80},
    [RP_FMT_E4M3] = {.name = "e4m3", .bits = 8, .ebits = 4, .mbits = 3, .bias = 7,
                     .is_signed = true, .has_inf = true, .nan = RP_NAN_IEEE,
                     .has_negative_zero = true, .max = 240.0f, .min_normal = 0x1p-6f,
                     .min_subnormal = 0x1p-9f, .nan_code = 0x7C, .max_code = 0x77,
                     .ovf_code = 0x78},
    [RP_FMT_E3M4] = {.name = "e3m4", .bits = 8, .ebits = 3, .mbits = 4, .bias = 3,
                     .is_signed = true, .has_inf = true, .nan = RP_NAN_IEEE,
                     .has_negative_zero = true, .max = 15.5f, .min_normal = 0x1p-2f,
                     .min_subnormal = 0x1p-6f, .nan_code = 0x78, .max_code = 0x6F,
                     .ovf_code = 0x70},
    /* No zero and no subnormals: code 0 is 2^-127, the smallest value. */
    [RP_FMT_E8M0FNU] = {.name = "e8m0fnu", .bits = 8, .ebits = 8, .mbits = 0, .bias = 127,
                        .is_signed = false, .has_inf = false, .nan = RP_NAN_FF,
                        .has_negative_zero = false, .max = 0x1p127f, .min_normal = 0x1p-127f,
                        .min_subnormal = 0x1p-127f, .nan_code = 0xFF, .max_code = 0xFE,
                        .ovf_code = 0xFF},
    [RP_FMT_BF16] = {.name = "bf16", .bits = 16, .ebits = 8, .mbits = 7, .bias = 127,
                     .is_signed = true, .has_inf = true, .nan = RP_NAN_IEEE,
                     .has_negative_zero = true, .max = 0x1.FEp127f, .min_normal = 0x1p-126f,
                     .min_subnormal = 0x1p-133f},
    [RP_FMT_FP16] = {.name = "fp16", .bits = 16, .ebits = 5, .mbits = 10, .bias = 15,
                     .is_signed = true, .has_inf = true, .nan = RP_NAN_IEEE,
                     .has_negative_zero = true, .max = 65504.0f, .min_normal = 0x1p-14f,
                     .min_subnormal = 0x1p-24f},
};
_Static_assert(sizeof rp_fp8_info / sizeof rp_fp8_info[0] == RP_NFMT,
               "one traits entry per format");

int rp_fp8_format_from_name(const char *name)
{
    if (!name) return -1;
    for (int f = 0; f < RP_NFMT; f++)
        if (strcmp(name, rp_fp8_info[f].name) == 0) return f;
    return -1;
}

const char *rp_fp8_format_names(void)
{
    return "e4m3fn, e5m2, e4m3fnuz, e5m2fnuz, e4m3, e3m4, e8m0fnu, bf16, fp16";
}

float rp_fp8_format_max(int fmt)
{
    return fmt >= 0 && fmt < RP_NFMT ? rp_fp8_info[fmt].max : 0.0f;
}

bool rp_fp8_is_8bit(int fmt) { return fmt >= 0 && fmt < RP_NFMT && rp_fp8_info[fmt].bits == 8; }

/* ---- bit helpers ---- */

ALWAYS_INLINE uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
ALWAYS_INLINE float u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* ---- decode tables ---- */

static float tables[RP_FMT_E8M0FNU + 1][256];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static float decode_formula(int fmt, unsigned c)
{
    const rp_fp8_traits *t = &rp_fp8_info[fmt];
    if (fmt == RP_FMT_E8M0FNU) return c == 0xFF ? NAN : ldexpf(1.0f, (int)c - 127);
    int m = t->mbits, emax = (1 << t->ebits) - 1;
    unsigned sign = c >> 7, e = (c >> m) & (unsigned)emax, mant = c & ((1u << m) - 1);
    /* NaN decodes with the code's sign bit, as ml_dtypes does (so the fnuz NaN
     * 0x80 gives -NaN). */
    float nan = sign ? -NAN : NAN;
    switch (t->nan) {
    case RP_NAN_IEEE:
        if ((int)e == emax) return mant ? nan : (sign ? -INFINITY : INFINITY);
        break;
    case RP_NAN_ALLONES:
        if ((c & 0x7F) == 0x7F) return nan;
        break;
    case RP_NAN_NEGZERO:
        if (c == 0x80) return nan;
        break;
    case RP_NAN_FF: break;
    }
    float v = e == 0 ? ldexpf((float)mant, 1 - t->bias - m)
                     : ldexpf((float)((1u << m) | mant), (int)e - t->bias - m);
    return sign ? -v : v;
}

static void init_tables(void)
{
    for (int f = 0; f <= RP_FMT_E8M0FNU; f++)
        for (unsigned c = 0; c < 256; c++) tables[f][c] = decode_formula(f, c);
}

const float *rp_fp8_table(int fmt)
{
    if (!rp_fp8_is_8bit(fmt)) return NULL;
    pthread_once(&tables_once, init_tables);
    return tables[fmt];
}

/* ---- the fast encoders ----
 * Sign-magnitude formats: above the target's smallest normal, round the f32
 * bit pattern at bit S = 23-m with a ties-to-even bias (the carry moves into
 * the exponent by itself); below it, adding C = 2^(24-bias-m), whose ulp is
 * the target's subnormal spacing, makes the FPU round to the subnormal grid
 * (one IEEE addition, so exactly RNE). Both paths are computed and selected,
 * which lets the loop vectorize. */
ALWAYS_INLINE uint8_t enc_sm(uint32_t u, int m, int bias, uint32_t maxc, uint32_t ovf,
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
    return (uint8_t)(mag | sb);
}

/* e8m0fnu: ml_dtypes rounds on the implicit bit, so ties go up; below 2^-126
 * its denormal path gives 0x00 (2^-127) up to 2^-127 and 0x01 above. */
ALWAYS_INLINE uint8_t enc_e8m0(uint32_t u, bool sat)
{
    uint32_t a = u & 0x7FFFFFFFu;
    uint32_t c = a < 0x00800000u ? (uint32_t)(a > 0x00400000u) : (a + 0x00400000u) >> 23;
    c = c > 0xFEu ? (sat ? 0xFEu : 0xFFu) : c;
    c = (a == 0 || (u >> 31)) ? (sat ? 0x00u : 0xFFu) : c;
    c = a > 0x7F800000u ? 0xFFu : c;
    return (uint8_t)c;
}

/* fmt is a constant at every call site that matters, so the switch folds. */
ALWAYS_INLINE uint8_t enc(int fmt, uint32_t u, bool sat)
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

uint8_t rp_fp8_encode1(float x, int fmt, bool saturate) { return enc(fmt, f2u(x), saturate); }

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

HOT_CLONES static void encode_range(uint8_t *out, const float *in, int64_t n, int fmt, float scale, bool sat)
{
    if (sat) { FMT_DISPATCH(encode_loop(out, in, n, F_, scale, true)) }
    else { FMT_DISPATCH(encode_loop(out, in, n, F_, scale, false)) }
}

void rp_fp8_encode_f32(uint8_t *out, const float *in, int64_t n, int fmt, float scale, bool saturate)
{
    #pragma omp parallel if (n > PAR_MIN)
    {
        PAR_RANGE(n, lo, hi);
        encode_range(out + lo, in + lo, hi - lo, fmt, scale, saturate);
    }
}

void rp_fp8_decode_f32(float *out, const uint8_t *in, int64_t n, int fmt, float inv_scale)
{
    const float *tab = rp_fp8_table(fmt);
    if (!tab) return;
    #pragma omp parallel for schedule(static) if (n > PAR_MIN)
    for (int64_t i = 0; i < n; i++) out[i] = tab[in[i]] * inv_scale;
}

float rp_amax_f32(const float *in, int64_t n)
{
    /* Max of the |x| bit patterns: monotone for non-NaN floats and every NaN
     * pattern is above +inf, so NaN propagates; integer max is exact in any
     * order, hence independent of the thread count. */
    uint32_t m = 0;
    #pragma omp parallel for simd schedule(static) reduction(max : m) if (n > PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        uint32_t a = f2u(in[i]) & 0x7FFFFFFFu;
        m = a > m ? a : m;
    }
    return u2f(m);
}

/* ---- 16-bit formats and casts ---- */

static float cast16(float x, int fmt, bool sat)
{
    const rp_fp8_traits *t = &rp_fp8_info[fmt];
    uint32_t u = f2u(x), s = u & 0x80000000u, a = u & 0x7FFFFFFFu;
    if (a > 0x7F800000u) return u2f(s | 0x7FC00000u); /* quiet NaN, sign kept */
    const int m = t->mbits, bias = t->bias, S = 23 - m;
    float r;
    if (a < ((uint32_t)(128 - bias) << 23)) {
        float C = ldexpf(1.0f, 24 - bias - m);
        r = (u2f(a) + C) - C;
    } else {
        uint32_t q = a + ((a >> S) & 1u) + ((1u << (S - 1)) - 1u);
        r = u2f(q & ~((1u << S) - 1u));
    }
    if (r > t->max) r = sat ? t->max : INFINITY;
    return u2f(f2u(r) | s);
}

void rp_fp8_cast_f32(float *out, const float *in, int64_t n, int fmt, bool saturate)
{
    if (fmt == RP_FMT_BF16 || fmt == RP_FMT_FP16) {
        #pragma omp parallel for schedule(static) if (n > PAR_MIN)
        for (int64_t i = 0; i < n; i++) out[i] = cast16(in[i], fmt, saturate);
        return;
    }
    const float *tab = rp_fp8_table(fmt);
    if (!tab) return;
    #pragma omp parallel for schedule(static) if (n > PAR_MIN)
    for (int64_t i = 0; i < n; i++) out[i] = tab[enc(fmt, f2u(in[i]), saturate)];
}

/* ---- stochastic rounding ---- */

/* Magnitude code for a finite nonzero |x| (bits a) rounded up with
 * probability frac, using the random word w. -1 marks "use RNE" (specials). */
static int64_t sr_mag(uint32_t a, int fmt, uint32_t w)
{
    const rp_fp8_traits *t = &rp_fp8_info[fmt];
    const int m = t->mbits, bias = t->bias, S = 23 - m;
    if (fmt == RP_FMT_E8M0FNU) {
        if (a >= 0x00800000u) return (int64_t)((a + (w >> 9)) >> 23);
        if (a <= 0x00400000u) return 0; /* nothing below 2^-127 */
        /* linear between 2^-127 (code 0) and 2^-126 (code 1) */
        return (uint64_t)(a - 0x00400000u) << 10 > (uint64_t)w ? 1 : 0;
    }
    if (a >= ((uint32_t)(128 - bias) << 23))
        return (int64_t)((a + (w >> (32 - S))) >> S) - ((int64_t)(127 - bias) << m);
    /* below the smallest normal: exact in double */
    double y = ldexp((double)u2f(a), bias + m - 1);
    double fl = floor(y), frac = y - fl;
    return (int64_t)fl + ((double)w < ldexp(frac, 32) ? 1 : 0);
}

static uint8_t enc_sr(float x, int fmt, bool sat, uint32_t w)
{
    const rp_fp8_traits *t = &rp_fp8_info[fmt];
    uint32_t u = f2u(x), a = u & 0x7FFFFFFFu, sign = u >> 31;
    if (a == 0 || a >= 0x7F800000u || (fmt == RP_FMT_E8M0FNU && sign)) return enc(fmt, u, sat);
    int64_t c = sr_mag(a, fmt, w);
    uint32_t mag = c > t->max_code ? (sat ? t->max_code : t->ovf_code) : (uint32_t)c;
    if (fmt == RP_FMT_E8M0FNU) return (uint8_t)mag;
    if (!t->has_negative_zero && mag == 0) return 0;
    return (uint8_t)(mag | (sign << 7));
}

static float cast16_sr(float x, int fmt, bool sat, uint32_t w)
{
    const rp_fp8_traits *t = &rp_fp8_info[fmt];
    uint32_t u = f2u(x), s = u & 0x80000000u, a = u & 0x7FFFFFFFu;
    if (a == 0 || a >= 0x7F800000u) return cast16(x, fmt, sat);
    const int m = t->mbits, bias = t->bias, S = 23 - m;
    float r;
    if (a >= ((uint32_t)(128 - bias) << 23)) {
        r = u2f((a + (w >> (32 - S))) & ~((1u << S) - 1u));
    } else {
        double y = ldexp((double)u2f(a), bias + m - 1), fl = floor(y);
        fl += (double)w < ldexp(y - fl, 32) ? 1.0 : 0.0;
        r = (float)ldexp(fl, 1 - bias - m);
    }
    if (r > t->max) r = sat ? t->max : INFINITY;
    return u2f(f2u(r) | s);
}

void rp_fp8_encode_sr_f32(uint8_t *out, const float *in, int64_t n, int fmt, float scale,
                          bool saturate, uint64_t seed, uint64_t base)
{
    if (!rp_fp8_is_8bit(fmt)) return;
    #pragma omp parallel for schedule(static) if (n > PAR_MIN / 8)
    for (int64_t i = 0; i < n; i++)
        out[i] = enc_sr(in[i] * scale, fmt, saturate, rp_rng_word(seed, base, (uint64_t)i));
}

void rp_fp8_cast_sr_f32(float *out, const float *in, int64_t n, int fmt, bool saturate,
                        uint64_t seed, uint64_t base)
{
    if (fmt == RP_FMT_BF16 || fmt == RP_FMT_FP16) {
        #pragma omp parallel for schedule(static) if (n > PAR_MIN / 8)
        for (int64_t i = 0; i < n; i++)
            out[i] = cast16_sr(in[i], fmt, saturate, rp_rng_word(seed, base, (uint64_t)i));
        return;
    }
    const float *tab = rp_fp8_table(fmt);
    if (!tab) return;
    #pragma omp parallel for schedule(static) if (n > PAR_MIN / 8)
    for (int64_t i = 0; i < n; i++)
        out[i] = tab[enc_sr(in[i], fmt, saturate, rp_rng_word(seed, base, (uint64_t)i))];
}

/* ---- quantization with statistics ---- */

/* Largest |x| bit pattern whose magnitude code satisfies pred (monotone). */
static uint32_t search_bits(int fmt, bool zero)
{
    const rp_fp8_traits *t = &rp_fp8_info[fmt];
    uint32_t lo = 0, hi = 0x7F800000u; /* invariant: lo satisfies, hi may not */
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        uint8_t c = enc(fmt, mid, false);
        uint32_t mag = fmt == RP_FMT_E8M0FNU ? c : (c & 0x7Fu);
        bool ok = zero ? mag == 0 : (c != t->ovf_code && mag <= t->max_code);
        if (ok) lo = mid; else hi = mid;
    }
    return lo;
}

typedef struct { uint32_t amax; int64_t nsat, nfl; } qacc;

/* Per block of 2^14 elements (64 KB, still in cache for the second loop):
 * one loop for the statistics (32-bit counters) and one for the codes; each
 * vectorizes at full width, the fused loop did not. */
ALWAYS_INLINE void quant_loop(uint8_t *out, qacc *acc, const float *in, int64_t n, int fmt,
                              float scale, bool sat, uint32_t sat_thr, uint32_t zero_thr)
{
    for (int64_t b = 0; b < n; b += (1 << 14)) {
        int64_t e = n - b < (1 << 14) ? n : b + (1 << 14);
        int32_t amax = (int32_t)acc->amax;
        uint32_t nsat = 0, nfl = 0;
        #pragma omp simd reduction(max : amax) reduction(+ : nsat, nfl)
        for (int64_t i = b; i < e; i++) {
            int32_t ax = (int32_t)(f2u(in[i]) & 0x7FFFFFFFu);
            amax = ax > amax ? ax : amax;
            int32_t ay = (int32_t)(f2u(in[i] * scale) & 0x7FFFFFFFu);
            nsat += (ay > (int32_t)sat_thr) & (ay <= 0x7F800000);
            nfl += (ax != 0) & (ay <= (int32_t)zero_thr);
        }
        encode_loop(out + b, in + b, e - b, fmt, scale, sat);
        acc->amax = (uint32_t)amax;
        acc->nsat += nsat;
        acc->nfl += nfl;
    }
}

HOT_CLONES static void quant_range(uint8_t *out, qacc *acc, const float *in, int64_t n, int fmt, float scale,
                        bool sat, uint32_t sat_thr, uint32_t zero_thr)
{
    if (sat) { FMT_DISPATCH(quant_loop(out, acc, in, n, F_, scale, true, sat_thr, zero_thr)) }
    else { FMT_DISPATCH(quant_loop(out, acc, in, n, F_, scale, false, sat_thr, zero_thr)) }
}

static void quant_stats_sr(uint8_t *out, rp_fp8_qstats *st, const float *in, int64_t n, int fmt,
                           float scale, bool sat, uint64_t seed, uint64_t base)
{
    const rp_fp8_traits *t = &rp_fp8_info[fmt];
    rp_fp8_encode_sr_f32(out, in, n, fmt, scale, sat, seed, base);
    int64_t nsat = 0, nfl = 0;
    for (int64_t i = 0; i < n; i++) {
        uint8_t c = out[i];
        float y = in[i] * scale;
        if (isnan(y)) continue;
        bool ovf;
        if (sat) ovf = fabsf(y) > t->max;
        else if (fmt == RP_FMT_E8M0FNU) ovf = c == 0xFF && y > 0.0f;
        else if (!t->has_negative_zero) ovf = c == 0x80;
        else ovf = (c & 0x7Fu) == t->ovf_code;
        nsat += ovf;
        bool zero = fmt == RP_FMT_E8M0FNU ? y == 0.0f
                  : t->has_negative_zero ? (c & 0x7Fu) == 0 : c == 0;
        nfl += in[i] != 0.0f && zero;
    }
    st->amax = rp_amax_f32(in, n);
    st->saturated = nsat;
    st->flushed = nfl;
}

void rp_fp8_quantize_f32(uint8_t *codes, rp_fp8_qstats *st, const float *in, int64_t n,
                         int fmt, float scale, bool saturate, bool sr, uint64_t seed,
                         uint64_t base)
{
    st->scale = scale;
    st->numel = n;
    if (sr) {
        quant_stats_sr(codes, st, in, n, fmt, scale, saturate, seed, base);
        return;
    }
    uint32_t sat_thr = search_bits(fmt, false);
    /* e8m0fnu has no zero: only a product that underflowed to 0 counts. */
    uint32_t zero_thr = fmt == RP_FMT_E8M0FNU ? 0 : search_bits(fmt, true);
    qacc tot = {0, 0, 0};
    /* max and integer sums are exact in any order: thread-count independent */
    #pragma omp parallel if (n > PAR_MIN)
    {
        PAR_RANGE(n, lo, hi);
        qacc acc = {0, 0, 0};
        quant_range(codes + lo, &acc, in + lo, hi - lo, fmt, scale, saturate, sat_thr, zero_thr);
        #pragma omp critical(rp_fp8_quant)
        {
            tot.amax = acc.amax > tot.amax ? acc.amax : tot.amax;
            tot.nsat += acc.nsat;
            tot.nfl += acc.nfl;
        }
    }
    st->amax = u2f(tot.amax);
    st->saturated = tot.nsat;
    st->flushed = tot.nfl;
}

static void quant_rowcol(uint8_t *codes, rp_fp8_qstats *st, const float *in, int64_t R,
                         int64_t C, int fmt, const float *scales, bool sat, bool rows)
{
    uint32_t sat_thr = search_bits(fmt, false);
    uint32_t zero_thr = fmt == RP_FMT_E8M0FNU ? 0 : search_bits(fmt, true);
    uint32_t amax = 0;
    int64_t nsat = 0, nfl = 0;
    #pragma omp parallel for schedule(static) reduction(max : amax) reduction(+ : nsat, nfl) if (R * C > PAR_MIN)
    for (int64_t r = 0; r < R; r++)
        for (int64_t c = 0; c < C; c++) {
            int64_t i = r * C + c;
            uint32_t ax = f2u(in[i]) & 0x7FFFFFFFu;
            amax = ax > amax ? ax : amax;
            uint32_t uy = f2u(in[i] * scales[rows ? r : c]), ay = uy & 0x7FFFFFFFu;
            codes[i] = enc(fmt, uy, sat);
            nsat += (ay > sat_thr) & (ay <= 0x7F800000u);
            nfl += (ax != 0) & (ay <= zero_thr);
        }
    st->amax = u2f(amax);
    st->scale = 0.0f;
    st->saturated = nsat;
    st->flushed = nfl;
    st->numel = R * C;
}

void rp_fp8_quantize_rows_f32(uint8_t *codes, rp_fp8_qstats *st, const float *in, int64_t R,
                              int64_t C, int fmt, const float *scales, bool saturate)
{
    quant_rowcol(codes, st, in, R, C, fmt, scales, saturate, true);
}

void rp_fp8_quantize_cols_f32(uint8_t *codes, rp_fp8_qstats *st, const float *in, int64_t R,
                              int64_t C, int fmt, const float *scales, bool saturate)
{
    quant_rowcol(codes, st, in, R, C, fmt, scales, saturate, false);
}

void rp_amax_rows_f32(float *out, const float *in, int64_t R, int64_t C)
{
    #pragma omp parallel for schedule(static) if (R * C > PAR_MIN)
    for (int64_t r = 0; r < R; r++) out[r] = rp_amax_f32(in + r * C, C);
}

void rp_amax_cols_f32(float *out, const float *in, int64_t R, int64_t C)
{
    uint32_t *m = calloc((size_t)(C > 0 ? C : 1), sizeof *m);
    if (!m) { /* fall back to a slow column walk rather than fail */
        for (int64_t c = 0; c < C; c++) {
            uint32_t mm = 0;
            for (int64_t r = 0; r < R; r++) {
                uint32_t a = f2u(in[r * C + c]) & 0x7FFFFFFFu;
                mm = a > mm ? a : mm;
            }
            out[c] = u2f(mm);
        }
        return;
    }
    for (int64_t r = 0; r < R; r++)
        for (int64_t c = 0; c < C; c++) {
            uint32_t a = f2u(in[r * C + c]) & 0x7FFFFFFFu;
            m[c] = a > m[c] ? a : m[c];
        }
    for (int64_t c = 0; c < C; c++) out[c] = u2f(m[c]);
    free(m);
}

/* ---- scaling recipes ---- */

float rp_fp8_current_scale(float amax, int fmt, float margin, bool pow2)
{
    if (!(amax > 0.0f) || !isfinite(amax)) return 1.0f;
    float s = (rp_fp8_format_max(fmt) / amax) / exp2f(margin);
    if (pow2 && isfinite(s) && s > 0.0f) s = exp2f(floorf(log2f(s)));
    return s;
}

rp_delayed_scaling *rp_delayed_scaling_new(int fmt, int history_len, float margin, int algo)
{
    if (fmt < 0 || fmt >= RP_NFMT) {
        rp_seterr("delayed_scaling: unknown format %d (valid: %s)", fmt, rp_fp8_format_names());
        return NULL;
    }
    if (history_len < 1 || history_len > (1 << 20)) {
        rp_seterr("delayed_scaling: history length %d (must be 1..%d)", history_len, 1 << 20);
        return NULL;
    }
    if (algo != RP_AMAX_MAX && algo != RP_AMAX_MOST_RECENT) {
        rp_seterr("delayed_scaling: unknown amax algorithm %d", algo);
        return NULL;
    }
    if (!isfinite(margin)) {
        rp_seterr("delayed_scaling: margin %g is not finite", (double)margin);
        return NULL;
    }
    rp_delayed_scaling *d = calloc(1, sizeof *d + (size_t)history_len * sizeof(float));
    if (!d) { rp_seterr("delayed_scaling: out of memory"); return NULL; }
    d->fmt = fmt;
    d->history_len = history_len;
    d->algo = algo;
    d->margin = margin;
    d->scale = 1.0f;
    return d;
}

void rp_delayed_scaling_update(rp_delayed_scaling *d, float amax)
{
    int n = d->history_len;
    float *h = d->amax_history;
    h[0] = amax;
    float a;
    if (d->algo == RP_AMAX_MAX) {
        /* torch.max propagates NaN; so does this */
        a = h[0];
        for (int i = 1; i < n; i++)
            if (isnan(h[i]) || h[i] > a) a = isnan(a) ? a : h[i];
    } else {
        a = h[0];
    }
    /* roll by -1 along the history, then clear the new slot 0 */
    if (n > 1) {
        float first = h[0];
        memmove(h, h + 1, (size_t)(n - 1) * sizeof *h);
        h[n - 1] = first;
    }
    h[0] = 0.0f;
    float s = (rp_fp8_format_max(d->fmt) / a) / exp2f(d->margin);
    if (a > 0.0f && isfinite(a)) d->scale = s;
}
