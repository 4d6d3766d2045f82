/* bench_mx.c: MX block quantize + dequantize (fp32 -> codes + e8m0fnu block
 * scales -> fp32) of n elements against memcpy of the same n floats, per MX
 * format, interleaved (memcpy, MX) x 7 pairs; prints the median and min-max
 * of the ratio memcpy time / MX time (1.0 = memcpy speed; the issue's
 * target is >= 0.5). Usage: bench_mx [n_elements] [threads]  (default 16M, 1) */
#define _POSIX_C_SOURCE 200809L /* clock_gettime under strict C11 (clang) */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fp8.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int64_t n = argc > 1 ? atoll(argv[1]) : (int64_t)16 << 20;
    int threads = argc > 2 ? atoi(argv[2]) : 1;
    omp_set_num_threads(threads);
    const int64_t K = 4096, R = n / K;
    n = R * K;
    float *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y);
    uint8_t *c = malloc((size_t)n), *s = malloc((size_t)(R * rp_mx_row_blocks(K)));
    if (!x || !y || !c || !s) { fprintf(stderr, "bench_mx: out of memory\n"); return 1; }
    for (int64_t i = 0; i < n; i++) {
        uint32_t h = (uint32_t)i * 2654435761u;
        h ^= h >> 15; h *= 2246822519u; h ^= h >> 13;
        x[i] = ((float)(h >> 8) / 16777216.0f - 0.5f) * 8.0f;
        y[i] = 0; c[i] = 0;
    }
    printf("bench_mx: n = %lld (%.0f MB of f32), rows of %lld, %d thread(s); ratio = memcpy time / "
           "(MX quantize + dequantize) time, 7 interleaved pairs\n",
           (long long)n, (double)n * 4 / 1e6, (long long)K, threads);
    enum { PAIRS = 7 };
    for (int mx = 0; mx < RP_NMX; mx++) {
        double r[PAIRS];
        for (int p = 0; p < PAIRS; p++) {
            double t0 = now();
            memcpy(y, x, (size_t)n * sizeof *x);
            double t1 = now();
            float amax;
            rp_mx_quantize_f32(c, s, &amax, x, R, K, mx);
            rp_mx_dequantize_f32(y, c, s, R, K, mx);
            double t2 = now();
            r[p] = (t1 - t0) / (t2 - t1);
        }
        qsort(r, PAIRS, sizeof r[0], cmp);
        printf("%-11s median %.2f  (min %.2f, max %.2f)\n", rp_mx_info[mx].name, r[PAIRS / 2], r[0],
               r[PAIRS - 1]);
    }
    free(x); free(y); free(c); free(s);
    return 0;
}
