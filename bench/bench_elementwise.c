/* bench_elementwise.c: elementwise f32 ops on 16M elements, as a ratio of
 * effective bandwidth (bytes read + written per second) to memcpy of the
 * same tensor size measured in the same run. Ops are timed as callers see
 * them (output allocation included); best of several repetitions, since the
 * machine may be shared. silu_mul_bwd times the SwiGLU gate's backward
 * kernel over the same 16K-element parallel chunks its autograd node uses
 * (the engine around it copies the incoming gradient, which is not the
 * kernel's cost). */
#define _POSIX_C_SOURCE 200809L
#include "ops.h"
#include "ops_nn.h"
#include "rng.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define N (16 << 20)
#define REPS 9
#define CHUNK (1 << 14)

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ga, gb = d(silu(a) * b) for upstream g, as silu_mul's backward computes them */
static rp_tensor *silu_mul_bwd(const rp_tensor *g, const rp_tensor *a, const rp_tensor *b)
{
    int64_t n = rp_numel(a);
    rp_tensor *ga = rp_empty_uninit(RP_F32, 1, &n), *gb = rp_empty_uninit(RP_F32, 1, &n);
    if (!ga || !gb) { rp_tensor_release(ga); rp_tensor_release(gb); return NULL; }
    float *pa = RP_F32P(ga), *pb = RP_F32P(gb);
    const float *pg = RP_F32P(g), *xa = RP_F32P(a), *xb = RP_F32P(b);
    int64_t nchunks = (n + CHUNK - 1) / CHUNK;
    #pragma omp parallel for schedule(static)
    for (int64_t k = 0; k < nchunks; k++) {
        int64_t s = k * CHUNK, len = n - s < CHUNK ? n - s : CHUNK;
        rp_silu_mul_backward_f32(pa + s, pb + s, pg + s, xa + s, xb + s, len);
    }
    rp_tensor_release(gb);
    return ga;
}

int main(int argc, char **argv)
{
    if (argc > 1) rp_set_threads(atoi(argv[1]));
    int64_t n = N;
    rp_generator g;
    rp_generator_seed(&g, 1);
    rp_tensor *a = rp_empty(RP_F32, 1, &n), *b = rp_empty(RP_F32, 1, &n);
    rp_tensor *c = rp_empty(RP_F32, 1, &n);
    rp_fill_normal(a, &g, 0, 1);
    rp_fill_normal(b, &g, 0, 1);
    rp_fill_normal(c, &g, 0, 1);
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
    printf("%-12s %10s %10s %8s\n", "op", "ms", "GB/s", "ratio");
    const char *names[] = {"add", "mul", "add_scalar", "exp", "sigmoid", "silu", "silu_mul",
                           "silu_mul_bwd"};
    int ntensor[] = {3, 3, 2, 2, 2, 2, 3, 5}; /* tensors read + written */
    int nops = (int)(sizeof names / sizeof names[0]);
    for (int k = 0; k < nops; k++) {
        double bt = 1e9;
        for (int r = 0; r < REPS; r++) {
            double t0 = now();
            rp_tensor *o = k == 0 ? rp_add(a, b) : k == 1 ? rp_mul(a, b) : k == 2 ? rp_add_scalar(a, 1.0)
                         : k == 3 ? rp_unary(RP_EXP, a) : k == 4 ? rp_unary(RP_SIGMOID, a)
                         : k == 5 ? rp_unary(RP_SILU, a) : k == 6 ? rp_silu_mul(a, b)
                         : silu_mul_bwd(c, a, b);
            double t = now() - t0;
            if (!o) { fprintf(stderr, "bench_elementwise: %s failed: %s\n", names[k], rp_errmsg()); return 1; }
            rp_tensor_release(o);
            if (t < bt) bt = t;
        }
        double bw = (double)ntensor[k] * (double)bytes / bt;
        printf("%-12s %10.2f %10.2f %7.0f%%\n", names[k], bt * 1e3, bw / 1e9, 100.0 * bw / bw_memcpy);
    }
    free(dst);
    rp_tensor_release(a);
    rp_tensor_release(b);
    rp_tensor_release(c);
    return 0;
}
