/* test_fp8_linear.c: the FP8/BF16 linear op equals casts and matmuls done by
 * hand (forward and backward), delayed/current scaling of each role, and
 * gradient checks of linear, the SwiGLU gate and the three SwiGLU variants in
 * fp32 numerics against central finite differences. */
#include <stdlib.h>
#include <string.h>

#include "autograd.h"
#include "check.h"
#include "fp8_linear.h"
#include "ops_nn.h"

static uint32_t lcg = 12345;
static float frand(void)
{
    lcg = lcg * 1664525u + 1013904223u;
    return (float)(lcg >> 8) / 16777216.0f * 2.0f - 1.0f;
}

static rp_tensor *rnd(int nd, const int64_t *shape, float mag, bool grad)
{
    rp_tensor *t = rp_empty(RP_F32, nd, shape);
    float *p = RP_F32P(t);
    for (int64_t i = 0; i < rp_numel(t); i++) p[i] = mag * frand();
    t->requires_grad = grad;
    return t;
}

/* Q(t) by hand: decode(encode(t*s)) * (1/s) */
static void qdq(float *out, const float *in, int64_t n, int fmt, float s)
{
    uint8_t *c = malloc((size_t)n);
    rp_fp8_encode_f32(c, in, n, fmt, s, true);
    rp_fp8_decode_f32(out, c, n, fmt, 1.0f / s);
    free(c);
}

/* C (M,N) = A (M,K) · B (N,K)ᵀ in double */
static void mm_nt(double *C, const float *A, const float *B, int M, int N, int K)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < K; k++) s += (double)A[i * K + k] * B[j * K + k];
            C[i * N + j] = s;
        }
}

static double max_rel(const double *ref, const float *got, int64_t n)
{
    double m = 0, scale = 1e-6;
    for (int64_t i = 0; i < n; i++) scale = fmax(scale, fabs(ref[i]));
    for (int64_t i = 0; i < n; i++) m = fmax(m, fabs(ref[i] - got[i]) / scale);
    return m;
}

static void test_fp8_by_hand(bool delayed)
{
    enum { M = 6, K = 8, N = 5 };
    int64_t xs[2] = {M, K}, ws[2] = {N, K};
    rp_tensor *x = rnd(2, xs, 3.0f, true), *w = rnd(2, ws, 0.2f, true);
    RP_F32P(x)[3] = 1e-7f; /* flushes to zero in e4m3fn at this scale */
    rp_linear_recipe *r = rp_linear_recipe_new(RP_NUMERICS_FP8, delayed, 4, 0, RP_AMAX_MAX, true, false);
    for (int step = 0; step < 3; step++) {
        float sx = delayed ? r->ds[RP_ROLE_INPUT]->scale
                           : rp_fp8_current_scale(rp_amax_f32(RP_F32P(x), M * K), RP_FMT_E4M3FN, 0, false);
        float sw = delayed ? r->ds[RP_ROLE_WEIGHT]->scale
                           : rp_fp8_current_scale(rp_amax_f32(RP_F32P(w), N * K), RP_FMT_E4M3FN, 0, false);
        rp_tensor *y = rp_fp8_linear(x, w, r);
        CHECK(y != NULL);
        float qx[M * K], qw[N * K];
        qdq(qx, RP_F32P(x), M * K, RP_FMT_E4M3FN, sx);
        qdq(qw, RP_F32P(w), N * K, RP_FMT_E4M3FN, sw);
        double yr[M * N];
        mm_nt(yr, qx, qw, M, N, K);
        CHECK(max_rel(yr, RP_F32P(y), M * N) < 1e-5);
        CHECK(r->last[RP_ROLE_INPUT].scale == sx);
        CHECK_EQ_INT(1, r->last[RP_ROLE_INPUT].flushed);
        CHECK(r->last[RP_ROLE_INPUT].amax == rp_amax_f32(RP_F32P(x), M * K));
        /* backward with a given output gradient */
        rp_tensor *g = rnd(2, (int64_t[]){M, N}, 1e-3f, false);
        float sg = delayed ? r->ds[RP_ROLE_GRAD]->scale
                           : rp_fp8_current_scale(rp_amax_f32(RP_F32P(g), M * N), RP_FMT_E5M2, 0, false);
        rp_tensor_release(x->grad); x->grad = NULL;
        rp_tensor_release(w->grad); w->grad = NULL;
        CHECK_EQ_INT(0, rp_backward(y, g, false));
        float qg[M * N];
        qdq(qg, RP_F32P(g), M * N, RP_FMT_E5M2, sg);
        double dx[M * K], dw[N * K];
        /* dx = Qg · Qw ; dw = Qgᵀ · Qx */
        for (int i = 0; i < M; i++)
            for (int k = 0; k < K; k++) {
                double s = 0;
                for (int j = 0; j < N; j++) s += (double)qg[i * N + j] * qw[j * K + k];
                dx[i * K + k] = s;
            }
        for (int j = 0; j < N; j++)
            for (int k = 0; k < K; k++) {
                double s = 0;
                for (int i = 0; i < M; i++) s += (double)qg[i * N + j] * qx[i * K + k];
                dw[j * K + k] = s;
            }
        CHECK(max_rel(dx, RP_F32P(x->grad), M * K) < 1e-5);
        CHECK(max_rel(dw, RP_F32P(w->grad), N * K) < 1e-5);
        CHECK(r->last[RP_ROLE_GRAD].scale == sg);
        CHECK_EQ_INT(step + 1, r->calls[RP_ROLE_GRAD]);
        if (delayed) {
            /* TE: the next step's scales come from this step's amax */
            CHECK(r->ds[RP_ROLE_INPUT]->scale == 448.0f / r->last[RP_ROLE_INPUT].amax ||
                  step > 0);
            CHECK(r->ds[RP_ROLE_GRAD]->scale > 0);
        }
        rp_tensor_release(g);
        rp_tensor_release(y);
        /* grow x so delayed scales lag behind: saturation shows up */
        for (int i = 0; i < M * K; i++) RP_F32P(x)[i] *= 4.0f;
    }
    if (delayed) CHECK(r->last[RP_ROLE_INPUT].saturated > 0);
    else CHECK_EQ_INT(0, r->last[RP_ROLE_INPUT].saturated);
    rp_linear_recipe_release(r);
    rp_tensor_release(x);
    rp_tensor_release(w);
}

static void test_bf16(void)
{
    enum { M = 3, K = 5, N = 4 };
    rp_tensor *x = rnd(2, (int64_t[]){M, K}, 1.7f, false), *w = rnd(2, (int64_t[]){N, K}, 1.3f, false);
    rp_linear_recipe *r = rp_linear_recipe_new(RP_NUMERICS_BF16, false, 1, 0, 0, false, false);
    rp_tensor *y = rp_fp8_linear(x, w, r);
    float bx[M * K], bw[N * K];
    rp_fp8_cast_f32(bx, RP_F32P(x), M * K, RP_FMT_BF16, false);
    rp_fp8_cast_f32(bw, RP_F32P(w), N * K, RP_FMT_BF16, false);
    double yr[M * N];
    mm_nt(yr, bx, bw, M, N, K);
    CHECK(max_rel(yr, RP_F32P(y), M * N) < 1e-6);
    /* and it differs from fp32 */
    rp_tensor *y32 = rp_fp8_linear(x, w, NULL);
    CHECK(memcmp(RP_F32P(y), RP_F32P(y32), sizeof(float) * M * N) != 0);
    rp_tensor_release(y);
    rp_tensor_release(y32);
    rp_linear_recipe_release(r);
    rp_tensor_release(x);
    rp_tensor_release(w);
}

/* ---- gradient checks (fp32) ---- */

typedef rp_tensor *(*fn4)(rp_tensor **in, int smooth);

static rp_tensor *f_linear(rp_tensor **in, int smooth) { (void)smooth; return rp_fp8_linear(in[0], in[1], NULL); }
static rp_tensor *f_gate(rp_tensor **in, int smooth) { (void)smooth; return rp_silu_mul(in[0], in[1]); }
static rp_tensor *f_swiglu(rp_tensor **in, int smooth)
{
    return rp_fp8_swiglu(in[0], in[1], in[2], in[3], NULL, smooth % 4, smooth / 4, NULL);
}

/* L = sum(f(in) ⊙ R); compare analytic gradients with central differences */
static void gradcheck(const char *name, fn4 f, rp_tensor **in, int nin, int smooth)
{
    rp_tensor *y = f(in, smooth);
    CHECK(y != NULL);
    if (!y) { fprintf(stderr, "%s: %s\n", name, rp_errmsg()); return; }
    rp_tensor *R = rnd(y->ndim, y->shape, 1.0f, false);
    for (int i = 0; i < nin; i++) { rp_tensor_release(in[i]->grad); in[i]->grad = NULL; }
    CHECK_EQ_INT(0, rp_backward(y, R, false));
    rp_tensor_release(y);
    bool prev = rp_set_grad_enabled(false);
    double worst = 0;
    for (int i = 0; i < nin; i++) {
        float *p = RP_F32P(in[i]);
        for (int64_t j = 0; j < rp_numel(in[i]); j++) {
            float keep = p[j];
            const float h = 1e-2f;
            double L[2];
            for (int sgn = 0; sgn < 2; sgn++) {
                p[j] = keep + (sgn ? -h : h);
                rp_tensor *yy = f(in, smooth);
                double s = 0;
                for (int64_t k = 0; k < rp_numel(yy); k++) s += (double)RP_F32P(yy)[k] * RP_F32P(R)[k];
                L[sgn] = s;
                rp_tensor_release(yy);
            }
            p[j] = keep;
            double num = (L[0] - L[1]) / (2 * h), ana = RP_F32P(in[i]->grad)[j];
            double err = fabs(num - ana) / fmax(1.0, fabs(num));
            if (err > worst) worst = err;
        }
    }
    rp_set_grad_enabled(prev);
    if (worst > 2e-3) fprintf(stderr, "%s (smooth %d): worst gradient error %g\n", name, smooth, worst);
    CHECK(worst <= 2e-3);
    rp_tensor_release(R);
}

static void test_gradchecks(void)
{
    rp_tensor *lin[2] = {rnd(3, (int64_t[]){2, 3, 4}, 1, true), rnd(2, (int64_t[]){5, 4}, 1, true)};
    gradcheck("linear", f_linear, lin, 2, 0);
    rp_tensor *gt[2] = {rnd(2, (int64_t[]){3, 4}, 2, true), rnd(2, (int64_t[]){3, 4}, 2, true)};
    gradcheck("gate", f_gate, gt, 2, 0);
    enum { D = 4, F = 6 };
    rp_tensor *sw[4] = {rnd(3, (int64_t[]){2, 3, D}, 1, true), rnd(2, (int64_t[]){F, D}, 1, true),
                        rnd(2, (int64_t[]){F, D}, 1, true), rnd(2, (int64_t[]){D, F}, 1, true)};
    for (int sm = 0; sm < 7; sm++) /* none, channel, token; then the linear-branch statistic */
        if (sm != 3 && sm != 4) gradcheck("swiglu", f_swiglu, sw, 4, sm);
    /* smoothing leaves the fp32 function unchanged (up to rounding) */
    rp_tensor *y0 = f_swiglu(sw, RP_SMOOTH_NONE), *y1 = f_swiglu(sw, RP_SMOOTH_CHANNEL),
              *y2 = f_swiglu(sw, RP_SMOOTH_TOKEN);
    for (int64_t i = 0; i < rp_numel(y0); i++) {
        CHECK_NEAR(RP_F32P(y0)[i], RP_F32P(y1)[i], 1e-5);
        CHECK_NEAR(RP_F32P(y0)[i], RP_F32P(y2)[i], 1e-5);
    }
    /* h_amax is reported */
    rp_swiglu_stats st;
    rp_tensor *y3 = rp_fp8_swiglu(sw[0], sw[1], sw[2], sw[3], NULL, RP_SMOOTH_NONE, 0, &st);
    CHECK(st.h_amax > 0 && isfinite(st.h_amax));
    rp_tensor *bad = rp_fp8_swiglu(sw[0], sw[1], sw[2], sw[1], NULL, 0, 0, NULL);
    CHECK(bad == NULL);
    CHECK(strstr(rp_errmsg(), "W3") != NULL);
    rp_tensor *bad2 = rp_fp8_linear(sw[0], sw[3], NULL);
    CHECK(bad2 == NULL);
    CHECK(strstr(rp_errmsg(), "do not match") != NULL);
    rp_tensor *ts[] = {y0, y1, y2, y3, lin[0], lin[1], gt[0], gt[1], sw[0], sw[1], sw[2], sw[3]};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) rp_tensor_release(ts[i]);
}

/* Smooth-SwiGLU in FP8: an outlier channel dominates the per-tensor scale
 * of h; per-channel smoothing keeps the other channels out of underflow. */
static void test_smooth_fp8(void)
{
    enum { T = 16, D = 8, F = 12 };
    rp_tensor *x = rnd(2, (int64_t[]){T, D}, 1, false), *w1 = rnd(2, (int64_t[]){F, D}, 0.5f, false),
              *w2 = rnd(2, (int64_t[]){F, D}, 0.5f, false), *w3 = rnd(2, (int64_t[]){D, F}, 0.5f, false);
    /* align w1 and w2 on channel 0 and blow it up (the paper's outlier mechanism) */
    for (int k = 0; k < D; k++) RP_F32P(w1)[k] = RP_F32P(w2)[k] = 40.0f * RP_F32P(w1)[k];
    double err[3];
    rp_tensor *yref = rp_fp8_swiglu(x, w1, w2, w3, NULL, RP_SMOOTH_NONE, 0, NULL);
    for (int sm = 0; sm < 3; sm++) {
        rp_linear_recipe *r[3];
        for (int i = 0; i < 3; i++)
            r[i] = rp_linear_recipe_new(RP_NUMERICS_FP8, false, 1, 0, RP_AMAX_MAX, true, false);
        rp_tensor *y = rp_fp8_swiglu(x, w1, w2, w3, r, sm, 0, NULL);
        double e = 0, n = 0;
        for (int64_t i = 0; i < rp_numel(y); i++) {
            e += pow(RP_F32P(y)[i] - RP_F32P(yref)[i], 2);
            n += pow(RP_F32P(yref)[i], 2);
        }
        err[sm] = sqrt(e / n);
        rp_tensor_release(y);
        for (int i = 0; i < 3; i++) rp_linear_recipe_release(r[i]);
    }
    printf("fp8 swiglu relative error: none %.4f channel %.4f token %.4f\n", err[0], err[1], err[2]);
    CHECK(err[RP_SMOOTH_CHANNEL] < 0.1);
    CHECK(err[RP_SMOOTH_TOKEN] < 0.1);
    rp_tensor *ts[] = {x, w1, w2, w3, yref};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) rp_tensor_release(ts[i]);
}

/* fp8.swiglu quantizes x, W1 and W2 together (x once when both recipes
 * agree) and reads max |h| from W3's input statistics; it must give the
 * bits, statistics and scaling states of the plain composition linear,
 * linear, gate, linear with twin recipes, over steps whose delayed scales
 * change, for twin recipes, one shared recipe and recipes that differ. */
static void test_swiglu_batched(void)
{
    enum { B = 3, T = 50, D = 16, F = 40 };
    rp_tensor *x = rnd(3, (int64_t[]){B, T, D}, 2, true), *w1 = rnd(2, (int64_t[]){F, D}, 0.4f, true),
              *w2 = rnd(2, (int64_t[]){F, D}, 0.4f, true), *w3 = rnd(2, (int64_t[]){D, F}, 0.4f, true);
    rp_tensor *ins[4] = {x, w1, w2, w3};
    for (int mode = 0; mode < 3; mode++) { /* twins, one shared recipe, a different margin */
        rp_linear_recipe *ra[3], *rb[3];
        for (int side = 0; side < 2; side++) {
            rp_linear_recipe **r = side ? rb : ra;
            for (int i = 0; i < 3; i++) {
                float margin = mode == 2 && i == 1 ? 1.0f : 0.0f;
                r[i] = mode == 1 && i > 0 ? r[0]
                                          : rp_linear_recipe_new(RP_NUMERICS_FP8, true, 3, margin, RP_AMAX_MAX, true, false);
                if (mode == 1 && i > 0) rp_linear_recipe_retain(r[0]);
            }
        }
        for (int step = 0; step < 3; step++) {
            rp_set_threads(1 + step % 2);
            rp_tensor *grads[2][4];
            rp_tensor *ys[2];
            float h_amax[2];
            uint32_t seed = lcg; /* the same output gradient on both sides */
            for (int side = 0; side < 2; side++) {
                rp_linear_recipe **r = side ? rb : ra;
                rp_tensor *y;
                if (side == 0) {
                    rp_swiglu_stats st;
                    y = rp_fp8_swiglu(x, w1, w2, w3, r, RP_SMOOTH_NONE, 0, &st);
                    h_amax[0] = st.h_amax;
                } else {
                    rp_tensor *a = rp_fp8_linear(x, w1, r[0]), *b = rp_fp8_linear(x, w2, r[1]);
                    rp_tensor *h = rp_silu_mul(a, b);
                    h_amax[1] = rp_amax_f32(RP_F32P(h), rp_numel(h));
                    y = rp_fp8_linear(h, w3, r[2]);
                    rp_tensor *tmp[] = {a, b, h};
                    for (int i = 0; i < 3; i++) rp_tensor_release(tmp[i]);
                }
                CHECK(y != NULL);
                lcg = seed;
                rp_tensor *g = rnd(y->ndim, y->shape, 1e-2f, false);
                for (int i = 0; i < 4; i++) { rp_tensor_release(ins[i]->grad); ins[i]->grad = NULL; }
                CHECK_EQ_INT(0, rp_backward(y, g, false));
                for (int i = 0; i < 4; i++) { grads[side][i] = ins[i]->grad; ins[i]->grad = NULL; }
                ys[side] = y;
                rp_tensor_release(g);
            }
            CHECK(memcmp(RP_F32P(ys[0]), RP_F32P(ys[1]), sizeof(float) * (size_t)rp_numel(ys[0])) == 0);
            CHECK(memcmp(&h_amax[0], &h_amax[1], sizeof(float)) == 0);
            for (int i = 0; i < 4; i++) {
                CHECK(memcmp(RP_F32P(grads[0][i]), RP_F32P(grads[1][i]),
                             sizeof(float) * (size_t)rp_numel(grads[0][i])) == 0);
                rp_tensor_release(grads[0][i]);
                rp_tensor_release(grads[1][i]);
            }
            for (int i = 0; i < 3; i++)
                for (int k = 0; k < RP_NROLES; k++) {
                    CHECK(memcmp(&ra[i]->last[k], &rb[i]->last[k], sizeof ra[i]->last[k]) == 0);
                    CHECK_EQ_INT(rb[i]->calls[k], ra[i]->calls[k]);
                    CHECK(memcmp(ra[i]->ds[k], rb[i]->ds[k], sizeof *ra[i]->ds[k] + 3 * sizeof(float)) == 0);
                }
            rp_tensor_release(ys[0]);
            rp_tensor_release(ys[1]);
            /* move x so that the delayed scales change between steps */
            for (int64_t i = 0; i < rp_numel(x); i++) RP_F32P(x)[i] *= 1.7f;
        }
        for (int i = 0; i < 3; i++) { rp_linear_recipe_release(ra[i]); rp_linear_recipe_release(rb[i]); }
    }
    rp_set_threads(2);
    for (int i = 0; i < 4; i++) rp_tensor_release(ins[i]);
}

static void test_recipe_errors(void)
{
    CHECK(rp_linear_recipe_new(RP_NUMERICS_FP8, true, 0, 0, RP_AMAX_MAX, true, false) == NULL);
    CHECK(strstr(rp_errmsg(), "history") != NULL);
    CHECK(rp_linear_recipe_new(7, false, 1, 0, RP_AMAX_MAX, true, false) == NULL);
}

int main(void)
{
    test_fp8_by_hand(false);
    test_fp8_by_hand(true);
    test_bf16();
    test_gradchecks();
    test_smooth_fp8();
    test_swiglu_batched();
    test_recipe_errors();
    CHECK_EQ_INT(0, (long long)rp_live_bytes());
    return check_report("test_fp8_linear");
}
