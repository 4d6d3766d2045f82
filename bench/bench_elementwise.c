/* bench_elementwise.c: elementwise f32 ops on 16M elements, as a ratio of
 * effective bandwidth (bytes read + written per second) to memcpy of the
 * same tensor size measured in the same run. Ops are timed as callers see
 * them (output allocation included); best of several repetitions. */
#define _POSIX_C_SOURCE 200809L
#include "ops.h"
#include "rng.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define N (16 << 20)
#define REPS 7

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc > 1) rp_set_threads(atoi(argv[1]));
    int64_t n = N;
    rp_generator g;
    rp_generator_seed(&g, 1);
    rp_tensor *a = rp_empty(RP_F32, 1, &n), *b = rp_empty(RP_F32, 1, &n);
    rp_fill_normal(a, &g, 0, 1);
    rp_fill_normal(b, &g, 0, 1);
    size_t bytes = (size_t)N * 4;
    char *dst = malloc(bytes);
    memset(dst, 1, bytes);
    double best = 1e9;
    for (int r = 0; r < REPS; r++) {
        double t0 = now();
        memcpy(dst, rp_data(a), bytes);
        double t = now() - t0;
        if (t < best) best = t;
    }
    double bw_memcpy = 2.0 * (double)bytes / best;
    printf("threads %d, %d elements, memcpy %.2f GB/s (read + write)\n", rp_get_threads(), N, bw_memcpy / 1e9);
    printf("%-10s %10s %10s %8s\n", "op", "ms", "GB/s", "ratio");
    const char *names[] = {"add", "mul", "add_scalar", "exp", "silu"};
    int ntensor[] = {3, 3, 2, 2, 2}; /* tensors read + written */
    for (int k = 0; k < 5; k++) {
        double bt = 1e9;
        for (int r = 0; r < REPS; r++) {
            double t0 = now();
            rp_tensor *o = k == 0 ? rp_add(a, b) : k == 1 ? rp_mul(a, b) : k == 2 ? rp_add_scalar(a, 1.0)
                         : k == 3 ? rp_unary(RP_EXP, a) : rp_unary(RP_SILU, a);
            double t = now() - t0;
            rp_tensor_release(o);
            if (t < bt) bt = t;
        }
        double bw = (double)ntensor[k] * (double)bytes / bt;
        printf("%-10s %10.2f %10.2f %7.0f%%\n", names[k], bt * 1e3, bw / 1e9, 100.0 * bw / bw_memcpy);
    }
    free(dst);
    rp_tensor_release(a);
    rp_tensor_release(b);
    return 0;
}
