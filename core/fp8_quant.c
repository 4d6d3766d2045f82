/* fp8_quant.c: quantization with statistics (amax, saturated and flushed
 * counts) per tensor, row and column, and the fused quantize-dequantize
 * that gives a simulated-FP8 GEMM its operands. */
#include "fp8.h"

#include <math.h>
#include <stdlib.h>

#include "fp8_impl.h"

/* ---- quantization with statistics ---- */

/* The |x| bits from which a finite-only format (overflow clamps to max,
 * so the code cannot tell) would round above max: max + half its ulp (the
 * tie rounds up, max's mantissa being odd). */
static uint32_t bits_max_round(const rp_fp8_traits *t)
{
    int ex;
    frexpf(t->max, &ex);
    return f2u(t->max + ldexpf(1.0f, ex - 1 - t->mbits - 1));
}

/* Largest |x| bit pattern whose magnitude code satisfies pred (monotone). */
static uint32_t search_bits(int fmt, bool zero)
{
    const rp_fp8_traits *t = &rp_fp8_info[fmt];
    uint32_t lo = 0, hi = 0x7F800000u; /* invariant: lo satisfies, hi may not */
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        uint8_t c = enc(fmt, mid, false);
        uint32_t mag = t->nan == RP_NAN_FF ? c : (c & ((1u << (t->ebits + t->mbits)) - 1u));
        bool ok = zero ? mag == 0 : (c != t->ovf_code && mag <= t->max_code);
        if (!zero && t->nan == RP_NAN_NONE) ok = mid < bits_max_round(t);
        if (ok) lo = mid; else hi = mid;
    }
    return lo;
}

typedef struct { uint32_t amax; int64_t nsat, nfl; } qacc;

/* The statistics of one block: amax of |in|, products above the format's
 * largest finite value, nonzero inputs whose product is at most zero_thr
 * (integer compares on |x| bit patterns, 32-bit counters: block < 2^31). */
ALWAYS_INLINE void stats_block(qacc *acc, const float *in, int64_t n, float scale,
                               uint32_t sat_thr, uint32_t zero_thr)
{
    int32_t amax = (int32_t)acc->amax;
    uint32_t nsat = 0, nfl = 0;
    #pragma omp simd reduction(max : amax) reduction(+ : nsat, nfl)
    for (int64_t i = 0; i < n; i++) {
        int32_t ax = (int32_t)(f2u(in[i]) & 0x7FFFFFFFu);
        amax = ax > amax ? ax : amax;
        int32_t ay = (int32_t)(f2u(in[i] * scale) & 0x7FFFFFFFu);
        nsat += (ay > (int32_t)sat_thr) & (ay <= 0x7F800000);
        nfl += (ax != 0) & (ay <= (int32_t)zero_thr);
    }
    acc->amax = (uint32_t)amax;
    acc->nsat += nsat;
    acc->nfl += nfl;
}

#define QBLOCK (1 << 14)

/* Per block of 2^14 elements (64 KB, still in cache for the second loop):
 * one loop for the statistics (32-bit counters) and one for the codes; each
 * vectorizes at full width, the fused loop did not. */
ALWAYS_INLINE void quant_loop(uint8_t *out, qacc *acc, const float *in, int64_t n, int fmt,
                              float scale, bool sat, uint32_t sat_thr, uint32_t zero_thr)
{
    for (int64_t b = 0; b < n; b += QBLOCK) {
        int64_t m = n - b < QBLOCK ? n - b : QBLOCK;
        stats_block(acc, in + b, m, scale, sat_thr, zero_thr);
        encode_loop(out + b, in + b, m, fmt, scale, sat);
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
        else if (t->nan == RP_NAN_NONE) ovf = fabsf(y) > t->max;
        else if (!t->has_negative_zero) ovf = c == 0x80;
        else ovf = (c & 0x7Fu) == t->ovf_code;
        nsat += ovf;
        uint32_t magmask = (1u << (t->ebits + t->mbits)) - 1u;
        bool zero = fmt == RP_FMT_E8M0FNU ? y == 0.0f
                  : t->has_negative_zero ? (c & magmask) == 0 : c == 0;
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
    #pragma omp parallel if (n > RP_PAR_MIN)
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

/* ---- fused quantize-dequantize ---- */

/* Blocks of 4096: the input (16 KB) is still in L1 for the second loop. */
#define QDQ_BLOCK 4096

ALWAYS_INLINE void decode_loop(float *out, const uint8_t *c, int64_t n, int fmt, float inv_scale)
{
    #pragma omp simd
    for (int64_t i = 0; i < n; i++) out[i] = dec(fmt, c[i]) * inv_scale;
}

/* out = decode(code(in·scale))·inv_scale and the statistics, per block: the
 * same expressions as quantize + decode, so the same bits. Without codes to
 * keep, encode and decode run in one loop whose lanes stay 32 bits wide
 * (no byte packing), which vectorizes fully. */
ALWAYS_INLINE void qdq_loop(float *out, uint8_t *codes, qacc *acc, const float *in, int64_t n,
                            int fmt, float scale, float inv_scale, bool sat, uint32_t sat_thr,
                            uint32_t zero_thr)
{
    for (int64_t b = 0; b < n; b += QDQ_BLOCK) {
        int64_t m = n - b < QDQ_BLOCK ? n - b : QDQ_BLOCK;
        const float *x = in + b;
        float *o = out + b;
        stats_block(acc, x, m, scale, sat_thr, zero_thr);
        if (codes) {
            encode_loop(codes + b, x, m, fmt, scale, sat);
            decode_loop(o, codes + b, m, fmt, inv_scale);
        } else {
            #pragma omp simd
            for (int64_t i = 0; i < m; i++) o[i] = dec(fmt, enc32(fmt, f2u(x[i] * scale), sat)) * inv_scale;
        }
    }
}

RP_VECTOR_CLONES static void qdq_range(float *out, uint8_t *codes, qacc *acc, const float *in, int64_t n,
                                 int fmt, float scale, float inv_scale, bool sat, uint32_t sat_thr,
                                 uint32_t zero_thr)
{
    if (sat) { FMT_DISPATCH(qdq_loop(out, codes, acc, in, n, F_, scale, inv_scale, true, sat_thr, zero_thr)) }
    else { FMT_DISPATCH(qdq_loop(out, codes, acc, in, n, F_, scale, inv_scale, false, sat_thr, zero_thr)) }
}

HOT_CLONES static uint32_t amax_bits(const float *in, int64_t n)
{
    uint32_t m = 0;
    #pragma omp simd reduction(max : m)
    for (int64_t i = 0; i < n; i++) {
        uint32_t a = f2u(in[i]) & 0x7FFFFFFFu;
        m = a > m ? a : m;
    }
    return m;
}

/* One stochastically rounded job, in chunks through a stack buffer of codes
 * (word i of the stream (seed, base) is word 0 of (seed, base + i), so the
 * chunks give the bits of one call); current scaling takes the amax first. */
#define SR_CHUNK 4096
static void qdq_sr(rp_fp8_qdq_job *jb)
{
    float amax = rp_amax_f32(jb->in, jb->n);
    if (jb->current) jb->scale = rp_fp8_current_scale(amax, jb->fmt, jb->margin, jb->pow2);
    int64_t nsat = 0, nfl = 0;
    for (int64_t o = 0; o < jb->n; o += SR_CHUNK) {
        int64_t m = jb->n - o < SR_CHUNK ? jb->n - o : SR_CHUNK;
        uint8_t buf[SR_CHUNK];
        uint8_t *c = jb->codes ? jb->codes + o : buf;
        rp_fp8_qstats st;
        rp_fp8_quantize_f32(c, &st, jb->in + o, m, jb->fmt, jb->scale, jb->saturate, true, jb->seed,
                            jb->base + (uint64_t)o);
        rp_fp8_decode_f32(jb->out + o, c, m, jb->fmt, 1.0f / jb->scale);
        nsat += st.saturated;
        nfl += st.flushed;
    }
    jb->st = (rp_fp8_qstats){.amax = amax, .scale = jb->scale, .saturated = nsat, .flushed = nfl,
                             .numel = jb->n};
}

void rp_fp8_qdq_f32(rp_fp8_qdq_job *jobs, int njobs)
{
    if (njobs < 1) return;
    bool any_sr = false;
    for (int j = 0; j < njobs; j++) any_sr |= jobs[j].sr;
    if (any_sr) { /* one job at a time then (the results do not depend on grouping) */
        for (int j = 0; j < njobs; j++) {
            if (jobs[j].sr) qdq_sr(&jobs[j]);
            else rp_fp8_qdq_f32(&jobs[j], 1);
        }
        return;
    }
    if (njobs > RP_FP8_QDQ_MAXJOBS) { /* not one region then, but the same results */
        rp_fp8_qdq_f32(jobs, RP_FP8_QDQ_MAXJOBS);
        rp_fp8_qdq_f32(jobs + RP_FP8_QDQ_MAXJOBS, njobs - RP_FP8_QDQ_MAXJOBS);
        return;
    }
    uint32_t sat_thr[RP_FP8_QDQ_MAXJOBS], zero_thr[RP_FP8_QDQ_MAXJOBS], amax[RP_FP8_QDQ_MAXJOBS];
    qacc tot[RP_FP8_QDQ_MAXJOBS];
    int64_t total = 0;
    bool any_current = false;
    for (int j = 0; j < njobs; j++) {
        int fmt = jobs[j].fmt;
        sat_thr[j] = search_bits(fmt, false);
        /* e8m0fnu has no zero: only a product that underflowed to 0 counts. */
        zero_thr[j] = fmt == RP_FMT_E8M0FNU ? 0 : search_bits(fmt, true);
        amax[j] = 0;
        tot[j] = (qacc){0, 0, 0};
        total += jobs[j].n;
        any_current |= jobs[j].current;
    }
    /* One region for every job (each parallel region costs a wake-up of the
     * other threads). Max and integer sums are exact in any order, and each
     * element's value depends on its job's scale alone: the results do not
     * depend on the thread count. */
    #pragma omp parallel if (total > RP_PAR_MIN)
    {
        if (any_current) { /* current scaling: amax of the whole tensor first */
            for (int j = 0; j < njobs; j++) {
                if (!jobs[j].current) continue;
                PAR_RANGE(jobs[j].n, lo, hi);
                uint32_t m = amax_bits(jobs[j].in + lo, hi - lo);
                #pragma omp critical(rp_fp8_qdq)
                amax[j] = m > amax[j] ? m : amax[j];
            }
            #pragma omp barrier
        }
        for (int j = 0; j < njobs; j++) {
            const rp_fp8_qdq_job *jb = &jobs[j];
            float scale = jb->current ? rp_fp8_current_scale(u2f(amax[j]), jb->fmt, jb->margin, jb->pow2)
                                      : jb->scale;
            PAR_RANGE(jb->n, lo, hi);
            qacc acc = {0, 0, 0};
            qdq_range(jb->out + lo, jb->codes ? jb->codes + lo : NULL, &acc, jb->in + lo, hi - lo,
                      jb->fmt, scale, 1.0f / scale, jb->saturate, sat_thr[j], zero_thr[j]);
            #pragma omp critical(rp_fp8_qdq)
            {
                tot[j].amax = acc.amax > tot[j].amax ? acc.amax : tot[j].amax;
                tot[j].nsat += acc.nsat;
                tot[j].nfl += acc.nfl;
            }
        }
    }
    for (int j = 0; j < njobs; j++) {
        rp_fp8_qdq_job *jb = &jobs[j];
        if (jb->current) jb->scale = rp_fp8_current_scale(u2f(amax[j]), jb->fmt, jb->margin, jb->pow2);
        jb->st.amax = u2f(tot[j].amax);
        jb->st.scale = jb->scale;
        jb->st.saturated = tot[j].nsat;
        jb->st.flushed = tot[j].nfl;
        jb->st.numel = jb->n;
    }
}

static void quant_rowcol(uint8_t *codes, rp_fp8_qstats *st, const float *in, int64_t R,
                         int64_t C, int fmt, const float *scales, bool sat, bool rows)
{
    uint32_t sat_thr = search_bits(fmt, false);
    uint32_t zero_thr = fmt == RP_FMT_E8M0FNU ? 0 : search_bits(fmt, true);
    uint32_t amax = 0;
    int64_t nsat = 0, nfl = 0;
    #pragma omp parallel for schedule(static) reduction(max : amax) reduction(+ : nsat, nfl) if (R * C > RP_PAR_MIN)
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

/* out[c] = max_r |in[r*C + c]| for c < w (w <= C), by bit patterns, in
 * chunks of 512 columns whose running maxima stay in registers / L1. */
HOT_CLONES static void amax_cols_range(float *out, const float *in, int64_t R, int64_t C, int64_t w)
{
    uint32_t m[512];
    for (int64_t c0 = 0; c0 < w; c0 += 512) {
        int64_t cw = w - c0 < 512 ? w - c0 : 512;
        for (int64_t c = 0; c < cw; c++) m[c] = 0;
        for (int64_t r = 0; r < R; r++) {
            const float *row = in + r * C + c0;
            #pragma omp simd
            for (int64_t c = 0; c < cw; c++) {
                uint32_t a = f2u(row[c]) & 0x7FFFFFFFu;
                m[c] = a > m[c] ? a : m[c];
            }
        }
        for (int64_t c = 0; c < cw; c++) out[c0 + c] = u2f(m[c]);
    }
}

void rp_amax_rows_f32(float *out, const float *in, int64_t R, int64_t C)
{
    #pragma omp parallel for schedule(static) if (R * C > RP_PAR_MIN)
    for (int64_t r = 0; r < R; r++) out[r] = rp_amax_f32(in + r * C, C);
}

void rp_amax_cols_f32(float *out, const float *in, int64_t R, int64_t C)
{
    /* Each thread takes a range of columns over all rows (contiguous pieces
     * of every row); a max is exact in any order. */
    #pragma omp parallel if (R * C > RP_PAR_MIN && C > 1)
    {
        PAR_RANGE(C, lo, hi);
        if (hi > lo) amax_cols_range(out + lo, in + lo, R, C, hi - lo);
    }
}
