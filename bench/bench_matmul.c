/* bench_matmul.c: rp_matmul on contiguous and transposed views against a
 * direct cblas_sgemm on the same data (ratio = direct time / op time, target
 * >= 0.95), at 512^3, at the attention shapes of a seq_len 256, dim 384,
 * 6-head model with batch 8, and at its qkv projection; then the fused
 * attention forward + backward (against its full T x T kernel) and RoPE at
 * that shape and two smaller ones. Times are the minimum over repetitions
 * (the machine is shared). Usage: bench_matmul [reps]. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime under strict C11 (clang) */
#include "ops_nn.h"
#include "autograd.h"
#include "rng.h"

#include <cblas.h>
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

static rp_generator gen = {.seed = 5, .offset = 0};

static rp_tensor *randn(int nd, const int64_t *shape)
{
    rp_tensor *t = rp_empty(RP_F32, nd, shape);
    rp_fill_normal(t, &gen, 0, 1);
    return t;
}

/* View with the last two dims swapped (strides (1, ld): a column-major matrix). */
static rp_tensor *tview(const rp_tensor *t)
{
    int nd = t->ndim;
    int64_t sh[RP_MAXDIM], st[RP_MAXDIM];
    memcpy(sh, t->shape, sizeof sh);
    memcpy(st, t->stride, sizeof st);
    sh[nd - 1] = t->shape[nd - 2]; sh[nd - 2] = t->shape[nd - 1];
    st[nd - 1] = t->stride[nd - 2]; st[nd - 2] = t->stride[nd - 1];
    return rp_alias(t, nd, sh, st, t->offset);
}

/* OpenBLAS's own thread switch: the kit keeps BLAS on one thread and splits
 * products itself, while the peer below is threaded OpenBLAS. */
extern void openblas_set_num_threads(int);

/* One comparison: batch x (M, K) · (K, N); b stored (K, N) or, if bt, (N, K).
 * The peer is cblas_sgemm on rp_get_threads() BLAS threads, one call per batch
 * entry, as the kit did before it split products itself. */
static void compare(const char *name, int64_t batch, int64_t M, int64_t K, int64_t N, bool bt,
                    int reps)
{
    int64_t sa[3] = {batch, M, K}, sb[3] = {batch, bt ? N : K, bt ? K : N}, sc[3] = {batch, M, N};
    int nd = batch > 1 ? 3 : 2;
    rp_tensor *a = randn(nd, sa + (3 - nd)), *bs = randn(nd, sb + (3 - nd));
    rp_tensor *b = bt ? tview(bs) : (rp_tensor_retain(bs), bs);
    rp_tensor *c = rp_empty(RP_F32, nd, sc + (3 - nd));
    double best_direct = 1e30, best_op = 1e30;
    for (int r = 0; r < reps + 1; r++) {
        openblas_set_num_threads(rp_get_threads());
        double t0 = now();
        for (int64_t i = 0; i < batch; i++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, bt ? CblasTrans : CblasNoTrans, (int)M,
                        (int)N, (int)K, 1.0f, RP_F32P(a) + i * M * K, (int)K,
                        RP_F32P(bs) + i * K * N, bt ? (int)K : (int)N, 0.0f,
                        RP_F32P(c) + i * M * N, (int)N);
        double t1 = now();
        openblas_set_num_threads(1);
        double t2 = now();
        rp_tensor *y = rp_matmul(a, b);
        double t3 = now();
        if (!y) { fprintf(stderr, "%s: %s\n", name, rp_errmsg()); exit(1); }
        rp_tensor_release(y);
        if (r > 0) { /* first round warms up */
            if (t1 - t0 < best_direct) best_direct = t1 - t0;
            if (t3 - t2 < best_op) best_op = t3 - t2;
        }
    }
    double gflop = 2.0 * (double)batch * (double)M * (double)N * (double)K * 1e-9;
    printf("%-34s %8.3f ms %8.3f ms %7.1f %6.3f\n", name, best_direct * 1e3, best_op * 1e3,
           gflop / best_op, best_direct / best_op);
    rp_tensor_release(a); rp_tensor_release(b); rp_tensor_release(bs); rp_tensor_release(c);
}


/* Fused attention forward and forward + backward at (B, H, T, D), default
 * kernel and full T x T kernel interleaved (minimum over repetitions of
 * each); then RoPE forward + backward on the heads' (B, T, H, D) -> (B, H,
 * T, D) view, as the model applies it. */
static void bench_attention(const int64_t s[4], int reps)
{
    rp_tensor *q = randn(4, s), *k = randn(4, s), *v = randn(4, s), *g = randn(4, s);
    q->requires_grad = k->requires_grad = v->requires_grad = true;
    double best_f[2] = {1e30, 1e30}, best_fb[2] = {1e30, 1e30};
    int dflt = rp_attention_kernel(-1);
    for (int r = 0; r < reps + 1; r++) {
        for (int w = 0; w < 2; w++) { /* w 0: default kernel, 1: full */
            rp_attention_kernel(w ? 0 : dflt);
            double t0 = now();
            rp_tensor *y = rp_attention(q, k, v);
            double t1 = now();
            if (!y || rp_backward(y, g, false) != 0) { fprintf(stderr, "attention: %s\n", rp_errmsg()); exit(1); }
            double t2 = now();
            rp_tensor_release(y);
            for (int i = 0; i < 3; i++) {
                rp_tensor *in = i == 0 ? q : i == 1 ? k : v;
                rp_tensor_release(in->grad);
                in->grad = NULL;
            }
            if (r > 0) { /* first round warms up (and lets the default kernel check its blocks) */
                if (t1 - t0 < best_f[w]) best_f[w] = t1 - t0;
                if (t2 - t0 < best_fb[w]) best_fb[w] = t2 - t0;
            }
        }
    }
    rp_attention_kernel(dflt);
    char name[64];
    snprintf(name, sizeof name, "attention (%lld,%lld,%lld,%lld)", (long long)s[0],
             (long long)s[1], (long long)s[2], (long long)s[3]);
    /* causal: count the useful half of q kᵀ and P v (fwd), 2x that for bwd */
    double fwd_gflop = 2.0 * 2 * (double)(s[0] * s[1]) * (double)s[2] * (double)s[2] *
                       (double)s[3] / 2 * 1e-9;
    printf("%s forward          %8.3f ms  (%.1f useful GFLOP/s)\n", name, best_f[0] * 1e3,
           fwd_gflop / best_f[0]);
    printf("%s forward+backward %8.3f ms  (%.1f useful GFLOP/s)\n", name, best_fb[0] * 1e3,
           3 * fwd_gflop / best_fb[0]);
    printf("%s full T x T kernel: forward %.3f ms, forward+backward %.3f ms; default x%.2f, x%.2f\n",
           name, best_f[1] * 1e3, best_fb[1] * 1e3, best_f[1] / best_f[0], best_fb[1] / best_fb[0]);
    rp_tensor_release(q); rp_tensor_release(k); rp_tensor_release(v);

    int64_t sb[4] = {s[0], s[2], s[1], s[3]};
    rp_tensor *xs = randn(4, sb);
    int64_t sh[4] = {s[0], s[1], s[2], s[3]}, st[4] = {xs->stride[0], xs->stride[2], xs->stride[1], xs->stride[3]};
    rp_tensor *x = rp_alias(xs, 4, sh, st, xs->offset);
    x->requires_grad = true;
    double best = 1e30;
    for (int r = 0; r < reps + 1; r++) {
        double t0 = now();
        rp_tensor *y = rp_rope(x, 0, 10000);
        if (!y || rp_backward(y, g, false) != 0) { fprintf(stderr, "rope: %s\n", rp_errmsg()); exit(1); }
        double t1 = now();
        rp_tensor_release(y);
        rp_tensor_release(x->grad);
        x->grad = NULL;
        if (r > 0 && t1 - t0 < best) best = t1 - t0;
    }
    printf("rope (%lld,%lld,%lld,%lld) heads view forward+backward %8.3f ms\n", (long long)s[0],
           (long long)s[1], (long long)s[2], (long long)s[3], best * 1e3);
    rp_tensor_release(x); rp_tensor_release(xs); rp_tensor_release(g);
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 10;
    rp_set_threads(rp_get_threads());
    printf("threads: %d\n", rp_get_threads());
    printf("%-34s %11s %11s %7s %6s\n", "case", "direct", "rp_matmul", "GFLOP/s", "ratio");
    compare("512x512x512 contiguous", 1, 512, 512, 512, false, reps);
    compare("512x512x512 b = w:t()", 1, 512, 512, 512, true, reps);
    compare("attn q.kT 48x(256x64x256) k:t()", 48, 256, 64, 256, true, reps);
    compare("attn p.v 48x(256x256x64)", 48, 256, 256, 64, false, reps);
    compare("qkv proj 2048x384 . w:t() (384->1152)", 1, 2048, 384, 1152, true, reps);
    /* the large and small benchmark models (bench/lm_common.lua), and the
     * fast presets of the experiments (dim 64, 4 heads, seq_len 64, batch 16) */
    const int64_t att_shapes[3][4] = {{8, 6, 256, 64}, {16, 4, 128, 32}, {16, 4, 64, 16}};
    for (int i = 0; i < 3; i++) bench_attention(att_shapes[i], reps);
    return 0;
}
