/* test_boundaries.c: the exact edges of the number codecs that a one-token
 * slip (>= for >, ties away from zero, a dropped NaN case) would move: the
 * bf16 moment store (round-to-nearest-even, NaN, -0, overflow) and the FP8
 * quantization statistics at the saturation and flush-to-zero thresholds,
 * through both rp_fp8_quantize_f32 and the fused rp_fp8_qdq_f32. */
#include "check.h"
#include "fp8.h"
#include "optim.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static float u2f_(uint32_t u) { float x; memcpy(&x, &u, 4); return x; }
static uint32_t f2u_(float x) { uint32_t u; memcpy(&u, &x, 4); return u; }

/* ---- bf16 ---- */

static void test_bf16_bits(void)
{
    /* ties: 1 + 2^-8 lies halfway between 1 (even) and 1 + 2^-7 (odd) */
    CHECK_EQ_INT(0x3F80, rp_f32_to_bf16_bits(1.00390625f));
    CHECK_EQ_INT(0xBF80, rp_f32_to_bf16_bits(-1.00390625f));
    /* 1 + 3·2^-8 lies halfway between 1 + 2^-7 (odd) and 1 + 2^-6 (even) */
    CHECK_EQ_INT(0x3F82, rp_f32_to_bf16_bits(1.01171875f));
    CHECK_EQ_INT(0xBF82, rp_f32_to_bf16_bits(-1.01171875f));
    CHECK(rp_bf16_bits_to_f32(rp_f32_to_bf16_bits(1.01171875f)) == 1.015625f);
    /* just off the tie: nearest, either way */
    CHECK_EQ_INT(0x3F81, rp_f32_to_bf16_bits(nextafterf(1.00390625f, 2.0f)));
    CHECK_EQ_INT(0x3F81, rp_f32_to_bf16_bits(nextafterf(1.01171875f, 0.0f)));
    CHECK_EQ_INT(0x3F80, rp_f32_to_bf16_bits(nextafterf(1.00390625f, 0.0f)));
    /* exact values, signed zeros, infinities */
    CHECK_EQ_INT(0x0000, rp_f32_to_bf16_bits(0.0f));
    CHECK_EQ_INT(0x8000, rp_f32_to_bf16_bits(-0.0f));
    CHECK(signbit(rp_bf16_bits_to_f32(0x8000)) && rp_bf16_bits_to_f32(0x8000) == 0.0f);
    CHECK_EQ_INT(0x7F80, rp_f32_to_bf16_bits(INFINITY));
    CHECK_EQ_INT(0xFF80, rp_f32_to_bf16_bits(-INFINITY));
    CHECK_EQ_INT(0x4040, rp_f32_to_bf16_bits(3.0f));
    /* the largest finite f32 rounds up to infinity (RNE, no saturation);
     * the largest finite bf16 stays */
    CHECK_EQ_INT(0x7F80, rp_f32_to_bf16_bits(u2f_(0x7F7FFFFFu)));
    CHECK_EQ_INT(0x7F7F, rp_f32_to_bf16_bits(u2f_(0x7F7F0000u)));
    /* the smallest subnormal: below half of bf16's smallest (2^-133) it flushes */
    CHECK_EQ_INT(0x0000, rp_f32_to_bf16_bits(u2f_(0x00000001u)));
    CHECK_EQ_INT(0x0001, rp_f32_to_bf16_bits(u2f_(0x00010000u)));
    CHECK_EQ_INT(0x0000, rp_f32_to_bf16_bits(u2f_(0x00008000u))); /* tie to even 0 */
    CHECK_EQ_INT(0x0002, rp_f32_to_bf16_bits(u2f_(0x00018000u))); /* tie to even 2 */
    /* NaN stays NaN (quiet, same sign), even one whose payload sits only in
     * the 16 dropped bits (rounding it would make an infinity) */
    uint32_t nans[] = {0x7FC00000u, 0xFFC00000u, 0x7F800001u, 0xFF800001u, 0x7FFFFFFFu, 0x7F80FFFFu};
    for (size_t i = 0; i < sizeof nans / sizeof nans[0]; i++) {
        uint16_t b = rp_f32_to_bf16_bits(u2f_(nans[i]));
        CHECK((b & 0x7F80) == 0x7F80 && (b & 0x7F) != 0);     /* a NaN */
        CHECK((b & 0x40) != 0);                                  /* quiet */
        CHECK_EQ_INT(nans[i] >> 31, b >> 15);                    /* sign kept */
        CHECK(isnan(rp_bf16_bits_to_f32(b)));
    }
    /* the round trip of every bf16 value is exact */
    int bad = 0;
    for (uint32_t b = 0; b < 0x10000u; b++) {
        float x = rp_bf16_bits_to_f32((uint16_t)b);
        if (isnan(x)) continue;
        bad += rp_f32_to_bf16_bits(x) != b;
    }
    CHECK_EQ_INT(0, bad);
}

/* The same edges through the moment store/load of the optimizers. */
static void test_bf16_moment_store(void)
{
    float x[8] = {1.00390625f, 1.01171875f, -1.00390625f, -0.0f, NAN, INFINITY, 3.0f, 0.0f};
    float want[8] = {1.0f, 1.015625f, -1.0f, -0.0f, NAN, INFINITY, 3.0f, 0.0f};
    int64_t shape[1] = {8};
    rp_tensor *buf = rp_moment_new(RP_MOM_BF16, 8, shape, 1);
    CHECK(buf != NULL);
    CHECK_EQ_INT(16, rp_numel(buf));
    CHECK(rp_moment_store(buf, NULL, x, RP_MOM_BF16, 8) == 0);
    float back[8];
    CHECK(rp_moment_load(back, buf, NULL, RP_MOM_BF16, 8) == 0);
    for (int i = 0; i < 8; i++) {
        if (isnan(want[i])) { CHECK(isnan(back[i])); continue; }
        CHECK(back[i] == want[i]);
        CHECK_EQ_INT(signbit(want[i]) != 0, signbit(back[i]) != 0);
    }
    /* little-endian byte order of the stored code */
    CHECK_EQ_INT(0x82, RP_U8P(buf)[2]);
    CHECK_EQ_INT(0x3F, RP_U8P(buf)[3]);
    rp_tensor_release(buf);
}

/* FP8 moments (optim.h): scale = fmt_max / amax, so the largest entry lands
 * on the largest finite code and small entries keep their relative precision. */
static void test_fp8_moment_store(void)
{
    float x[6] = {-3.0f, 1.0f, -0.01f, 1e-3f, 0.0f, 2.5e-4f};
    int64_t shape[1] = {6}, one = 1;
    rp_moment_format fmts[2] = {RP_MOM_E4M3FN, RP_MOM_E5M2};
    float maxes[2] = {448.0f, 57344.0f}, rel[2] = {0.0625f, 0.125f};
    for (int k = 0; k < 2; k++) {
        rp_tensor *buf = rp_moment_new(fmts[k], 6, shape, 1), *scale = rp_zeros(RP_F32, 1, &one);
        CHECK(rp_moment_store(buf, scale, x, fmts[k], 6) == 0);
        CHECK_NEAR(maxes[k] / 3.0, RP_F32P(scale)[0], 1e-3 * maxes[k] / 3.0);
        CHECK_EQ_INT(k == 0 ? 0xFE : 0xFB, RP_U8P(buf)[0]); /* -max */
        float back[6];
        CHECK(rp_moment_load(back, buf, scale, fmts[k], 6) == 0);
        CHECK_NEAR(-3.0, back[0], 1e-6);
        for (int i = 1; i < 4; i++) CHECK(fabsf(back[i] - x[i]) <= rel[k] * fabsf(x[i]));
        CHECK(back[4] == 0.0f);
        CHECK(fabsf(back[5] - x[5]) <= 0.25f * x[5]); /* e4m3fn: 2.5e-4·149 = 0.037 is still normal */
        rp_tensor_release(buf); rp_tensor_release(scale);
    }
}

/* ---- FP8 quantization statistics ---- */

typedef struct { int64_t sat, fl; uint8_t code; float back; } qres;

/* n copies of x among zeros (zeros count as neither saturated nor flushed),
 * spread so that the SIMD body, its tail and (n large) both threads see them;
 * quantized at scale by both paths, which must agree. */
static qres quant_both(float x, float scale, int fmt, bool saturate, int64_t n)
{
    int64_t len = n * 37 + 5;
    float *in = calloc((size_t)len, sizeof(float)), *out = calloc((size_t)len, sizeof(float));
    uint8_t *codes = calloc((size_t)len, 1), *codes2 = calloc((size_t)len, 1);
    for (int64_t i = 0; i < n; i++) in[i * 37 + 3] = x;
    rp_fp8_qstats st;
    rp_fp8_quantize_f32(codes, &st, in, len, fmt, scale, saturate, false, 0, 0);
    qres r = {st.saturated, st.flushed, codes[3], 0};
    for (int pass = 0; pass < 2; pass++) { /* with and without codes */
        rp_fp8_qdq_job job;
        memset(&job, 0, sizeof job);
        job.out = out; job.codes = pass ? codes2 : NULL; job.in = in; job.n = len;
        job.fmt = fmt; job.saturate = saturate; job.scale = scale;
        rp_fp8_qdq_f32(&job, 1);
        CHECK_EQ_INT(r.sat, job.st.saturated);
        CHECK_EQ_INT(r.fl, job.st.flushed);
        if (pass) CHECK(memcmp(codes, codes2, (size_t)len) == 0);
        r.back = out[3];
    }
    free(in); free(out); free(codes); free(codes2);
    return r;
}

static void check_edge(const char *what, float x, float scale, int fmt, bool saturate, int64_t want_sat,
                       int64_t want_fl)
{
    int64_t sizes[2] = {3, 3000}; /* 3000 * 37 > the parallel threshold */
    for (int k = 0; k < 2; k++) {
        qres r = quant_both(x, scale, fmt, saturate, sizes[k]);
        if (r.sat != want_sat * sizes[k] || r.fl != want_fl * sizes[k])
            fprintf(stderr, "  edge %s (x=%.9g scale=%g sat=%d n=%lld): saturated %lld flushed %lld\n", what,
                    (double)x, (double)scale, saturate, (long long)sizes[k], (long long)r.sat, (long long)r.fl);
        CHECK_EQ_INT(want_sat * sizes[k], r.sat);
        CHECK_EQ_INT(want_fl * sizes[k], r.fl);
    }
}

static void test_fp8_saturation_edges(void)
{
    int e4 = rp_fp8_format_from_name("e4m3fn"), e5 = rp_fp8_format_from_name("e5m2");
    CHECK(e4 >= 0 && e5 >= 0);
    for (int s = 0; s < 2; s++) {
        bool sat = s;
        /* e4m3fn: max 448; 464 is the tie between 448 (even) and 480 (not
         * representable): rounds to 448, not saturated; the next float up is. */
        check_edge("e4m3fn 464", 464.0f, 1.0f, e4, sat, 0, 0);
        check_edge("e4m3fn next(464)", nextafterf(464.0f, INFINITY), 1.0f, e4, sat, 1, 0);
        check_edge("e4m3fn -464", -464.0f, 1.0f, e4, sat, 0, 0);
        check_edge("e4m3fn -next(464)", -nextafterf(464.0f, INFINITY), 1.0f, e4, sat, 1, 0);
        check_edge("e4m3fn 448", 448.0f, 1.0f, e4, sat, 0, 0);
        check_edge("e4m3fn inf", INFINITY, 1.0f, e4, sat, 1, 0);
        /* through the scale: x·s = 464 exactly (s a power of two) */
        check_edge("e4m3fn 232*2", 232.0f, 2.0f, e4, sat, 0, 0);
        check_edge("e4m3fn next(232)*2", nextafterf(232.0f, INFINITY), 2.0f, e4, sat, 1, 0);
        check_edge("e4m3fn 1856/4", 1856.0f, 0.25f, e4, sat, 0, 0);
        /* e5m2: max 57344 (mantissa odd); the tie with 65536 (= inf, even) at
         * 61440 rounds up: 61440 saturates, the float below does not. */
        check_edge("e5m2 57344", 57344.0f, 1.0f, e5, sat, 0, 0);
        check_edge("e5m2 next(57344)", nextafterf(57344.0f, INFINITY), 1.0f, e5, sat, 0, 0);
        check_edge("e5m2 prev(61440)", nextafterf(61440.0f, 0.0f), 1.0f, e5, sat, 0, 0);
        check_edge("e5m2 61440", 61440.0f, 1.0f, e5, sat, 1, 0);
        check_edge("e5m2 -61440", -61440.0f, 1.0f, e5, sat, 1, 0);
        check_edge("e5m2 30720*2", 30720.0f, 2.0f, e5, sat, 1, 0);
        check_edge("e5m2 prev(30720)*2", nextafterf(30720.0f, 0.0f), 2.0f, e5, sat, 0, 0);
        /* flush to zero: e4m3fn's smallest subnormal is 2^-9; 2^-10 is the tie
         * with 0 (even): flushed; the next float up rounds to 2^-9. */
        check_edge("e4m3fn 2^-10", ldexpf(1, -10), 1.0f, e4, sat, 0, 1);
        check_edge("e4m3fn next(2^-10)", nextafterf(ldexpf(1, -10), 1.0f), 1.0f, e4, sat, 0, 0);
        check_edge("e4m3fn -2^-10", -ldexpf(1, -10), 1.0f, e4, sat, 0, 1);
        check_edge("e4m3fn 2^-9", ldexpf(1, -9), 1.0f, e4, sat, 0, 0);
        check_edge("e4m3fn 2^-11*2", ldexpf(1, -11), 2.0f, e4, sat, 0, 1);
        check_edge("e4m3fn next(2^-11)*2", nextafterf(ldexpf(1, -11), 1.0f), 2.0f, e4, sat, 0, 0);
        /* a product that underflows to 0 in f32 is flushed too */
        check_edge("e4m3fn 2^-100*2^-60", ldexpf(1, -100), ldexpf(1, -60), e4, sat, 0, 1);
        /* e5m2: smallest subnormal 2^-16, tie at 2^-17 */
        check_edge("e5m2 2^-17", ldexpf(1, -17), 1.0f, e5, sat, 0, 1);
        check_edge("e5m2 next(2^-17)", nextafterf(ldexpf(1, -17), 1.0f), 1.0f, e5, sat, 0, 0);
        check_edge("e5m2 -2^-17", -ldexpf(1, -17), 1.0f, e5, sat, 0, 1);
        /* NaN is neither saturated nor flushed */
        check_edge("e4m3fn nan", NAN, 1.0f, e4, sat, 0, 0);
        check_edge("e5m2 nan", NAN, 1.0f, e5, sat, 0, 0);
    }
    /* the values themselves at the edges */
    qres r = quant_both(464.0f, 1.0f, e4, false, 3);
    CHECK_EQ_INT(0x7E, r.code); CHECK(r.back == 448.0f);
    r = quant_both(nextafterf(464.0f, INFINITY), 1.0f, e4, false, 3);
    CHECK_EQ_INT(0x7F, r.code); CHECK(isnan(r.back));
    r = quant_both(nextafterf(464.0f, INFINITY), 1.0f, e4, true, 3);
    CHECK_EQ_INT(0x7E, r.code); CHECK(r.back == 448.0f);
    r = quant_both(61440.0f, 1.0f, e5, false, 3);
    CHECK_EQ_INT(0x7C, r.code); CHECK(isinf(r.back));
    r = quant_both(nextafterf(61440.0f, 0.0f), 1.0f, e5, false, 3);
    CHECK_EQ_INT(0x7B, r.code); CHECK(r.back == 57344.0f);
    r = quant_both(ldexpf(1, -10), 1.0f, e4, false, 3);
    CHECK_EQ_INT(0x00, r.code); CHECK(r.back == 0.0f);
    r = quant_both(-ldexpf(1, -10), 1.0f, e4, false, 3);
    CHECK_EQ_INT(0x80, r.code); CHECK(r.back == 0.0f && signbit(r.back));
    r = quant_both(nextafterf(ldexpf(1, -10), 1.0f), 1.0f, e4, false, 3);
    CHECK_EQ_INT(0x01, r.code); CHECK(r.back == ldexpf(1, -9));
    r = quant_both(232.0f, 2.0f, e4, false, 3);
    CHECK(r.back == 224.0f); /* 448 / 2 */
    CHECK(f2u_(r.back) == f2u_(224.0f));
}

/* The per-row / per-column variants share the thresholds. */
static void test_fp8_rowcol_edges(void)
{
    int e4 = rp_fp8_format_from_name("e4m3fn");
    float in[6] = {232.0f, nextafterf(232.0f, INFINITY), 1.0f, ldexpf(1, -11), nextafterf(ldexpf(1, -11), 1.0f), 0.0f};
    float scales_r[2] = {2.0f, 2.0f}, scales_c[3] = {2.0f, 2.0f, 2.0f};
    uint8_t codes[6];
    rp_fp8_qstats st;
    rp_fp8_quantize_rows_f32(codes, &st, in, 2, 3, e4, scales_r, false);
    CHECK_EQ_INT(1, st.saturated);
    CHECK_EQ_INT(1, st.flushed);
    rp_fp8_quantize_cols_f32(codes, &st, in, 2, 3, e4, scales_c, true);
    CHECK_EQ_INT(1, st.saturated);
    CHECK_EQ_INT(1, st.flushed);
}

int main(void)
{
    test_bf16_bits();
    test_bf16_moment_store();
    test_fp8_moment_store();
    test_fp8_saturation_edges();
    test_fp8_rowcol_edges();
    return check_report("test_boundaries");
}
