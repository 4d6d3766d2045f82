/* test_fpsub_ref.h: plain reference for the OCP sub-byte formats (e3m2fn,
 * e2m3fn, e2m1fn) with ml_dtypes' semantics, from the definitions alone:
 * decode by the formula, encode by picking the nearest of the sorted
 * magnitudes (ties to the even code). Finite only: overflow and +-inf give
 * +-max, NaN gives the -0 code (-NaN the +0 code), as ml_dtypes. */
#ifndef FPSUB_REF_H
#define FPSUB_REF_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct { int e, m, bias; } sub_fmt;

static inline double sub_decode(sub_fmt f, unsigned c)
{
    int sb = f.e + f.m, sign = (c >> sb) & 1;
    int E = (int)((c >> f.m) & ((1u << f.e) - 1)), M = (int)(c & ((1u << f.m) - 1));
    double v = E == 0 ? M * pow(2.0, 1 - f.bias - f.m) : (1.0 + M / pow(2.0, f.m)) * pow(2.0, E - f.bias);
    return sign ? -v : v;
}

/* v: the 2^(e+m) magnitudes sub_decode gives for codes 0 .. maxc. */
static inline unsigned sub_encode_tab(const double *v, int sb, float x)
{
    unsigned maxc = (1u << sb) - 1, s = signbit(x) ? 1u << sb : 0;
    if (isnan(x)) return s ^ (1u << sb);
    double a = fabs((double)x);
    if (a >= v[maxc]) return s | maxc;
    unsigned lo = 0, hi = maxc; /* v[lo] <= a < v[hi] */
    while (hi - lo > 1) {
        unsigned mid = (lo + hi) / 2;
        if (v[mid] <= a) lo = mid; else hi = mid;
    }
    double dl = a - v[lo], dh = v[hi] - a;
    unsigned k = dl < dh ? lo : dh < dl ? hi : (lo % 2 == 0 ? lo : hi);
    return s | k;
}

static inline void sub_table(double *v, sub_fmt f)
{
    for (unsigned c = 0; c < 1u << (f.e + f.m); c++) v[c] = sub_decode(f, c);
}

static inline unsigned sub_encode(sub_fmt f, float x)
{
    double v[32];
    sub_table(v, f);
    return sub_encode_tab(v, f.e + f.m, x);
}

#endif
