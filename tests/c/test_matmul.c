/* test_matmul.c: matmul / outer against the naive reference, on contiguous,
 * transposed and non-BLAS views, with broadcasting; gradients against
 * central finite differences; errors; determinism across thread counts;
 * products split into blocks against one whole sgemm; rp_gemm against one
 * cblas_sgemm. */
#include "check.h"
#include "ops_nn.h"
#include "autograd.h"
#include "rng.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

static rp_generator gen = {.seed = 1234, .offset = 0};

static rp_tensor *randn(int nd, const int64_t *shape)
{
    rp_tensor *t = rp_empty(RP_F32, nd, shape);
    rp_fill_normal(t, &gen, 0, 1);
    return t;
}

/* A view of a fresh (…, C, R) tensor with the last two dims swapped: shape
 * (…, R, C) and strides (1, R) in them — the layout of w:t(). */
static rp_tensor *randn_t(int nd, const int64_t *shape)
{
    int64_t s[RP_MAXDIM];
    memcpy(s, shape, sizeof(int64_t) * (size_t)nd);
    s[nd - 1] = shape[nd - 2];
    s[nd - 2] = shape[nd - 1];
    rp_tensor *base = randn(nd, s);
    int64_t st[RP_MAXDIM];
    memcpy(st, base->stride, sizeof st);
    st[nd - 1] = base->stride[nd - 2];
    st[nd - 2] = base->stride[nd - 1];
    rp_tensor *v = rp_alias(base, nd, shape, st, 0);
    rp_tensor_release(base);
    return v;
}

/* A view neither row- nor column-major: every other column of a wider tensor. */
static rp_tensor *randn_strided(int nd, const int64_t *shape)
{
    int64_t s[RP_MAXDIM];
    memcpy(s, shape, sizeof(int64_t) * (size_t)nd);
    s[nd - 1] = 2 * shape[nd - 1];
    rp_tensor *base = randn(nd, s);
    int64_t st[RP_MAXDIM];
    memcpy(st, base->stride, sizeof st);
    st[nd - 1] = 2;
    rp_tensor *v = rp_alias(base, nd, shape, st, 1);
    rp_tensor_release(base);
    return v;
}

static double max_abs_diff(const rp_tensor *a, const rp_tensor *b)
{
    if (!rp_same_shape(a, b)) return INFINITY;
    double m = 0;
    for (int64_t i = 0; i < rp_numel(a); i++) {
        double d = fabs(rp_get_flat(a, i) - rp_get_flat(b, i));
        if (!(d <= m)) m = d;
    }
    return m;
}

/* ---- finite differences ---- */

typedef rp_tensor *(*op2)(const rp_tensor *, const rp_tensor *);

/* loss = Σ out·R in double, R a fixed pseudo-random weighting. */
static double weighted_sum(const rp_tensor *out)
{
    double s = 0;
    for (int64_t i = 0; i < rp_numel(out); i++) s += rp_get_flat(out, i) * (0.5 + 0.37 * (double)((i * 7) % 5));
    return s;
}

static rp_tensor *weights_like(const rp_tensor *out)
{
    rp_tensor *r = rp_empty(RP_F32, out->ndim, out->shape);
    for (int64_t i = 0; i < rp_numel(out); i++) RP_F32P(r)[i] = (float)(0.5 + 0.37 * (double)((i * 7) % 5));
    return r;
}

/* Check d(weighted_sum(f(a, b)))/d(a, b) from backward against central differences. */
static void gradcheck2(const char *name, op2 f, rp_tensor *a, rp_tensor *b)
{
    rp_tensor *in[2] = {a, b};
    for (int k = 0; k < 2; k++) {
        in[k]->requires_grad = true;
        rp_tensor_release(in[k]->grad);
        in[k]->grad = NULL;
    }
    rp_tensor *out = f(a, b);
    CHECK(out != NULL);
    if (!out) { fprintf(stderr, "%s: %s\n", name, rp_errmsg()); return; }
    rp_tensor *r = weights_like(out);
    CHECK(rp_backward(out, r, false) == 0);
    rp_tensor_release(r);
    rp_tensor_release(out);
    bool prev = rp_set_grad_enabled(false);
    const double eps = 1e-2;
    for (int k = 0; k < 2; k++) {
        CHECK(in[k]->grad != NULL);
        if (!in[k]->grad) continue;
        for (int64_t i = 0; i < rp_numel(in[k]); i++) {
            double x0 = rp_get_flat(in[k], i);
            rp_set_flat(in[k], i, x0 + eps);
            rp_tensor *op = f(a, b);
            double lp = weighted_sum(op);
            rp_tensor_release(op);
            rp_set_flat(in[k], i, x0 - eps);
            rp_tensor *om = f(a, b);
            double lm = weighted_sum(om);
            rp_tensor_release(om);
            rp_set_flat(in[k], i, x0);
            double num = (lp - lm) / (2 * eps), ana = rp_get_flat(in[k]->grad, i);
            double tol = 2e-3 * (1 + fabs(num));
            if (fabs(num - ana) > tol)
                fprintf(stderr, "%s: input %d element %lld: numeric %g analytic %g\n", name, k,
                        (long long)i, num, ana);
            CHECK_NEAR(num, ana, tol);
        }
    }
    rp_set_grad_enabled(prev);
}

typedef rp_tensor *(*maker)(int, const int64_t *);

static void case_vs_ref(const char *name, maker ma, int na, const int64_t *sa, maker mb, int nb,
                        const int64_t *sb, bool grad)
{
    rp_tensor *a = ma(na, sa), *b = mb(nb, sb);
    rp_tensor *y = rp_matmul(a, b), *r = rp_matmul_ref(a, b);
    CHECK(y && r);
    if (!y || !r) fprintf(stderr, "%s: %s\n", name, rp_errmsg());
    if (y && r) {
        double d = max_abs_diff(y, r);
        if (d > 1e-4) fprintf(stderr, "%s: max diff %g\n", name, d);
        CHECK(d <= 1e-4);
        /* Same product on contiguous copies. */
        rp_tensor *ac = rp_copy_contiguous(a), *bc = rp_copy_contiguous(b);
        rp_tensor *yc = rp_matmul(ac, bc);
        CHECK(max_abs_diff(y, yc) <= 1e-5);
        rp_tensor_release(ac); rp_tensor_release(bc); rp_tensor_release(yc);
    }
    rp_tensor_release(y);
    rp_tensor_release(r);
    if (grad) gradcheck2(name, rp_matmul, a, b);
    rp_tensor_release(a);
    rp_tensor_release(b);
}

static void test_forward_and_grad(void)
{
    int64_t a2[] = {5, 7}, b2[] = {7, 3};
    case_vs_ref("2d", randn, 2, a2, randn, 2, b2, true);
    case_vs_ref("2d a^T", randn_t, 2, a2, randn, 2, b2, true);
    case_vs_ref("2d b^T", randn, 2, a2, randn_t, 2, b2, true);
    case_vs_ref("2d a^T b^T", randn_t, 2, a2, randn_t, 2, b2, true);
    case_vs_ref("2d strided", randn_strided, 2, a2, randn_strided, 2, b2, true);
    int64_t a3[] = {2, 3, 4, 5}, b3[] = {2, 3, 5, 6};
    case_vs_ref("batched", randn, 4, a3, randn, 4, b3, true);
    case_vs_ref("batched a^T b^T", randn_t, 4, a3, randn_t, 4, b3, true);
    int64_t bw[] = {5, 6};
    case_vs_ref("batched x 2d (fold)", randn, 4, a3, randn, 2, bw, true);
    case_vs_ref("batched x w^T (fold)", randn, 4, a3, randn_t, 2, bw, true);
    case_vs_ref("batched^T x 2d", randn_t, 4, a3, randn, 2, bw, true);
    int64_t aw[] = {4, 5};
    case_vs_ref("2d x batched", randn, 2, aw, randn, 4, b3, true);
    int64_t ab[] = {2, 1, 4, 5}, bb[] = {3, 5, 6};
    case_vs_ref("broadcast batch", randn, 4, ab, randn, 3, bb, true);
    int64_t v5[] = {5}, v7[] = {7};
    case_vs_ref("dot", randn, 1, v5, randn, 1, v5, true);
    case_vs_ref("vec x mat", randn, 1, v7, randn, 2, b2, true);
    case_vs_ref("mat x vec", randn, 2, a2, randn, 1, v7, true);
    case_vs_ref("batched x vec", randn, 4, a3, randn, 1, v5, true);
    int64_t z0[] = {3, 0}, z1[] = {0, 4};
    case_vs_ref("K = 0", randn, 2, z0, randn, 2, z1, false);
    int64_t big_a[] = {3, 64, 48}, big_b[] = {48, 80};
    case_vs_ref("larger fold", randn, 3, big_a, randn_t, 2, big_b, false);

    /* shapes of results */
    rp_tensor *u = randn(1, v5), *w = randn(1, v5);
    rp_tensor *d = rp_matmul(u, w);
    CHECK(d && d->ndim == 0);
    rp_tensor_release(d);
    rp_tensor_release(u);
    rp_tensor_release(w);
}

static void test_errors(void)
{
    int64_t sa[] = {4, 8}, sb[] = {7, 3};
    rp_tensor *a = randn(2, sa), *b = randn(2, sb);
    CHECK(rp_matmul(a, b) == NULL);
    CHECK(strcmp(rp_errmsg(), "matmul: shapes {4,8} and {7,3} do not match") == 0);
    rp_tensor *i = rp_zeros(RP_I32, 2, sb);
    CHECK(rp_matmul(a, i) == NULL);
    CHECK(strstr(rp_errmsg(), "f32") != NULL);
    int64_t x[] = {2, 4, 8}, y[] = {3, 8, 2};
    rp_tensor *p = randn(3, x), *q = randn(3, y);
    CHECK(rp_matmul(p, q) == NULL);
    CHECK(strstr(rp_errmsg(), "cannot be broadcast") != NULL);
    rp_tensor *s = rp_scalar(1);
    CHECK(rp_matmul(s, a) == NULL);
    CHECK(rp_outer(a, b) == NULL);
    rp_tensor_release(a); rp_tensor_release(b); rp_tensor_release(i);
    rp_tensor_release(p); rp_tensor_release(q); rp_tensor_release(s);
}

static void test_outer(void)
{
    int64_t m[] = {4}, n[] = {3};
    rp_tensor *u = randn(1, m), *v = randn(1, n);
    rp_tensor *o = rp_outer(u, v);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++)
            CHECK_NEAR(RP_F32P(u)[i] * RP_F32P(v)[j], RP_F32P(o)[i * 3 + j], 1e-6);
    rp_tensor_release(o);
    gradcheck2("outer", rp_outer, u, v);
    rp_tensor_release(u);
    rp_tensor_release(v);
}

/* y = a·b and both gradients at 1 and then 2 threads must agree bit for
 * bit; g = y itself, or normal noise when noisy_grad. Releases a and b. */
static void check_threads_agree(rp_tensor *a, rp_tensor *b, bool noisy_grad)
{
    rp_tensor *res[2][3];
    for (int t = 0; t < 2; t++) {
        rp_set_threads(t + 1);
        a->requires_grad = b->requires_grad = true;
        rp_tensor *y = rp_matmul(a, b);
        rp_tensor *g = rp_copy_contiguous(y);
        if (noisy_grad) rp_fill_normal(g, &(rp_generator){.seed = 9, .offset = 0}, 0, 1);
        CHECK(rp_backward(y, g, false) == 0);
        res[t][0] = rp_copy_contiguous(y);
        res[t][1] = a->grad; a->grad = NULL;
        res[t][2] = b->grad; b->grad = NULL;
        rp_tensor_release(g);
        rp_tensor_release(y);
    }
    for (int k = 0; k < 3; k++) {
        CHECK(rp_same_shape(res[0][k], res[1][k]));
        CHECK(memcmp(RP_F32P(res[0][k]), RP_F32P(res[1][k]),
                     sizeof(float) * (size_t)rp_numel(res[0][k])) == 0);
        rp_tensor_release(res[0][k]);
        rp_tensor_release(res[1][k]);
    }
    rp_tensor_release(a);
    rp_tensor_release(b);
    rp_set_threads(2);
}

/* The same product with 1 and 2 threads, forward and backward, bit for bit. */
static void test_threads(void)
{
    int64_t sa[] = {4, 96, 80}, sb[] = {4, 80, 112};
    check_threads_agree(randn(3, sa), randn_t(3, sb), false);
}

/* The same on products large enough to be split into blocks (odd sizes,
 * transposed operands, a broadcast operand whose gradient sums over the
 * batch). */
static void test_threads_split(void)
{
    int64_t shapes[][2][4] = {
        {{1000, 333}, {333, 517}},             /* 2-d, b = w:t() */
        {{3, 1, 300, 200}, {4, 200, 250}},     /* a broadcast over 4, b over 3 */
        {{2, 650, 700}, {700, 90}},            /* a transposed, b broadcast over 2 */
    };
    int nd[][2] = {{2, 2}, {4, 3}, {3, 2}};
    for (int c = 0; c < 3; c++) {
        rp_tensor *a = c == 2 ? randn_t(nd[c][0], shapes[c][0]) : randn(nd[c][0], shapes[c][0]);
        rp_tensor *b = c == 0 ? randn_t(nd[c][1], shapes[c][1]) : randn(nd[c][1], shapes[c][1]);
        check_threads_agree(a, b, true);
    }
}

/* (R, C) view of a (C, R) tensor's data: strides (1, R). */
static rp_tensor *swapped(const rp_tensor *t)
{
    int64_t sh[2] = {t->shape[1], t->shape[0]}, st[2] = {t->stride[1], t->stride[0]};
    return rp_alias(t, 2, sh, st, t->offset);
}

/* C (M, N) = op(A) op(B) by one sgemm over the whole product, BLAS on one
 * thread: what rp_matmul computed before it split products into blocks. */
static rp_tensor *whole(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const rp_tensor *A,
                        const rp_tensor *B)
{
    int64_t sh[2] = {M, N};
    rp_tensor *c = rp_empty(RP_F32, 2, sh);
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (int)M, (int)N, (int)K, 1.0f, RP_F32P(A), (int)A->shape[1], RP_F32P(B),
                (int)B->shape[1], 0.0f, RP_F32P(c), (int)N);
    return c;
}

static bool same_bits(const rp_tensor *x, const rp_tensor *y)
{
    rp_tensor *xc = rp_copy_contiguous(x), *yc = rp_copy_contiguous(y);
    bool same = rp_same_shape(xc, yc) &&
                memcmp(RP_F32P(xc), RP_F32P(yc), sizeof(float) * (size_t)rp_numel(xc)) == 0;
    rp_tensor_release(xc);
    rp_tensor_release(yc);
    return same;
}

/* rp_matmul splits a large product into blocks of output rows or columns,
 * each a single-threaded sgemm; OpenBLAS must give each element the same
 * bits in a block as in the whole product, or REPRO_THREADS=1 results would
 * move. Checked on every product of the models' linear layers, y = x·wᵀ with
 * x (rows, in) and w (out, in): the forward, the input gradient g·w, the
 * weight gradient xᵀ·g and the same gradient in w's layout, gᵀ·x (whose
 * elements equal xᵀ·g's, transposed, wherever the BLAS's do). */
static void test_blocks_match_whole(void)
{
    /* {rows, in, out}: rows B·T = 2048 for both bench models (dims 128 and
     * 384, ffn 344 and 1024, vocab 65), 512 for the dim-128 test model,
     * odd ones, some cut along the columns */
    static const int64_t cases[][3] = {
        {2048, 128, 128}, {2048, 128, 344}, {2048, 344, 128}, {2048, 128, 65},
        {2048, 384, 384}, {2048, 384, 1024}, {2048, 1024, 384}, {2048, 384, 65},
        {2048, 384, 1152}, {512, 128, 128}, {512, 128, 344}, {512, 344, 128}, {512, 128, 65},
        {1920, 200, 77}, {1000, 333, 517}, {130, 700, 300}, {37, 1531, 1201},
    };
    rp_set_threads(2);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int64_t nr = cases[c][0], ni = cases[c][1], no = cases[c][2];
        int64_t sx[2] = {nr, ni}, sw[2] = {no, ni}, sg[2] = {nr, no};
        rp_tensor *x = randn(2, sx), *w = randn(2, sw), *g = randn(2, sg);
        rp_tensor *wt = swapped(w), *xt = swapped(x), *gt = swapped(g);
        rp_tensor *y = rp_matmul(x, wt), *y0 = whole(false, true, nr, no, ni, x, w);
        rp_tensor *dx = rp_matmul(g, w), *dx0 = whole(false, false, nr, ni, no, g, w);
        rp_tensor *dwt = rp_matmul(xt, g), *dwt0 = whole(true, false, ni, no, nr, x, g);
        rp_tensor *dw = rp_matmul(gt, x), *dw0 = whole(true, false, no, ni, nr, g, x);
        rp_tensor *dwtt = swapped(dwt);
        int before = check_failures;
        CHECK(same_bits(y, y0));
        CHECK(same_bits(dx, dx0));
        CHECK(same_bits(dwt, dwt0));
        CHECK(same_bits(dw, dw0));
        /* gᵀ·x and (xᵀ·g)ᵀ agree exactly when this machine's sgemm makes
         * them agree: OpenBLAS's AVX-512 kernels do, its Zen kernels do not
         * (an element's K sum depends on its tile, and transposing the
         * product moves it to another tile). The kit must add no
         * difference of its own. */
        rp_tensor *dwt0t = swapped(dwt0);
        CHECK(same_bits(dw, dwtt) == same_bits(dw0, dwt0t));
        rp_tensor_release(dwt0t);
        if (check_failures > before) fprintf(stderr, "  in case rows %lld, in %lld, out %lld\n",
                                    (long long)nr, (long long)ni, (long long)no);
        rp_tensor *all[] = {x, w, g, wt, xt, gt, y, y0, dx, dx0, dwt, dwt0, dw, dw0, dwtt};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) rp_tensor_release(all[i]);
    }
}

/* A (rows, ld) row-major buffer (at least one row) of normal values. */
static float *rand_buf(int64_t rows, int64_t ld)
{
    int64_t n = (rows > 0 ? rows : 1) * ld;
    float *p = malloc(sizeof(float) * (size_t)n);
    rp_tensor *t = randn(1, &n);
    memcpy(p, RP_F32P(t), sizeof(float) * (size_t)n);
    rp_tensor_release(t);
    return p;
}

/* rp_gemm against one cblas_sgemm (BLAS on one thread) over the whole
 * product, bit for bit, at 1 and 2 threads: every transpose, beta 0 and 1
 * and SOAP's (1 - beta, beta), padded leading dims (whose padding must stay
 * untouched), sizes of 0 and 1, and shapes on both sides of the split
 * thresholds of plan_blocks (2 blocks from 2^22 multiply-adds per block, 4
 * from 512 lines per block, edges on multiples of 64) and the preconditioner
 * products of SOAP on 512x512 and 1024x256 weights. */
static void test_rp_gemm(void)
{
    static const int64_t cases[][3] = {
        {0, 5, 7}, {5, 0, 7}, {5, 7, 0}, {1, 1, 1}, {1, 300, 300}, {300, 1, 300},
        {300, 300, 1}, {1, 5000, 1000}, {5000, 1, 1000}, {2, 2, 2}, {100, 100, 100},
        {130, 130, 130}, {254, 128, 256}, {255, 128, 256}, {256, 128, 256}, {257, 128, 256},
        {320, 128, 256}, {128, 256, 256}, {128, 257, 256}, {2047, 128, 64}, {2048, 128, 64},
        {2049, 128, 64}, {128, 2048, 64}, {2048, 64, 64}, {1000, 333, 517}, {37, 1531, 1201},
        {512, 512, 512}, {1024, 256, 256}, {256, 256, 1024},
    };
    static const float ab[][2] = {{1.0f, 0.0f}, {1.0f, 1.0f}, {0.25f, 0.75f}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int64_t M = cases[c][0], N = cases[c][1], K = cases[c][2], pad = (int64_t)(c % 3) * 3;
        for (int tr = 0; tr < 4; tr++) {
            bool ta = tr & 1, tb = tr & 2;
            int64_t ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;
            int64_t lda = (ac > 1 ? ac : 1) + pad, ldb = (bc > 1 ? bc : 1) + pad;
            int64_t ldc = (N > 1 ? N : 1) + pad, nc = (M > 0 ? M : 1) * ldc;
            float *A = rand_buf(ar, lda), *B = rand_buf(br, ldb), *C0 = rand_buf(M, ldc);
            float *want = malloc(sizeof(float) * (size_t)nc);
            float *got = malloc(sizeof(float) * (size_t)nc);
            for (size_t k = 0; k < sizeof ab / sizeof ab[0]; k++) {
                rp_set_threads(1);
                memcpy(want, C0, sizeof(float) * (size_t)nc);
                cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
                            tb ? CblasTrans : CblasNoTrans, (int)M, (int)N, (int)K, ab[k][0], A,
                            (int)lda, B, (int)ldb, ab[k][1], want, (int)ldc);
                for (int t = 1; t <= 2; t++) {
                    rp_set_threads(t);
                    memcpy(got, C0, sizeof(float) * (size_t)nc);
                    rp_gemm(ta, tb, M, N, K, ab[k][0], A, lda, B, ldb, ab[k][1], got, ldc);
                    if (memcmp(got, want, sizeof(float) * (size_t)nc) != 0) {
                        CHECK(!"rp_gemm differs from one cblas_sgemm");
                        fprintf(stderr, "  M %lld N %lld K %lld ta %d tb %d alpha %g beta %g "
                                        "threads %d\n",
                                (long long)M, (long long)N, (long long)K, ta, tb,
                                (double)ab[k][0], (double)ab[k][1], t);
                    } else {
                        CHECK(1);
                    }
                }
            }
            free(A); free(B); free(C0); free(want); free(got);
        }
    }
    rp_set_threads(2);
}

int main(void)
{
    rp_set_threads(2);
    test_forward_and_grad();
    test_errors();
    test_outer();
    test_threads();
    test_threads_split();
    test_blocks_match_whole();
    test_rp_gemm();
    CHECK_EQ_INT(0, (long long)rp_live_bytes());
    return check_report("test_matmul");
}
