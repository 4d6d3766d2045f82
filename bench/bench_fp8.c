/* bench_fp8.c: fp32 -> e4m3fn quantization (scale applied, amax and
 * saturation/flush counts computed in the same pass) on 64M elements,
 * against memcpy of the same 256 MB, on 1 and 2 threads. Target: the
 * quantizer reads its input at >= 50% of memcpy's bandwidth. Also the
 * simulated-FP8 operand of a GEMM: quantize + decode (two passes, codes in
 * memory) against the fused rp_fp8_qdq_f32 (one pass, f32 out).
 * Usage: bench_fp8 [n_elements]   (default 64M) */
#define _POSIX_C_SOURCE 200809L /* clock_gettime under strict C11 (clang) */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fp8.h"

static double clk(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}
static double now(void) { return clk(CLOCK_MONOTONIC); }
/* CPU seconds of the whole process: on a shared, oversubscribed machine the
 * wall-clock ratio mostly measures the other tenants; this one does not. */
static double cpu(void) { return clk(CLOCK_PROCESS_CPUTIME_ID); }

static void par_memcpy(float *dst, const float *src, int64_t n)
{
    #pragma omp parallel
    {
        int nt = omp_get_num_threads(), t = omp_get_thread_num();
        int64_t lo = n * t / nt, hi = n * (t + 1) / nt;
        memcpy(dst + lo, src + lo, (size_t)(hi - lo) * sizeof *dst);
    }
}

int main(int argc, char **argv)
{
    int64_t n = argc > 1 ? atoll(argv[1]) : (int64_t)64 << 20;
    float *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y);
    uint8_t *q = malloc((size_t)n);
    if (!x || !y || !q) { fprintf(stderr, "bench_fp8: out of memory for n=%lld\n", (long long)n); return 1; }
    uint32_t s = 42;
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        uint32_t h = (uint32_t)i * 2654435761u ^ s;
        h ^= h >> 15; h *= 2246822519u; h ^= h >> 13;
        x[i] = ((float)(h >> 8) / 16777216.0f - 0.5f) * 8.0f;
        y[i] = 0; q[i] = 0; /* touch every page before timing */
    }
    const double mb = (double)n * sizeof(float) / 1e6;
    printf("bench_fp8: n = %lld (%.0f MB of f32 input)\n", (long long)n, mb);
    for (int threads = 1; threads <= 2; threads++) {
        omp_set_num_threads(threads);
        double tm = 1e30, tq = 1e30, tr = 1e30, cm = 1e30, cq = 1e30, cr = 1e30;
        double t2p = 1e30, tf = 1e30, c2p = 1e30, cf = 1e30;
        rp_fp8_qstats st = {0};
        for (int rep = 0; rep < 5; rep++) {
            double t0 = now(), c0 = cpu();
            par_memcpy(y, x, n);
            double t1 = now(), c1 = cpu();
            rp_fp8_quantize_f32(q, &st, x, n, RP_FMT_E4M3FN, 50.0f, true, false, 0, 0);
            double t2 = now(), c2 = cpu();
            rp_fp8_encode_f32(q, x, n, RP_FMT_E4M3FN, 50.0f, true);
            double t3 = now(), c3 = cpu();
            tm = fmin(tm, t1 - t0); tq = fmin(tq, t2 - t1); tr = fmin(tr, t3 - t2);
            cm = fmin(cm, c1 - c0); cq = fmin(cq, c2 - c1); cr = fmin(cr, c3 - c2);
            rp_fp8_quantize_f32(q, &st, x, n, RP_FMT_E4M3FN, 50.0f, true, false, 0, 0);
            rp_fp8_decode_f32(y, q, n, RP_FMT_E4M3FN, 1.0f / 50.0f);
            double t4 = now(), c4 = cpu();
            rp_fp8_qdq_job j = {.out = y, .in = x, .n = n, .fmt = RP_FMT_E4M3FN, .saturate = true,
                                .scale = 50.0f};
            rp_fp8_qdq_f32(&j, 1);
            double t5 = now(), c5 = cpu();
            t2p = fmin(t2p, t4 - t3); tf = fmin(tf, t5 - t4);
            c2p = fmin(c2p, c4 - c3); cf = fmin(cf, c5 - c4);
        }
        printf("threads %d wall: memcpy %7.1f MB/s | quantize+amax+stats %7.1f MB/s (%3.0f%% of memcpy)"
               " | encode only %7.1f MB/s (%3.0f%%)\n",
               threads, mb / tm, mb / tq, 100.0 * tm / tq, mb / tr, 100.0 * tm / tr);
        printf("threads %d cpu:  memcpy %7.1f MB/s | quantize+amax+stats %7.1f MB/s (%3.0f%% of memcpy)"
               " | encode only %7.1f MB/s (%3.0f%%)   [amax %.3f, saturated %lld]\n",
               threads, mb / cm, mb / cq, 100.0 * cm / cq, mb / cr, 100.0 * cm / cr,
               (double)st.amax, (long long)st.saturated);
        printf("threads %d wall: quantize + decode %7.1f MB/s | fused qdq %7.1f MB/s (%.2fx)\n",
               threads, mb / t2p, mb / tf, t2p / tf);
        printf("threads %d cpu:  quantize + decode %7.1f MB/s | fused qdq %7.1f MB/s (%.2fx)\n",
               threads, mb / c2p, mb / cf, c2p / cf);
    }
    free(x);
    free(y);
    free(q);
    return 0;
}
