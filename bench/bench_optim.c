/* bench_optim.c: per-step time of soap (precondition_frequency 10) and
 * shampoo against adamw on 512x512 and 1024x256 weights, and one eigh / one
 * QR at 512 and 1024. Prints a table of times and ratios. Threads: REPRO_THREADS
 * (default: all cores). */
#define _POSIX_C_SOURCE 200809L /* clock_gettime under strict C11 (clang) */
#include "linalg.h"
#include "optim.h"
#include "rng.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Mean seconds per step over `steps` steps after `warm` warm-up steps (the
 * warm-up covers SOAP's statistics-only first step). */
static double time_steps(rp_optim_kind kind, int64_t m, int64_t n, int warm, int steps)
{
    int64_t shape[2] = {m, n};
    rp_optim_config c;
    rp_optim_defaults(&c, kind);
    c.precondition_frequency = 10;
    rp_tensor *p = rp_empty(RP_F32, 2, shape), *g = rp_empty(RP_F32, 2, shape);
    rp_generator gen;
    rp_generator_seed(&gen, 1);
    rp_fill_normal(p, &gen, 0, 0.02);
    rp_fill_normal(g, &gen, 0, 1e-3);
    rp_optim_state *st = rp_optim_state_new(&c, p);
    for (int i = 0; i < warm; i++) rp_optim_step(p, g, st, &c);
    double t0 = now();
    for (int i = 0; i < steps; i++)
        if (rp_optim_step(p, g, st, &c) != 0) { fprintf(stderr, "%s\n", rp_errmsg()); break; }
    double dt = (now() - t0) / steps;
    rp_optim_state_free(st);
    rp_tensor_release(p); rp_tensor_release(g);
    return dt;
}

static double time_linalg(int n, bool qr, int reps)
{
    size_t nn = (size_t)n * n;
    float *A = malloc(nn * sizeof(float)), *B = malloc(nn * sizeof(float)), *w = malloc((size_t)n * sizeof(float));
    int64_t shape[2] = {n, n};
    rp_tensor *x = rp_empty(RP_F32, 2, shape);
    rp_generator gen;
    rp_generator_seed(&gen, 2);
    rp_fill_normal(x, &gen, 0, 1);
    const float *X = RP_F32P(x);
    for (int i = 0; i < n; i++) /* symmetric input for eigh */
        for (int j = 0; j < n; j++) A[(size_t)i * n + j] = X[(size_t)i * n + j] + X[(size_t)j * n + i];
    double t0 = now();
    for (int r = 0; r < reps; r++) {
        if (qr) rp_qr_f32(B, NULL, A, n, n);
        else rp_eigh_f32(w, B, A, n);
    }
    double dt = (now() - t0) / reps;
    free(A); free(B); free(w);
    rp_tensor_release(x);
    return dt;
}

int main(int argc, char **argv)
{
    int steps = argc > 1 ? atoi(argv[1]) : 30;
    if (steps < 10) steps = 10;
    /* as the repro binary: REPRO_THREADS kernel threads (default all cores),
     * BLAS on one, so the preconditioner products split like rp_matmul's */
    const char *env = getenv("REPRO_THREADS");
    int threads = env ? atoi(env) : 0;
    rp_set_threads(threads > 0 ? threads : rp_get_threads());
    printf("threads: %d\n", rp_get_threads());
    printf("optimizer step, mean over %d steps (frequency 10; shampoo roots every 10 steps)\n", steps);
    printf("%-10s %12s %12s %12s %10s %10s\n", "weight", "adamw ms", "soap ms", "shampoo ms", "soap/adamw", "shampoo/adamw");
    int64_t shapes[2][2] = {{512, 512}, {1024, 256}};
    for (int s = 0; s < 2; s++) {
        int64_t m = shapes[s][0], n = shapes[s][1];
        double ta = time_steps(RP_OPT_ADAMW, m, n, 2, steps);
        double ts = time_steps(RP_OPT_SOAP, m, n, 2, steps);
        double th = time_steps(RP_OPT_SHAMPOO, m, n, 2, steps);
        char name[32];
        snprintf(name, sizeof name, "%lldx%lld", (long long)m, (long long)n);
        printf("%-10s %12.3f %12.3f %12.3f %10.1f %10.1f\n", name, 1e3 * ta, 1e3 * ts, 1e3 * th, ts / ta, th / ta);
    }
    printf("\n%-6s %12s %12s %10s\n", "n", "eigh ms", "qr ms", "eigh/qr");
    int sizes[2] = {512, 1024};
    for (int i = 0; i < 2; i++) {
        double te = time_linalg(sizes[i], false, 3), tq = time_linalg(sizes[i], true, 3);
        printf("%-6d %12.2f %12.2f %10.1f\n", sizes[i], 1e3 * te, 1e3 * tq, te / tq);
    }
    return 0;
}
