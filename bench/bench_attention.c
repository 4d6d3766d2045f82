/* bench_attention.c: causal attention forward + backward in useful GFLOP/s
 * (the causal half of q kᵀ and P v forward, twice that backward) for the
 * fused kernel (rp_attention_fused) and the default one (rp_attention),
 * against sgemm's rate on the same machine in the same run: a 1024³
 * cblas_sgemm on the run's threads, timed between the attention calls
 * (A B C A B C ...), so a load that comes and goes hits all three. Each
 * figure is the median over repetitions. Usage:
 *   bench_attention [reps]       the table
 *   bench_attention sgemm [reps] only the sgemm rate (bench/run's MFU) */
#define _POSIX_C_SOURCE 200809L /* clock_gettime under strict C11 (clang) */
#include "ops_nn.h"
#include "autograd.h"
#include "rng.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern void openblas_set_num_threads(int);

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static rp_generator gen = {.seed = 7, .offset = 0};

static rp_tensor *randn(int nd, const int64_t *shape)
{
    rp_tensor *t = rp_empty(RP_F32, nd, shape);
    rp_fill_normal(t, &gen, 0, 1);
    return t;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *x, int n)
{
    qsort(x, (size_t)n, sizeof *x, cmp_double);
    return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

#define SG_N 1024
static float *sa, *sb, *sc;

/* Seconds of one SG_N³ sgemm on the run's threads. */
static double time_sgemm(void)
{
    openblas_set_num_threads(rp_get_threads());
    double t0 = now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, SG_N, SG_N, SG_N, 1.0f, sa, SG_N, sb,
                SG_N, 0.0f, sc, SG_N);
    double t = now() - t0;
    openblas_set_num_threads(1);
    return t;
}

static double sgemm_gflops(double secs) { return 2.0 * SG_N * SG_N * SG_N * 1e-9 / secs; }

/* Seconds of forward + backward of f at q, k, v against g. */
static double time_att(rp_tensor *(*f)(const rp_tensor *, const rp_tensor *, const rp_tensor *),
                       rp_tensor *q, rp_tensor *k, rp_tensor *v, const rp_tensor *g)
{
    double t0 = now();
    rp_tensor *y = f(q, k, v);
    if (!y || rp_backward(y, g, false) != 0) {
        fprintf(stderr, "bench_attention: %s\n", rp_errmsg());
        exit(1);
    }
    double t = now() - t0;
    rp_tensor_release(y);
    rp_tensor *in[3] = {q, k, v};
    for (int i = 0; i < 3; i++) {
        rp_tensor_release(in[i]->grad);
        in[i]->grad = NULL;
    }
    return t;
}

#define MAX_REPS 200

static void shape_row(const int64_t s[4], int reps)
{
    rp_tensor *q = randn(4, s), *k = randn(4, s), *v = randn(4, s), *g = randn(4, s);
    q->requires_grad = k->requires_grad = v->requires_grad = true;
    double tf[MAX_REPS], tb[MAX_REPS], ts[MAX_REPS], ratio[MAX_REPS];
    double gflop = 3 * 2.0 * 2 * (double)(s[0] * s[1]) * (double)s[2] * (double)s[2] *
                   (double)s[3] / 2 * 1e-9;
    for (int r = -1; r < reps; r++) { /* round -1 warms up */
        double a = time_sgemm(), b = time_att(rp_attention_fused, q, k, v, g),
               c = time_att(rp_attention, q, k, v, g);
        if (r < 0) continue;
        ts[r] = sgemm_gflops(a);
        tf[r] = gflop / b;
        tb[r] = gflop / c;
        ratio[r] = tf[r] / ts[r];
    }
    printf("attention (%lld,%lld,%lld,%lld)\t%.1f\t%.1f\t%.1f\t%.3f\n", (long long)s[0],
           (long long)s[1], (long long)s[2], (long long)s[3], median(tf, reps), median(tb, reps),
           median(ts, reps), median(ratio, reps));
    rp_tensor_release(q); rp_tensor_release(k); rp_tensor_release(v); rp_tensor_release(g);
}

int main(int argc, char **argv)
{
    bool only_sgemm = argc > 1 && strcmp(argv[1], "sgemm") == 0;
    int reps = argc > 1 + only_sgemm ? atoi(argv[1 + only_sgemm]) : 7;
    if (reps < 1) reps = 1;
    if (reps > MAX_REPS) reps = MAX_REPS;
    rp_set_threads(rp_get_threads());
    sa = malloc(sizeof(float) * SG_N * SG_N);
    sb = malloc(sizeof(float) * SG_N * SG_N);
    sc = malloc(sizeof(float) * SG_N * SG_N);
    if (!sa || !sb || !sc) return 1;
    for (int i = 0; i < SG_N * SG_N; i++) {
        sa[i] = (float)((i * 37) % 101) / 101.0f - 0.5f;
        sb[i] = (float)((i * 53) % 97) / 97.0f - 0.5f;
    }
    if (only_sgemm) {
        double t[MAX_REPS];
        time_sgemm();
        for (int r = 0; r < reps; r++) t[r] = sgemm_gflops(time_sgemm());
        printf("sgemm_gflops\t%.1f\n", median(t, reps));
        return 0;
    }
    printf("# causal attention forward+backward, useful GFLOP/s, %d threads, median of %d\n",
           rp_get_threads(), reps);
    printf("shape\tfused\tdefault\tsgemm\tfused/sgemm\n");
    /* the large and small benchmark models (bench/lm_common.lua), and the
     * experiments' fast presets (dim 64, 4 heads, seq_len 64, batch 16) */
    static const int64_t shapes[3][4] = {{8, 6, 256, 64}, {16, 4, 128, 32}, {16, 4, 64, 16}};
    for (int i = 0; i < 3; i++) shape_row(shapes[i], reps);
    free(sa); free(sb); free(sc);
    return 0;
}
