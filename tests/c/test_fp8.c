/* test_fp8.c: formats code by code, boundary goldens, casts, stochastic
 * rounding, quantization statistics, scaling recipes, and the C API the
 * optimizers use. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fp8.h"
#include "test_fp8_ref.h"

static uint32_t bits_of(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float float_of(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

static const int fmts8[] = {RP_FMT_E4M3FN, RP_FMT_E5M2, RP_FMT_E4M3FNUZ, RP_FMT_E5M2FNUZ,
                            RP_FMT_E4M3, RP_FMT_E3M4, RP_FMT_E8M0FNU};
#define NF8 (int)(sizeof fmts8 / sizeof fmts8[0])

static void test_traits(void)
{
    CHECK_EQ_INT(RP_FMT_E4M3FN, rp_fp8_format_from_name("e4m3fn"));
    CHECK_EQ_INT(RP_FMT_FP16, rp_fp8_format_from_name("fp16"));
    CHECK_EQ_INT(-1, rp_fp8_format_from_name("e4m3fnx"));
    CHECK_EQ_INT(-1, rp_fp8_format_from_name(NULL));
    CHECK(strstr(rp_fp8_format_names(), "e5m2fnuz") != NULL);
    CHECK_NEAR(448.0, rp_fp8_format_max(RP_FMT_E4M3FN), 0);
    CHECK_NEAR(57344.0, rp_fp8_format_max(RP_FMT_E5M2), 0);
    CHECK_NEAR(240.0, rp_fp8_format_max(RP_FMT_E4M3FNUZ), 0);
    CHECK_NEAR(57344.0, rp_fp8_format_max(RP_FMT_E5M2FNUZ), 0);
    CHECK_NEAR(240.0, rp_fp8_format_max(RP_FMT_E4M3), 0);
    CHECK_NEAR(15.5, rp_fp8_format_max(RP_FMT_E3M4), 0);
    CHECK_NEAR(65504.0, rp_fp8_format_max(RP_FMT_FP16), 0);
    CHECK_EQ_INT(8, rp_fp8_info[RP_FMT_E4M3FNUZ].bias);
    CHECK_EQ_INT(16, rp_fp8_info[RP_FMT_E5M2FNUZ].bias);
    CHECK(!rp_fp8_is_8bit(RP_FMT_BF16));
    /* traits agree with the decode tables: max, min normal, min subnormal */
    for (int k = 0; k < NF8; k++) {
        int f = fmts8[k];
        const rp_fp8_traits *t = &rp_fp8_info[f];
        const float *tab = rp_fp8_table(f);
        CHECK(tab[t->max_code] == t->max);
        float minsub = INFINITY, minnorm = INFINITY, mx = 0;
        for (int c = 0; c < 256; c++)
            if (isfinite(tab[c]) && tab[c] > 0) {
                if (tab[c] < minsub) minsub = tab[c];
                if (tab[c] > mx) mx = tab[c];
            }
        minnorm = t->mbits ? ldexpf(1.0f, 1 - t->bias) : minsub;
        CHECK(minsub == t->min_subnormal);
        CHECK(minnorm == t->min_normal);
        CHECK(mx == t->max);
        CHECK(isnan(tab[t->nan_code]));
        /* the codes derived from the format row equal the reference's literals */
        ref_fmt rf = ref_fmt_of(f);
        CHECK_EQ_INT(rf.maxc, t->max_code);
        CHECK_EQ_INT(rf.ovfc, t->ovf_code);
        CHECK_EQ_INT(rf.nanc, t->nan_code);
    }
    CHECK(strcmp(rp_fp8_safetensors_dtype(RP_FMT_E4M3FN), "F8_E4M3") == 0);
    CHECK(rp_fp8_safetensors_dtype(RP_FMT_E4M3FNUZ) == NULL);
    CHECK(rp_fp8_safetensors_dtype(-1) == NULL);
    CHECK_EQ_INT(RP_FMT_BF16, rp_fp8_format_from_safetensors("BF16"));
    CHECK_EQ_INT(-1, rp_fp8_format_from_safetensors("F32"));
    CHECK(strncmp(rp_fp8_format_names(), "e4m3fn, e5m2, ", 14) == 0);
}

/* Every code decodes as the independent formula says; decode -> encode
 * returns every non-NaN code (fnuz/e8m0 have no -0, e4m3fn's -0 is 0x80). */
static void test_all_codes(void)
{
    for (int k = 0; k < NF8; k++) {
        int f = fmts8[k];
        const float *tab = rp_fp8_table(f);
        int bad_dec = 0, bad_rt = 0;
        for (unsigned c = 0; c < 256; c++) {
            double r = ref_decode(f, c);
            float v = tab[c];
            if (isnan(r)) {
                if (!isnan(v)) bad_dec++;
                continue;
            }
            if (!((double)v == r && !signbit(v) == !signbit(r))) bad_dec++;
            uint8_t back[1];
            rp_fp8_encode_f32(back, &v, 1, f, 1.0f, false);
            if (back[0] != c) bad_rt++;
            if (!isinf(v) && rp_fp8_encode1(v, f, true) != c) bad_rt++;
        }
        if (bad_dec || bad_rt) fprintf(stderr, "format %s\n", rp_fp8_info[f].name);
        CHECK_EQ_INT(0, bad_dec);
        CHECK_EQ_INT(0, bad_rt);
    }
    /* decode with inv_scale */
    uint8_t c[3] = {0x38, 0x40, 0xC0}; /* e4m3fn: 1, 2, -2 */
    float o[3];
    rp_fp8_decode_f32(o, c, 3, RP_FMT_E4M3FN, 0.25f);
    CHECK_NEAR(0.25, o[0], 0);
    CHECK_NEAR(0.5, o[1], 0);
    CHECK_NEAR(-0.5, o[2], 0);
}

static uint8_t e1(float x, int f, bool sat) { return rp_fp8_encode1(x, f, sat); }

static void test_goldens(void)
{
    const int F = RP_FMT_E4M3FN, G = RP_FMT_E5M2;
    CHECK_EQ_INT(0x7E, e1(448.0f, F, false));
    CHECK_EQ_INT(0x7E, e1(464.0f, F, false));            /* tie -> even (448) */
    CHECK_EQ_INT(0x7F, e1(465.0f, F, false));            /* -> NaN */
    CHECK_EQ_INT(0xFF, e1(-465.0f, F, false));
    CHECK_EQ_INT(0x7E, e1(465.0f, F, true));
    CHECK_EQ_INT(0xFE, e1(-1e30f, F, true));
    CHECK_EQ_INT(0x7F, e1(INFINITY, F, false));
    CHECK_EQ_INT(0xFF, e1(-INFINITY, F, false));
    CHECK_EQ_INT(0x7E, e1(INFINITY, F, true));
    CHECK_EQ_INT(0xFE, e1(-INFINITY, F, true));
    CHECK_EQ_INT(0x7F, e1(NAN, F, true));
    CHECK_EQ_INT(0xFF, e1(-NAN, F, true));
    CHECK_EQ_INT(0x01, e1(0x1p-9f, F, false));
    CHECK_EQ_INT(0x00, e1(0x1p-10f, F, false));          /* tie -> even (0) */
    CHECK_EQ_INT(0x01, e1(0x1.000002p-10f, F, false));
    CHECK_EQ_INT(0x02, e1(0x1.8p-9f, F, false));         /* 1.5 ulp -> 2 */
    CHECK_EQ_INT(0x80, e1(-0.0f, F, false));
    CHECK_EQ_INT(0x80, e1(-0x1p-11f, F, false));
    CHECK_EQ_INT(0x08, e1(0x1p-6f, F, false));
    CHECK_EQ_INT(0x7B, e1(57344.0f, G, false));
    CHECK_EQ_INT(0x7B, e1(61439.0f, G, false));
    CHECK_EQ_INT(0x7C, e1(61440.0f, G, false));          /* -> inf */
    CHECK_EQ_INT(0xFC, e1(-61440.0f, G, false));
    CHECK_EQ_INT(0x7B, e1(61440.0f, G, true));
    CHECK_EQ_INT(0x7B, e1(INFINITY, G, true));
    CHECK_EQ_INT(0x7C, e1(INFINITY, G, false));
    CHECK_EQ_INT(0x7E, e1(NAN, G, false));
    CHECK_EQ_INT(0x80, e1(-0.0f, G, false));
    CHECK_EQ_INT(0x01, e1(0x1p-16f, G, false));
    CHECK_EQ_INT(0x00, e1(0x1p-17f, G, false));
    /* fnuz: no -0, single NaN 0x80 */
    CHECK_EQ_INT(0x00, e1(-0.0f, RP_FMT_E4M3FNUZ, false));
    CHECK_EQ_INT(0x00, e1(-0x1p-12f, RP_FMT_E4M3FNUZ, false));
    CHECK_EQ_INT(0x80, e1(-NAN, RP_FMT_E4M3FNUZ, false));
    CHECK_EQ_INT(0x80, e1(1000.0f, RP_FMT_E4M3FNUZ, false));
    CHECK_EQ_INT(0x7F, e1(1000.0f, RP_FMT_E4M3FNUZ, true));
    CHECK_EQ_INT(0xFF, e1(-1000.0f, RP_FMT_E4M3FNUZ, true));
    CHECK_EQ_INT(0x80, e1(-INFINITY, RP_FMT_E5M2FNUZ, false));
    CHECK_EQ_INT(0x01, e1(0x1p-10f, RP_FMT_E4M3FNUZ, false));
    /* e4m3 (IEEE): inf 0x78, max 240 */
    CHECK_EQ_INT(0x77, e1(247.0f, RP_FMT_E4M3, false));
    CHECK_EQ_INT(0x78, e1(248.0f, RP_FMT_E4M3, false));   /* tie -> even = inf */
    CHECK_EQ_INT(0x78, e1(INFINITY, RP_FMT_E4M3, false));
    CHECK_EQ_INT(0xF0, e1(-INFINITY, RP_FMT_E3M4, false));
    CHECK_EQ_INT(0x6F, e1(15.5f, RP_FMT_E3M4, false));
    /* e8m0fnu */
    const int Z = RP_FMT_E8M0FNU;
    CHECK_EQ_INT(127, e1(1.0f, Z, false));
    CHECK_EQ_INT(128, e1(1.5f, Z, false));    /* ties away from zero */
    CHECK_EQ_INT(127, e1(1.4999999f, Z, false));
    CHECK_EQ_INT(129, e1(3.0f, Z, false));
    CHECK_EQ_INT(0xFF, e1(0.0f, Z, false));
    CHECK_EQ_INT(0xFF, e1(-0.0f, Z, false));
    CHECK_EQ_INT(0xFF, e1(-1.0f, Z, false));
    CHECK_EQ_INT(0x00, e1(-1.0f, Z, true));
    CHECK_EQ_INT(0x00, e1(0.0f, Z, true));
    CHECK_EQ_INT(0xFE, e1(0x1p127f, Z, false));
    CHECK_EQ_INT(0xFF, e1(0x1.8p127f, Z, false));
    CHECK_EQ_INT(0xFE, e1(0x1.8p127f, Z, true));
    CHECK_EQ_INT(0xFE, e1(INFINITY, Z, true));
    CHECK_EQ_INT(0x00, e1(0x1p-127f, Z, false));
    CHECK_EQ_INT(0x00, e1(0x1p-140f, Z, false));
    CHECK_EQ_INT(0x01, e1(0x1.4p-127f, Z, false));
    CHECK_EQ_INT(0x01, e1(0x1p-126f, Z, false));
}

static void test_cast16(void)
{
    float in[] = {1.0f, 1.00390625f, 1.0039064f, 1.01171875f, 3.4e38f, -INFINITY, NAN,
                  0x1p-133f, 0x1p-134f, 0x1.8p-134f, 65519.0f, 65520.0f, 0x1p-25f, 0x1.8p-25f};
    float o[14];
    rp_fp8_cast_f32(o, in, 5, RP_FMT_BF16, false);
    CHECK_NEAR(1.0, o[0], 0);
    CHECK_NEAR(1.0, o[1], 0);                /* tie -> even */
    CHECK_NEAR(1.0078125, o[2], 0);
    CHECK_NEAR(1.015625, o[3], 0);           /* tie -> even (up) */
    CHECK(isinf(o[4]));
    rp_fp8_cast_f32(o, in, 10, RP_FMT_BF16, true);
    CHECK(o[4] == rp_fp8_info[RP_FMT_BF16].max);
    CHECK(o[5] == -rp_fp8_info[RP_FMT_BF16].max);
    CHECK(isnan(o[6]));
    CHECK(o[7] == 0x1p-133f);
    CHECK(o[8] == 0.0f);                     /* half of the smallest: tie -> 0 */
    CHECK(o[9] == 0x1p-133f);
    rp_fp8_cast_f32(o, in + 10, 4, RP_FMT_FP16, false);
    CHECK_NEAR(65504.0, o[0], 0);
    CHECK(isinf(o[1]));
    CHECK(o[2] == 0.0f);
    CHECK(o[3] == 0x1p-24f);
    /* 8-bit cast equals decode(encode) */
    float x[4] = {0.3f, -17.0f, 1000.0f, 0x1p-12f}, c[4];
    rp_fp8_cast_f32(c, x, 4, RP_FMT_E4M3FN, false);
    CHECK_NEAR(0.3125, c[0], 0);
    CHECK_NEAR(-16.0, c[1], 0);
    CHECK(isnan(c[2]));
    CHECK(c[3] == 0.0f);
}

/* Mean of many stochastic roundings equals x within 5 sigma; same seed, same codes. */
static void test_stochastic(void)
{
    enum { N = 200000 };
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y), *y2 = malloc(N * sizeof *y2);
    const float vals[] = {0.3f, 1.1f, -3.3f, 0x1.3p-8f, 300.3f};
    const int fm[] = {RP_FMT_E4M3FN, RP_FMT_E5M2, RP_FMT_E4M3FN, RP_FMT_E4M3FN, RP_FMT_BF16};
    for (int k = 0; k < 5; k++) {
        for (int i = 0; i < N; i++) x[i] = vals[k];
        rp_fp8_cast_sr_f32(y, x, N, fm[k], false, 1234, 4 * (uint64_t)k * N);
        double s = 0, lo = INFINITY, hi = -INFINITY;
        for (int i = 0; i < N; i++) {
            s += y[i];
            if (y[i] < lo) lo = y[i];
            if (y[i] > hi) hi = y[i];
        }
        double mean = s / N, gap = hi - lo;
        double sd = gap / 2 / sqrt((double)N); /* bound: Bernoulli sd <= gap/2 */
        CHECK(fabs(mean - vals[k]) < 5 * sd + 1e-12);
        CHECK(gap > 0);           /* both neighbours occur */
        rp_fp8_cast_sr_f32(y2, x, N, fm[k], false, 1234, 4 * (uint64_t)k * N);
        CHECK(memcmp(y, y2, N * sizeof *y) == 0);
        rp_fp8_cast_sr_f32(y2, x, N, fm[k], false, 99, 4 * (uint64_t)k * N);
        CHECK(memcmp(y, y2, N * sizeof *y) != 0);
    }
    /* representable values never move; codes agree with the cast */
    uint8_t c[4];
    float r[4] = {1.0f, -448.0f, 0x1p-9f, 0.0f};
    rp_fp8_encode_sr_f32(c, r, 4, RP_FMT_E4M3FN, 1.0f, false, 7, 0);
    for (int i = 0; i < 4; i++) CHECK_EQ_INT(rp_fp8_encode1(r[i], RP_FMT_E4M3FN, false), c[i]);
    free(x);
    free(y);
    free(y2);
}

static void test_quantize_stats(void)
{
    float in[8] = {1.0f, -2.0f, 1000.0f, 1e-6f, 0.0f, -600.0f, NAN, INFINITY};
    uint8_t q[8];
    rp_fp8_qstats st;
    rp_fp8_quantize_f32(q, &st, in, 6, RP_FMT_E4M3FN, 1.0f, true, false, 0, 0);
    CHECK_NEAR(1000.0, st.amax, 0);
    CHECK_EQ_INT(2, st.saturated);
    CHECK_EQ_INT(1, st.flushed);
    CHECK_EQ_INT(0x7E, q[2]);
    CHECK_EQ_INT(0xFE, q[5]);
    rp_fp8_quantize_f32(q, &st, in, 8, RP_FMT_E4M3FN, 2.0f, false, false, 0, 0);
    CHECK(isnan(st.amax));
    CHECK_EQ_INT(3, st.saturated); /* 2000, -1200, inf; NaN is not counted */
    CHECK_EQ_INT(0x40, q[0]);      /* 1*2 = 2 */
    /* the fused kernel equals encode + amax, on 1 and 2 threads, big n */
    enum { N = 300001 };
    float *x = malloc(N * sizeof *x);
    uint8_t *a = malloc(N), *b = malloc(N);
    uint32_t s = 1;
    for (int i = 0; i < N; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = ldexpf((float)(s >> 8) / 16777216.0f - 0.5f, (int)(s % 40) - 20);
    }
    for (int k = 0; k < NF8; k++) {
        int f = fmts8[k];
        for (int sat = 0; sat < 2; sat++) {
            rp_fp8_quantize_f32(a, &st, x, N, f, 3.0f, sat, false, 0, 0);
            int bad = 0;
            int64_t nsat = 0, nfl = 0;
            for (int i = 0; i < N; i++) {
                uint8_t r = ref_encode(x[i] * 3.0f, f, sat);
                bad += a[i] != r;
                double v = ref_decode(f, r);
                double w = ref_decode(f, ref_encode(fabsf(x[i] * 3.0f), f, false));
                nsat += fabsf(x[i] * 3.0f) > rp_fp8_info[f].max && !isfinite(w);
                nfl += x[i] != 0 && v == 0;
            }
            CHECK_EQ_INT(0, bad);
            CHECK_EQ_INT(nsat, st.saturated);
            CHECK_EQ_INT(nfl, st.flushed);
            CHECK(st.amax == rp_amax_f32(x, N));
        }
    }
    rp_set_threads(1);
    rp_fp8_encode_f32(b, x, N, RP_FMT_E5M2, 0.5f, false);
    float m1 = rp_amax_f32(x, N);
    rp_set_threads(2);
    rp_fp8_encode_f32(a, x, N, RP_FMT_E5M2, 0.5f, false);
    CHECK(memcmp(a, b, N) == 0);
    CHECK(bits_of(m1) == bits_of(rp_amax_f32(x, N)));
    x[N / 2] = NAN;
    CHECK(isnan(rp_amax_f32(x, N)));
    x[N / 2] = -1e30f;
    CHECK(rp_amax_f32(x, N) == 1e30f);
    /* per-row / per-column */
    float m[6] = {1, -8, 2, 0.5f, 4, -0.25f}; /* (2,3) */
    float rmax[2], cmax[3];
    rp_amax_rows_f32(rmax, m, 2, 3);
    rp_amax_cols_f32(cmax, m, 2, 3);
    CHECK(rmax[0] == 8 && rmax[1] == 4);
    CHECK(cmax[0] == 1 && cmax[1] == 8 && cmax[2] == 2);
    float sc[3] = {448, 56, 224};
    uint8_t qc[6];
    rp_fp8_quantize_cols_f32(qc, &st, m, 2, 3, RP_FMT_E4M3FN, sc, false);
    CHECK_EQ_INT(0x7E, qc[0]);
    CHECK_EQ_INT(0xFE, qc[1]);
    CHECK_EQ_INT(0x7E, qc[2]);
    CHECK_EQ_INT(0, st.saturated);
    float sr[2] = {1, 200};
    rp_fp8_quantize_rows_f32(qc, &st, m, 2, 3, RP_FMT_E4M3FN, sr, true);
    CHECK_EQ_INT(1, st.saturated);   /* only 4 * 200 */
    CHECK_EQ_INT(0x7E, qc[4]);
    CHECK_EQ_INT(rp_fp8_encode1(-50.0f, RP_FMT_E4M3FN, false), qc[5]);
    free(x);
    free(a);
    free(b);
}

/* The fused quantize-dequantize equals quantize + decode bit for bit (values,
 * codes, statistics) for every format, both overflow modes, specials, given
 * and current scales, several jobs in one call, on 1 and 2 threads. */
static void test_qdq(void)
{
    enum { N = 300001 };
    float *x = malloc(N * sizeof *x), *ref = malloc(N * sizeof *ref);
    float *o1 = malloc(N * sizeof *o1), *o2 = malloc(N * sizeof *o2);
    uint8_t *qa = malloc(N), *qb = malloc(N);
    uint32_t s = 7;
    for (int i = 0; i < N; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = ldexpf((float)(s >> 8) / 16777216.0f - 0.5f, (int)(s % 60) - 30);
    }
    const float specials[] = {NAN, -NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 1e-45f, -3e38f, 448.0f, 464.0f};
    for (int i = 0; i < (int)(sizeof specials / sizeof specials[0]); i++) x[1000 + 997 * i] = specials[i];
    const float scales[] = {3.0f, 0.37f, 1024.0f};
    for (int k = 0; k < NF8; k++)
        for (int sat = 0; sat < 2; sat++)
            for (int si = 0; si < 3; si++) {
                int f = fmts8[k];
                float sc = scales[si];
                rp_fp8_qstats st;
                rp_fp8_quantize_f32(qa, &st, x, N, f, sc, sat, false, 0, 0);
                rp_fp8_decode_f32(ref, qa, N, f, 1.0f / sc);
                for (int t = 1; t <= 2; t++) {
                    rp_set_threads(t);
                    float *o = t == 1 ? o1 : o2;
                    rp_fp8_qdq_job j = {.out = o, .codes = si == 0 ? qb : NULL, .in = x, .n = N,
                                        .fmt = f, .saturate = sat, .scale = sc};
                    rp_fp8_qdq_f32(&j, 1);
                    CHECK(memcmp(o, ref, N * sizeof *o) == 0);
                    if (si == 0) CHECK(memcmp(qa, qb, N) == 0);
                    CHECK(bits_of(j.st.amax) == bits_of(st.amax));
                    CHECK(j.st.scale == sc && j.st.numel == N);
                    CHECK_EQ_INT(st.saturated, j.st.saturated);
                    CHECK_EQ_INT(st.flushed, j.st.flushed);
                }
            }
    /* several jobs at once (sizes 0, 5 and large), current scaling with
     * margin and pow2, and more jobs than one region takes */
    rp_fp8_qdq_job jobs[RP_FP8_QDQ_MAXJOBS + 3];
    float *outs[RP_FP8_QDQ_MAXJOBS + 3];
    int nj = RP_FP8_QDQ_MAXJOBS + 3;
    for (int t = 1; t <= 2; t++) {
        rp_set_threads(t);
        for (int i = 0; i < nj; i++) {
            int64_t n = i == 0 ? 0 : i == 1 ? 5 : N - 10000 - 1000 * i; /* past the specials */
            outs[i] = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
            jobs[i] = (rp_fp8_qdq_job){.out = outs[i], .in = x + 10000 + i, .n = n, .fmt = fmts8[i % NF8],
                                       .saturate = i % 2, .current = i % 3 != 0, .pow2 = i % 4 == 1,
                                       .margin = (float)(i % 3), .scale = 2.5f};
        }
        rp_fp8_qdq_f32(jobs, nj);
        for (int i = 0; i < nj; i++) {
            const rp_fp8_qdq_job *j = &jobs[i];
            float want = j->current ? rp_fp8_current_scale(rp_amax_f32(j->in, j->n), j->fmt, j->margin, j->pow2)
                                    : 2.5f;
            CHECK(bits_of(want) == bits_of(j->scale));
            CHECK(j->n < 2 || want != 1.0f);
            rp_fp8_qstats st;
            rp_fp8_quantize_f32(qa, &st, j->in, j->n, j->fmt, want, j->saturate, false, 0, 0);
            rp_fp8_decode_f32(ref, qa, j->n, j->fmt, 1.0f / want);
            CHECK(memcmp(j->out, ref, (size_t)j->n * sizeof(float)) == 0);
            CHECK(bits_of(j->st.amax) == bits_of(st.amax));
            CHECK_EQ_INT(st.saturated, j->st.saturated);
            CHECK_EQ_INT(st.flushed, j->st.flushed);
            CHECK_EQ_INT(j->n, j->st.numel);
            free(outs[i]);
        }
    }
    /* per-column amax over threads equals a plain walk, NaN included */
    enum { R = 190, C = 1501 }; /* R·C <= N */
    float *cm = malloc(C * sizeof *cm), *cw = malloc(C * sizeof *cw);
    x[5 * C + 700] = NAN;
    for (int c = 0; c < C; c++) {
        uint32_t m = 0;
        for (int r = 0; r < R; r++) {
            uint32_t a = bits_of(x[r * C + c]) & 0x7FFFFFFFu;
            m = a > m ? a : m;
        }
        cw[c] = float_of(m);
    }
    for (int t = 1; t <= 2; t++) {
        rp_set_threads(t);
        rp_amax_cols_f32(cm, x, R, C);
        CHECK(memcmp(cm, cw, C * sizeof *cm) == 0);
    }
    free(cm);
    free(cw);
    free(x);
    free(ref);
    free(o1);
    free(o2);
    free(qa);
    free(qb);
}

static void test_scaling(void)
{
    CHECK_NEAR(448.0 / 3.0, rp_fp8_current_scale(3.0f, RP_FMT_E4M3FN, 0, false), 1e-4);
    CHECK_NEAR(448.0 / 3.0 / 4.0, rp_fp8_current_scale(3.0f, RP_FMT_E4M3FN, 2, false), 1e-4);
    CHECK_NEAR(128.0, rp_fp8_current_scale(3.0f, RP_FMT_E4M3FN, 0, true), 0);
    CHECK_NEAR(1.0, rp_fp8_current_scale(0.0f, RP_FMT_E4M3FN, 0, false), 0);
    CHECK_NEAR(1.0, rp_fp8_current_scale(NAN, RP_FMT_E4M3FN, 0, false), 0);
    CHECK(rp_delayed_scaling_new(RP_FMT_E4M3FN, 0, 0, RP_AMAX_MAX) == NULL);
    CHECK(strstr(rp_errmsg(), "history") != NULL);
    CHECK(rp_delayed_scaling_new(99, 4, 0, RP_AMAX_MAX) == NULL);
    /* scripted amax sequence against TE's formula, history 3 */
    rp_delayed_scaling *d = rp_delayed_scaling_new(RP_FMT_E4M3FN, 3, 1, RP_AMAX_MAX);
    rp_delayed_scaling *r = rp_delayed_scaling_new(RP_FMT_E5M2, 3, 0, RP_AMAX_MOST_RECENT);
    CHECK(d && r);
    const float seq[] = {2, 8, 1, 0.5f, 0.25f, 0, INFINITY, 4};
    /* window max over the last 3 (incl. current), scale kept on 0/inf */
    const float want_max_amax[] = {2, 8, 8, 8, 1, 0.5f, INFINITY, INFINITY};
    float scale_d = 1, scale_r = 1;
    for (int i = 0; i < 8; i++) {
        rp_delayed_scaling_update(d, seq[i]);
        rp_delayed_scaling_update(r, seq[i]);
        float a = want_max_amax[i];
        if (a > 0 && isfinite(a)) scale_d = 448.0f / a / 2.0f;
        if (seq[i] > 0 && isfinite(seq[i])) scale_r = 57344.0f / seq[i];
        CHECK_NEAR(scale_d, d->scale, 0);
        CHECK_NEAR(scale_r, r->scale, 0);
        CHECK(d->amax_history[0] == 0.0f);
        CHECK(d->amax_history[2] == seq[i]); /* TE's roll puts the newest last */
    }
    free(d);
    free(r);
}

int main(void)
{
    test_traits();
    test_all_codes();
    test_goldens();
    test_cast16();
    test_stochastic();
    test_quantize_stats();
    test_qdq();
    test_scaling();
    (void)float_of;
    return check_report("test_fp8");
}
