/* fp8.c: the traits table, decode tables, the fast encoders and casts,
 * stochastic rounding and the scaling recipes (quantization with statistics
 * is in fp8_quant.c). */
#include "fp8.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>

#include "fp8_impl.h"

#define RP_TRAITS_ROW_(ID, NAME, BITS, E, M, BIAS, NAN, MAX, MINN, MINS, ST)                   \
    [RP_FMT_##ID] = {.name = NAME, .bits = BITS, .ebits = E, .mbits = M, .bias = BIAS,          \
                     .is_signed = (NAN) != RP_NAN_FF, .has_inf = (NAN) == RP_NAN_IEEE,          \
                     .nan = NAN,                                                                 \
                     .has_negative_zero = (NAN) != RP_NAN_NEGZERO && (NAN) != RP_NAN_FF,        \
                     .max = MAX, .min_normal = MINN, .min_subnormal = MINS,                      \
                     .nan_code = (uint8_t)RP_FMT_NAN_CODE(BITS, E, M, NAN),                      \
                     .max_code = (uint8_t)RP_FMT_MAX_CODE(BITS, E, M, NAN),                      \
                     .ovf_code = (uint8_t)RP_FMT_OVF_CODE(BITS, E, M, NAN), .safetensors = ST},
/* Derived from RP_FORMATS (fp8.h); e8m0fnu has no zero and no subnormals:
 * code 0 is 2^-127, the smallest value. */
const rp_fp8_traits rp_fp8_info[RP_NFMT] = {RP_FORMATS(RP_TRAITS_ROW_)};
#undef RP_TRAITS_ROW_
_Static_assert(sizeof rp_fp8_info / sizeof rp_fp8_info[0] == RP_NFMT,
               "one traits entry per format");

int rp_fp8_format_from_name(const char *name)
{
    if (!name) return -1;
    for (int f = 0; f < RP_NFMT; f++)
        if (strcmp(name, rp_fp8_info[f].name) == 0) return f;
    return -1;
}

#define RP_NAME_LIST_(ID, NAME, ...) ", " NAME
static const char format_names[] = RP_FORMATS(RP_NAME_LIST_);
#undef RP_NAME_LIST_

const char *rp_fp8_format_names(void) { return format_names + 2; }

float rp_fp8_format_max(int fmt)
{
    return fmt >= 0 && fmt < RP_NFMT ? rp_fp8_info[fmt].max : 0.0f;
}

const char *rp_fp8_safetensors_dtype(int fmt)
{
    return fmt >= 0 && fmt < RP_NFMT ? rp_fp8_info[fmt].safetensors : NULL;
}

int rp_fp8_format_from_safetensors(const char *dtype)
{
    if (!dtype) return -1;
    for (int f = 0; f < RP_NFMT; f++)
        if (rp_fp8_info[f].safetensors && strcmp(dtype, rp_fp8_info[f].safetensors) == 0) return f;
    return -1;
}

bool rp_fp8_is_8bit(int fmt) { return fmt >= 0 && fmt < RP_NFMT && rp_fp8_info[fmt].bits <= 8; }
/* ---- decode tables ---- */

static float tables[RP_NFMT][256];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static float decode_formula(int fmt, unsigned c)
{
    const rp_fp8_traits *t = &rp_fp8_info[fmt];
    if (c >= 1u << t->bits) return NAN; /* not a code of a sub-byte format */
    if (t->nan == RP_NAN_FF) return c == 0xFF ? NAN : ldexpf(1.0f, (int)c - 127);
    int m = t->mbits, emax = (1 << t->ebits) - 1, sb = t->ebits + m;
    unsigned sign = c >> sb, e = (c >> m) & (unsigned)emax, mant = c & ((1u << m) - 1);
    unsigned mag = c & ((1u << sb) - 1);
    /* NaN decodes with the code's sign bit, as ml_dtypes does (so the fnuz NaN
     * 0x80 gives -NaN). */
    float nan = sign ? -NAN : NAN;
    switch (t->nan) {
    case RP_NAN_IEEE:
        if ((int)e == emax) return mant ? nan : (sign ? -INFINITY : INFINITY);
        break;
    case RP_NAN_ALLONES:
        if (mag == (1u << sb) - 1) return nan;
        break;
    case RP_NAN_NEGZERO:
        if (c == 1u << sb) return nan;
        break;
    case RP_NAN_FF:
    case RP_NAN_NONE: break;
    }
    float v = e == 0 ? ldexpf((float)mant, 1 - t->bias - m)
                     : ldexpf((float)((1u << m) | mant), (int)e - t->bias - m);
    return sign ? -v : v;
}

static void init_tables(void)
{
    for (int f = 0; f < RP_NFMT; f++)
        if (rp_fp8_info[f].bits <= 8)
            for (unsigned c = 0; c < 256; c++) tables[f][c] = decode_formula(f, c);
}

const float *rp_fp8_table(int fmt)
{
    if (!rp_fp8_is_8bit(fmt)) return NULL;
    pthread_once(&tables_once, init_tables);
    return tables[fmt];
}
uint8_t rp_fp8_encode1(float x, int fmt, bool saturate) { return enc(fmt, f2u(x), saturate); }
HOT_CLONES static void encode_range(uint8_t *out, const float *in, int64_t n, int fmt, float scale, bool sat)
{
    if (sat) { FMT_DISPATCH(encode_loop(out, in, n, F_, scale, true)) }
    else { FMT_DISPATCH(encode_loop(out, in, n, F_, scale, false)) }
}

void rp_fp8_encode_f32(uint8_t *out, const float *in, int64_t n, int fmt, float scale, bool saturate)
{
    #pragma omp parallel if (n > RP_PAR_MIN)
    {
        PAR_RANGE(n, lo, hi);
        encode_range(out + lo, in + lo, hi - lo, fmt, scale, saturate);
    }
}

void rp_fp8_decode_f32(float *out, const uint8_t *in, int64_t n, int fmt, float inv_scale)
{
    const float *tab = rp_fp8_table(fmt);
    if (!tab) return;
    #pragma omp parallel for schedule(static) if (n > RP_PAR_MIN)
    for (int64_t i = 0; i < n; i++) out[i] = tab[in[i]] * inv_scale;
}

float rp_amax_f32(const float *in, int64_t n)
{
    /* Max of the |x| bit patterns: monotone for non-NaN floats and every NaN
     * pattern is above +inf, so NaN propagates; integer max is exact in any
     * order, hence independent of the thread count. */
    uint32_t m = 0;
    #pragma omp parallel for simd schedule(static) reduction(max : m) if (n > RP_PAR_MIN)
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
        #pragma omp parallel for schedule(static) if (n > RP_PAR_MIN)
        for (int64_t i = 0; i < n; i++) out[i] = cast16(in[i], fmt, saturate);
        return;
    }
    const float *tab = rp_fp8_table(fmt);
    if (!tab) return;
    #pragma omp parallel for schedule(static) if (n > RP_PAR_MIN)
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
    return (uint8_t)(mag | (sign << (t->ebits + t->mbits)));
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
    if (!rp_fp8_is_8bit(fmt) || n <= 0) return;
    /* Word i is word (base + i) & 3 of the Philox block (base + i) >> 2
     * (rp_rng_word): one Philox call per block of four words instead of one
     * per element, the same words. */
    uint64_t b0 = base >> 2, b1 = (base + (uint64_t)n - 1) >> 2;
    int64_t nblocks = (int64_t)(b1 - b0 + 1);
    #pragma omp parallel for schedule(static) if (n > RP_PAR_MIN / 8)
    for (int64_t k = 0; k < nblocks; k++) {
        uint32_t w[4];
        uint64_t blk = b0 + (uint64_t)k;
        rp_philox(seed, blk, w);
        for (int j = 0; j < 4; j++) {
            uint64_t c = blk * 4 + (uint64_t)j;
            if (c < base || c >= base + (uint64_t)n) continue;
            int64_t i = (int64_t)(c - base);
            out[i] = enc_sr(in[i] * scale, fmt, saturate, w[j]);
        }
    }
}

void rp_fp8_cast_sr_f32(float *out, const float *in, int64_t n, int fmt, bool saturate,
                        uint64_t seed, uint64_t base)
{
    if (fmt == RP_FMT_BF16 || fmt == RP_FMT_FP16) {
        #pragma omp parallel for schedule(static) if (n > RP_PAR_MIN / 8)
        for (int64_t i = 0; i < n; i++)
            out[i] = cast16_sr(in[i], fmt, saturate, rp_rng_word(seed, base, (uint64_t)i));
        return;
    }
    const float *tab = rp_fp8_table(fmt);
    if (!tab) return;
    #pragma omp parallel for schedule(static) if (n > RP_PAR_MIN / 8)
    for (int64_t i = 0; i < n; i++)
        out[i] = tab[enc_sr(in[i], fmt, saturate, rp_rng_word(seed, base, (uint64_t)i))];
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
