/* bench_matmul.c: rp_matmul on contiguous and transposed views against a
 * direct cblas_sgemm on the same data (ratio = direct time / op time, target
 * >= 0.95), at 512^3, at the attention shapes of a seq_len 256, dim 384,
 * 6-head model with batch 8, and at its qkv projection; then the fused
 * attention forward + backward at that shape. Times are the minimum over
 * repetitions (the machine is shared). Usage: bench_matmul [reps]. */
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

/* One comparison: batch x (M, K) · (K, N); b stored (K, N) or, if bt, (N, K). */
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
        double t0 = now();
        for (int64_t i = 0; i < batch; i++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, bt ? CblasTrans : CblasNoTrans, (int)M,
                        (int)N, (int)K, 1.0f, RP_F32P(a) + i * M * K, (int)K,
                        RP_F32P(bs) + i * K * N, bt ? (int)K : (int)N, 0.0f,
                        RP_F32P(c) + i * M * N, (int)N);
        double t1 = now();
        rp_tensor *y = rp_matmul(a, b);
        double t2 = now();
        if (!y) { fprintf(stderr, "%s: %s\n", name, rp_errmsg()); exit(1); }
        rp_tensor_release(y);
        if (r > 0) { /* first round warms up */
            if (t1 - t0 < best_direct) best_direct = t1 - t0;
            if (t2 - t1 < best_op) best_op = t2 - t1;
        }
    }
    double gflop = 2.0 * (double)batch * (double)M * (double)N * (double)K * 1e-9;
    printf("%-34s %8.3f ms %8.3f ms %7.1f %6.3f\n", name, best_direct * 1e3, best_op * 1e3,
           gflop / best_op, best_direct / best_op);
    rp_tensor_release(a); rp_tensor_release(b); rp_tensor_release(bs); rp_tensor_release(c);
}

static void bench_attention(int reps)
{
    int64_t s[4] = {8, 6, 256, 64};
    rp_tensor *q = randn(4, s), *k = randn(4, s), *v = randn(4, s), *g = randn(4, s);
    q->requires_grad = k->requires_grad = v->requires_grad = true;
    double best_f = 1e30, best_fb = 1e30;
    for (int r = 0; r < reps + 1; r++) {
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
        if (r > 0) {
            if (t1 - t0 < best_f) best_f = t1 - t0;
            if (t2 - t0 < best_fb) best_fb = t2 - t0;
        }
    }
    /* causal: count the useful half of q kᵀ and P v (fwd), 2x that for bwd */
    double fwd_gflop = 2.0 * 2 * 48 * 256.0 * 256 * 64 / 2 * 1e-9;
    printf("attention (8,6,256,64) forward          %8.3f ms  (%.1f useful GFLOP/s)\n",
           best_f * 1e3, fwd_gflop / best_f);
    printf("attention (8,6,256,64) forward+backward %8.3f ms  (%.1f useful GFLOP/s)\n",
           best_fb * 1e3, 3 * fwd_gflop / best_fb);
    rp_tensor_release(q); rp_tensor_release(k); rp_tensor_release(v); rp_tensor_release(g);
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
    bench_attention(reps);
    return 0;
}
