/* test_fp8_ref.h: plain, formula-based reference decoder and encoder for the FP8
 * tests, written from the format definitions (ml_dtypes semantics) and
 * independent of core/fp8.c's bit tricks. Double arithmetic: x / spacing is
 * exact, nearbyint rounds half to even in the default rounding mode. */
#ifndef FP8_REF_H
#define FP8_REF_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include "fp8.h"

typedef struct { int e, m, bias; bool fnuz, fn, ieee, e8m0; int maxc, ovfc, nanc; } ref_fmt;

static inline ref_fmt ref_fmt_of(int fmt)
{
    switch (fmt) {
    case RP_FMT_E4M3FN: return (ref_fmt){4, 3, 7, false, true, false, false, 0x7E, 0x7F, 0x7F};
    case RP_FMT_E5M2: return (ref_fmt){5, 2, 15, false, false, true, false, 0x7B, 0x7C, 0x7E};
    case RP_FMT_E4M3FNUZ: return (ref_fmt){4, 3, 8, true, false, false, false, 0x7F, 0x80, 0x80};
    case RP_FMT_E5M2FNUZ: return (ref_fmt){5, 2, 16, true, false, false, false, 0x7F, 0x80, 0x80};
    case RP_FMT_E4M3: return (ref_fmt){4, 3, 7, false, false, true, false, 0x77, 0x78, 0x7C};
    case RP_FMT_E3M4: return (ref_fmt){3, 4, 3, false, false, true, false, 0x6F, 0x70, 0x78};
    default: return (ref_fmt){8, 0, 127, false, false, false, true, 0xFE, 0xFF, 0xFF};
    }
}

static inline double ref_decode(int fmt, unsigned c)
{
    ref_fmt f = ref_fmt_of(fmt);
    if (f.e8m0) return c == 255 ? NAN : pow(2.0, (double)c - 127.0);
    int sign = (c >> 7) & 1;
    int E = (int)((c >> f.m) & ((1u << f.e) - 1));
    int M = (int)(c & ((1u << f.m) - 1));
    if (f.fnuz && c == 0x80) return NAN;
    if (f.fn && (c & 0x7F) == 0x7F) return NAN;
    if (f.ieee && E == (1 << f.e) - 1) return M ? NAN : (sign ? -INFINITY : INFINITY);
    double v = E == 0 ? M * pow(2.0, 1 - f.bias - f.m)
                      : (1.0 + M / pow(2.0, f.m)) * pow(2.0, E - f.bias);
    return sign ? -v : v;
}

/* 2^k for |k| < 1000, built from its IEEE double fields. */
static inline double ref_pow2(int k)
{
    uint64_t b = (uint64_t)(k + 1023) << 52;
    double r;
    memcpy(&r, &b, 8);
    return r;
}

static inline uint8_t ref_encode(float x, int fmt, bool sat)
{
    ref_fmt f = ref_fmt_of(fmt);
    bool neg = signbit(x) != 0;
    if (isnan(x)) return f.e8m0 || f.fnuz ? (uint8_t)f.nanc : (uint8_t)(f.nanc | (neg ? 0x80 : 0));
    if (f.e8m0) {
        if (neg || x == 0.0f) return sat ? 0x00 : 0xFF;
        if (isinf(x)) return sat ? 0xFE : 0xFF;
    }
    int mag;
    if (isinf(x)) {
        mag = sat ? f.maxc : f.ovfc;
    } else if (x == 0.0f) {
        mag = 0;
    } else {
        double a = fabs((double)x);
        uint32_t u;
        memcpy(&u, &x, 4);
        /* f32 subnormals land far below every target's normal range, where
         * only "E < 1" matters, so the raw exponent field is enough */
        int E = (int)((u >> 23) & 0xFF) - 127 + f.bias; /* biased exponent in the target */
        int Eeff = E < 1 ? 1 : E;     /* subnormal (or e8m0's low end) spacing */
        double q = nearbyint(a * ref_pow2(f.bias + f.m - Eeff));   /* a / spacing, exact */
        double code = q + (double)((Eeff - 1) << f.m);
        mag = code > f.maxc ? (sat ? f.maxc : f.ovfc) : (int)code;
    }
    if (f.e8m0) return (uint8_t)mag;
    if (f.fnuz && (mag == 0 || mag == 0x80)) return (uint8_t)mag;
    return (uint8_t)(mag | (neg ? 0x80 : 0));
}

#endif
