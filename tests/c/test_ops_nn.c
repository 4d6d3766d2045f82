/* test_ops_nn.c: softmax, cross_entropy, rms_norm, embedding, attention,
 * rope, dropout, one_hot: kernels against references and compositions,
 * gradients against central finite differences, errors, determinism. */
#include "check.h"
#include "ops_nn.h"
#include "autograd.h"
#include "rng.h"

#include <stdlib.h>
#include <string.h>

static rp_generator gen = {.seed = 99, .offset = 0};

static rp_tensor *randn(int nd, const int64_t *shape)
{
    rp_tensor *t = rp_empty(RP_F32, nd, shape);
    rp_fill_normal(t, &gen, 0, 1);
    return t;
}

static rp_tensor *randint(int nd, const int64_t *shape, int64_t hi)
{
    rp_tensor *t = rp_empty(RP_I32, nd, shape);
    rp_fill_randint(t, &gen, 0, hi);
    return t;
}

/* Swap dims d and e of t (a view, no copy). */
static rp_tensor *swapped(const rp_tensor *t, int d, int e)
{
    int64_t sh[RP_MAXDIM], st[RP_MAXDIM];
    memcpy(sh, t->shape, sizeof sh);
    memcpy(st, t->stride, sizeof st);
    sh[d] = t->shape[e]; sh[e] = t->shape[d];
    st[d] = t->stride[e]; st[e] = t->stride[d];
    return rp_alias(t, t->ndim, sh, st, t->offset);
}

static double max_abs_diff(const rp_tensor *a, const rp_tensor *b)
{
    if (!a || !b || !rp_same_shape(a, b)) return INFINITY;
    double m = 0;
    for (int64_t i = 0; i < rp_numel(a); i++) {
        double d = fabs(rp_get_flat(a, i) - rp_get_flat(b, i));
        if (!(d <= m)) m = d;
    }
    return m;
}

static bool bit_equal(const rp_tensor *a, const rp_tensor *b)
{
    return a && b && rp_same_shape(a, b) &&
           memcmp(RP_F32P(a), RP_F32P(b), sizeof(float) * (size_t)rp_numel(a)) == 0;
}

/* ---- finite differences: f(in[0..n)) -> tensor; loss = Σ out·w ---- */

typedef rp_tensor *(*opn)(rp_tensor **in, const void *ctx);

static double wt(int64_t i) { return 0.5 + 0.37 * (double)((i * 7) % 5) - 0.2 * (double)(i % 3); }

static double weighted_sum(const rp_tensor *out)
{
    double s = 0;
    for (int64_t i = 0; i < rp_numel(out); i++) s += rp_get_flat(out, i) * wt(i);
    return s;
}

/* Inputs with diff[k] get requires_grad and are checked. */
static void gradcheck(const char *name, opn f, const void *ctx, int n, rp_tensor **in,
                      const bool *diff, double eps, double rtol)
{
    for (int k = 0; k < n; k++) {
        if (!diff[k]) continue;
        in[k]->requires_grad = true;
        rp_tensor_release(in[k]->grad);
        in[k]->grad = NULL;
    }
    rp_tensor *out = f(in, ctx);
    CHECK(out != NULL);
    if (!out) { fprintf(stderr, "%s: %s\n", name, rp_errmsg()); return; }
    rp_tensor *w = rp_empty(RP_F32, out->ndim, out->shape);
    for (int64_t i = 0; i < rp_numel(out); i++) RP_F32P(w)[i] = (float)wt(i);
    CHECK(rp_backward(out, w, false) == 0);
    rp_tensor_release(w);
    rp_tensor_release(out);
    bool prev = rp_set_grad_enabled(false);
    int bad = 0;
    for (int k = 0; k < n; k++) {
        if (!diff[k]) continue;
        CHECK(in[k]->grad != NULL);
        if (!in[k]->grad) continue;
        for (int64_t i = 0; i < rp_numel(in[k]); i++) {
            double x0 = rp_get_flat(in[k], i);
            rp_set_flat(in[k], i, x0 + eps);
            rp_tensor *op = f(in, ctx);
            rp_set_flat(in[k], i, x0 - eps);
            rp_tensor *om = f(in, ctx);
            rp_set_flat(in[k], i, x0);
            double num = (weighted_sum(op) - weighted_sum(om)) / (2 * eps);
            double ana = rp_get_flat(in[k]->grad, i);
            rp_tensor_release(op);
            rp_tensor_release(om);
            double tol = rtol * (1 + fabs(num));
            if (!(fabs(num - ana) <= tol) && bad++ < 5)
                fprintf(stderr, "%s: input %d element %lld: numeric %g analytic %g\n", name, k,
                        (long long)i, num, ana);
            CHECK_NEAR(num, ana, tol);
        }
    }
    rp_set_grad_enabled(prev);
}

/* ---- softmax ---- */

static rp_tensor *f_softmax(rp_tensor **in, const void *ctx) { return rp_softmax(in[0], *(const int *)ctx); }
static rp_tensor *f_log_softmax(rp_tensor **in, const void *ctx) { return rp_log_softmax(in[0], *(const int *)ctx); }

static void test_softmax(void)
{
    int64_t s[] = {3, 4, 5};
    rp_tensor *x = randn(3, s);
    rp_tensor *xt = swapped(x, 0, 2); /* non-contiguous (5, 4, 3) */
    for (int dim = -1; dim < 3; dim++) {
        for (int log = 0; log < 2; log++) {
            rp_tensor *y = log ? rp_log_softmax(xt, dim) : rp_softmax(xt, dim);
            rp_tensor *r = rp_softmax_ref(xt, dim, log);
            CHECK(max_abs_diff(y, r) <= 1e-6);
            rp_tensor_release(y);
            rp_tensor_release(r);
            rp_tensor *in[1] = {xt};
            bool diff[1] = {true};
            gradcheck(log ? "log_softmax" : "softmax", log ? f_log_softmax : f_softmax, &dim, 1,
                      in, diff, 1e-2, 2e-3);
        }
    }
    /* stable for large logits; rows sum to 1 */
    int64_t s2[] = {2, 3};
    rp_tensor *big = rp_empty(RP_F32, 2, s2);
    float vals[] = {1000, 1001, 1002, -1000, 0, 1000};
    memcpy(RP_F32P(big), vals, sizeof vals);
    rp_tensor *y = rp_softmax(big, 1);
    CHECK_NEAR(0.09003057, RP_F32P(y)[0], 1e-6);
    CHECK_NEAR(1.0, RP_F32P(y)[5], 1e-6);
    CHECK(!isnan(RP_F32P(y)[3]));
    rp_tensor_release(y);
    CHECK(rp_softmax(big, 2) == NULL);
    CHECK(strstr(rp_errmsg(), "softmax: dimension 2 out of range") != NULL);
    rp_tensor_release(big);
    rp_tensor_release(xt);
    rp_tensor_release(x);
}

/* ---- cross_entropy ---- */

typedef struct { rp_tensor *t; int64_t ignore; } ce_ctx;
static rp_tensor *f_ce(rp_tensor **in, const void *ctx)
{
    const ce_ctx *c = ctx;
    return rp_cross_entropy(in[0], c->t, c->ignore);
}

static void test_cross_entropy(void)
{
    int64_t sl[] = {6, 5}, st[] = {6};
    rp_tensor *x = randn(2, sl), *t = randint(1, st, 5);
    RP_I32P(t)[2] = -100;
    for (int ig = 0; ig < 2; ig++) {
        int64_t ignore = ig ? -100 : RP_NO_IGNORE;
        if (!ig) RP_I32P(t)[2] = 1;
        rp_tensor *l = rp_cross_entropy(x, t, ignore);
        CHECK(l && l->ndim == 0);
        CHECK_NEAR(rp_cross_entropy_ref(x, t, ignore), RP_F32P(l)[0], 1e-5);
        /* composition: -mean(log_softmax(x)[r, t_r]) over kept rows */
        rp_tensor *ls = rp_log_softmax(x, 1);
        double s = 0;
        int cnt = 0;
        for (int r = 0; r < 6; r++)
            if (RP_I32P(t)[r] != ignore) { s -= RP_F32P(ls)[r * 5 + RP_I32P(t)[r]]; cnt++; }
        CHECK_NEAR(s / cnt, RP_F32P(l)[0], 1e-5);
        rp_tensor_release(ls);
        rp_tensor_release(l);
        ce_ctx c = {t, ignore};
        rp_tensor *in[1] = {x};
        bool diff[1] = {true};
        gradcheck("cross_entropy", f_ce, &c, 1, in, diff, 1e-2, 2e-3);
        if (!ig) RP_I32P(t)[2] = -100;
    }
    /* (B, T, C) with (B, T) */
    int64_t s3[] = {2, 3, 4}, t3[] = {2, 3};
    rp_tensor *x3 = randn(3, s3), *tt3 = randint(2, t3, 4);
    rp_tensor *l3 = rp_cross_entropy(x3, tt3, RP_NO_IGNORE);
    CHECK(l3 != NULL);
    CHECK_NEAR(rp_cross_entropy_ref(x3, tt3, RP_NO_IGNORE), l3 ? RP_F32P(l3)[0] : 0, 1e-5);
    rp_tensor_release(l3);
    ce_ctx c3 = {tt3, RP_NO_IGNORE};
    rp_tensor *in3[1] = {x3};
    bool diff[1] = {true};
    gradcheck("cross_entropy 3d", f_ce, &c3, 1, in3, diff, 1e-2, 2e-3);
    /* errors */
    RP_I32P(tt3)[1] = 4;
    CHECK(rp_cross_entropy(x3, tt3, RP_NO_IGNORE) == NULL);
    CHECK(strstr(rp_errmsg(), "target 4 at position 1 out of range [0, 4)") != NULL);
    CHECK(rp_cross_entropy(x3, t, RP_NO_IGNORE) == NULL);
    CHECK(strstr(rp_errmsg(), "do not match") != NULL);
    CHECK(rp_cross_entropy(x, x, RP_NO_IGNORE) == NULL);
    CHECK(strstr(rp_errmsg(), "targets must be i32") != NULL);
    /* all ignored: NaN like PyTorch */
    for (int r = 0; r < 6; r++) RP_I32P(t)[r] = -100;
    rp_tensor *ln = rp_cross_entropy(x, t, -100);
    CHECK(ln && isnan(RP_F32P(ln)[0]));
    rp_tensor_release(ln);
    rp_tensor_release(x); rp_tensor_release(t);
    rp_tensor_release(x3); rp_tensor_release(tt3);
}

/* ---- rms_norm ---- */

static rp_tensor *f_rms(rp_tensor **in, const void *ctx) { return rp_rms_norm(in[0], ctx ? in[1] : NULL, 1e-5); }

static void test_rms_norm(void)
{
    int64_t sx[] = {2, 3, 6}, sw[] = {6};
    rp_tensor *x = randn(3, sx), *w = randn(1, sw);
    rp_tensor *y = rp_rms_norm(x, w, 1e-5), *r = rp_rms_norm_ref(x, w, 1e-5);
    CHECK(max_abs_diff(y, r) <= 2e-6);
    rp_tensor_release(y); rp_tensor_release(r);
    rp_tensor *in[2] = {x, w};
    bool diff[2] = {true, true};
    gradcheck("rms_norm", f_rms, "w", 2, in, diff, 1e-3, 3e-3);
    gradcheck("rms_norm no weight", f_rms, NULL, 1, in, diff, 1e-3, 3e-3);
    int64_t bad[] = {5};
    rp_tensor *wb = randn(1, bad);
    CHECK(rp_rms_norm(x, wb, 1e-5) == NULL);
    CHECK(strstr(rp_errmsg(), "rms_norm: weight {5} does not match input {2,3,6}") != NULL);
    rp_tensor_release(wb); rp_tensor_release(x); rp_tensor_release(w);
}

/* ---- embedding, one_hot ---- */

static rp_tensor *f_emb(rp_tensor **in, const void *ctx) { return rp_embedding(in[0], (const rp_tensor *)ctx); }

static void test_embedding(void)
{
    int64_t sw[] = {5, 3}, si[] = {2, 4};
    rp_tensor *w = randn(2, sw), *ids = rp_empty(RP_I32, 2, si);
    int32_t iv[] = {0, 4, 4, 2, 1, 4, 0, 3}; /* repeated ids accumulate */
    memcpy(RP_I32P(ids), iv, sizeof iv);
    rp_tensor *y = rp_embedding(w, ids);
    CHECK(y && y->ndim == 3 && y->shape[2] == 3);
    for (int i = 0; i < 8; i++)
        for (int c = 0; c < 3; c++) CHECK(RP_F32P(y)[i * 3 + c] == RP_F32P(w)[iv[i] * 3 + c]);
    rp_tensor_release(y);
    rp_tensor *in[1] = {w};
    bool diff[1] = {true};
    gradcheck("embedding", f_emb, ids, 1, in, diff, 1e-2, 1e-3);
    RP_I32P(ids)[5] = 5;
    CHECK(rp_embedding(w, ids) == NULL);
    CHECK(strstr(rp_errmsg(), "embedding: id 5 at position 5 out of range [0, 5)") != NULL);
    CHECK(rp_embedding(ids, ids) == NULL);
    RP_I32P(ids)[5] = 2;
    rp_tensor *oh = rp_one_hot(ids, 5);
    CHECK(oh && oh->ndim == 3 && oh->shape[2] == 5);
    double s = 0;
    for (int64_t i = 0; i < rp_numel(oh); i++) s += RP_F32P(oh)[i];
    CHECK_NEAR(8, s, 0);
    CHECK(RP_F32P(oh)[1 * 5 + 4] == 1.0f);
    rp_tensor_release(oh);
    CHECK(rp_one_hot(ids, 4) == NULL);
    rp_tensor_release(w); rp_tensor_release(ids);
}

/* ---- attention ---- */

static rp_tensor *f_att(rp_tensor **in, const void *ctx) { (void)ctx; return rp_attention(in[0], in[1], in[2]); }

/* Composition of primitive ops: softmax(mask(q kᵀ / sqrt(D))) v. */
static rp_tensor *att_composed(const rp_tensor *q, const rp_tensor *k, const rp_tensor *v)
{
    rp_tensor *kt = swapped(k, 2, 3), *s = rp_matmul(q, kt);
    int64_t B = q->shape[0], H = q->shape[1], T = q->shape[2];
    float scale = (float)(1 / sqrt((double)q->shape[3]));
    for (int64_t bh = 0; bh < B * H; bh++)
        for (int64_t i = 0; i < T; i++)
            for (int64_t j = 0; j < T; j++) {
                float *e = RP_F32P(s) + (bh * T + i) * T + j;
                *e = j > i ? -INFINITY : *e * scale;
            }
    rp_tensor *p = rp_softmax(s, -1), *o = rp_matmul(p, v);
    rp_tensor_release(kt); rp_tensor_release(s); rp_tensor_release(p);
    return o;
}

static void test_attention(void)
{
    int64_t shapes[][4] = {{1, 1, 1, 4}, {2, 3, 17, 5}, {1, 2, 9, 8}};
    for (int c = 0; c < 3; c++) {
        rp_tensor *q = randn(4, shapes[c]), *k = randn(4, shapes[c]), *v = randn(4, shapes[c]);
        rp_tensor *y = rp_attention(q, k, v), *r = rp_attention_ref(q, k, v);
        rp_tensor *m = att_composed(q, k, v);
        CHECK(max_abs_diff(y, r) <= 2e-6);
        CHECK(max_abs_diff(y, m) <= 2e-6);
        rp_tensor_release(y); rp_tensor_release(r); rp_tensor_release(m);
        if (c != 1) {
            rp_tensor *in[3] = {q, k, v};
            bool diff[3] = {true, true, true};
            gradcheck("attention", f_att, NULL, 3, in, diff, 1e-2, 3e-3);
        }
        rp_tensor_release(q); rp_tensor_release(k); rp_tensor_release(v);
    }
    /* (B, T, H, D) storage viewed as (B, H, T, D): strided rows, no copy */
    int64_t sbthd[] = {2, 7, 3, 5};
    rp_tensor *qb = randn(4, sbthd), *kb = randn(4, sbthd), *vb = randn(4, sbthd);
    rp_tensor *q = swapped(qb, 1, 2), *k = swapped(kb, 1, 2), *v = swapped(vb, 1, 2);
    rp_tensor *y = rp_attention(q, k, v), *r = rp_attention_ref(q, k, v);
    CHECK(max_abs_diff(y, r) <= 2e-6);
    rp_tensor_release(y); rp_tensor_release(r);
    rp_tensor *in[3] = {q, k, v};
    bool diff[3] = {true, true, true};
    gradcheck("attention strided", f_att, NULL, 3, in, diff, 1e-2, 3e-3);
    CHECK(rp_attention(q, k, qb) == NULL);
    CHECK(strstr(rp_errmsg(), "must share one (B, H, T, D) shape") != NULL);
    rp_tensor_release(q); rp_tensor_release(k); rp_tensor_release(v);
    rp_tensor_release(qb); rp_tensor_release(kb); rp_tensor_release(vb);
}

/* Forward and backward bit for bit with 1 and 2 threads, in one block and
 * in several (blocked kernel forced). */
static void test_attention_threads(void)
{
    int64_t shapes[][4] = {{2, 3, 33, 16}, {2, 3, 100, 16}, {2, 2, 130, 32}};
    int prev = rp_attention_kernel(-1);
    for (int c = 0; c < 3; c++) {
        rp_attention_kernel(c == 0 ? prev : 2);
        rp_tensor *q = randn(4, shapes[c]), *k = randn(4, shapes[c]), *v = randn(4, shapes[c]);
        rp_tensor *res[2][4];
        for (int t = 0; t < 2; t++) {
            rp_set_threads(t + 1);
            rp_tensor *in[3] = {q, k, v};
            for (int i = 0; i < 3; i++) { in[i]->requires_grad = true; rp_tensor_release(in[i]->grad); in[i]->grad = NULL; }
            rp_tensor *y = rp_attention(q, k, v);
            rp_tensor *g = rp_copy_contiguous(y);
            CHECK(rp_backward(y, g, false) == 0);
            res[t][0] = rp_copy_contiguous(y);
            for (int i = 0; i < 3; i++) { res[t][i + 1] = in[i]->grad; in[i]->grad = NULL; }
            rp_tensor_release(g); rp_tensor_release(y);
        }
        for (int i = 0; i < 4; i++) {
            CHECK(bit_equal(res[0][i], res[1][i]));
            rp_tensor_release(res[0][i]); rp_tensor_release(res[1][i]);
        }
        rp_tensor_release(q); rp_tensor_release(k); rp_tensor_release(v);
    }
    rp_attention_kernel(prev);
    rp_set_threads(2);
}

/* out, dq, dk, dv (contiguous) of the attention of q, k, v against upstream
 * gradient g, with kernel choice kern (rp_attention_kernel). */
static void att_grads(int kern, rp_tensor *q, rp_tensor *k, rp_tensor *v, const rp_tensor *g,
                      rp_tensor *res[4])
{
    int prev = rp_attention_kernel(kern);
    rp_tensor *in[3] = {q, k, v};
    for (int i = 0; i < 3; i++) { in[i]->requires_grad = true; rp_tensor_release(in[i]->grad); in[i]->grad = NULL; }
    rp_tensor *y = rp_attention(q, k, v);
    CHECK(y != NULL);
    CHECK(y && rp_backward(y, g, false) == 0);
    res[0] = y ? rp_copy_contiguous(y) : NULL;
    for (int i = 0; i < 3; i++) {
        res[i + 1] = in[i]->grad ? rp_copy_contiguous(in[i]->grad) : NULL;
        rp_tensor_release(in[i]->grad);
        in[i]->grad = NULL;
        in[i]->requires_grad = false;
    }
    rp_tensor_release(y);
    rp_attention_kernel(prev);
}

/* max |a - b| / (1 + |b|) */
static double rel_diff(const rp_tensor *a, const rp_tensor *b)
{
    if (!a || !b || !rp_same_shape(a, b)) return INFINITY;
    double m = 0;
    for (int64_t i = 0; i < rp_numel(a); i++) {
        double x = rp_get_flat(a, i), y = rp_get_flat(b, i), d = fabs(x - y) / (1 + fabs(y));
        if (!(d <= m)) m = d;
    }
    return m;
}

/* The blocked kernel (rp_attention_kernel 2) against the full one (0): T = 1,
 * T within one block, at and around block edges, not a multiple of the
 * block; D below 32 (blocks of 32) and from 32 (a first block of 64); q, k, v
 * contiguous, (B, T, H, D) storage viewed as (B, H, T, D), and with D not
 * unit-stride (copied). The choice 1, the default, must give the full
 * kernel's bits: it uses the blocked kernel only where it checked that (with
 * OpenBLAS 0.3.21 the two differ in the last bits at T = 340, where OpenBLAS
 * splits the full kernel's sums over T into chunks). */
static void test_attention_blocked(void)
{
    struct { int64_t B, H, T, D; int layout; } cases[] = {
        {1, 2, 1, 8, 0},    {2, 1, 5, 4, 1},    {1, 2, 31, 16, 0},  {1, 2, 47, 16, 1},
        {1, 2, 48, 16, 0},  {2, 1, 100, 16, 1}, {1, 2, 79, 32, 0},  {1, 2, 80, 32, 1},
        {1, 1, 130, 40, 2}, {1, 2, 200, 64, 1}, {1, 1, 340, 16, 0}, {1, 1, 97, 2, 2},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int64_t s[4] = {cases[c].B, cases[c].H, cases[c].T, cases[c].D};
        int64_t sbthd[4] = {s[0], s[2], s[1], s[3]}, sbhdt[4] = {s[0], s[1], s[3], s[2]};
        rp_tensor *raw[3], *in[3];
        for (int i = 0; i < 3; i++) {
            int lay = cases[c].layout;
            raw[i] = randn(4, lay == 0 ? s : lay == 1 ? sbthd : sbhdt);
            in[i] = lay == 0 ? (rp_tensor_retain(raw[i]), raw[i]) : swapped(raw[i], lay == 1 ? 1 : 2, lay == 1 ? 2 : 3);
        }
        int failures = check_failures;
        rp_tensor *g = randn(4, s), *res[3][4];
        for (int kern = 0; kern < 3; kern++) att_grads(kern, in[0], in[1], in[2], g, res[kern]);
        rp_tensor *r = rp_attention_ref(in[0], in[1], in[2]);
        CHECK(max_abs_diff(res[2][0], r) <= 2e-6);
        for (int i = 0; i < 4; i++) {
            CHECK(bit_equal(res[1][i], res[0][i]));
            CHECK(rel_diff(res[2][i], res[0][i]) <= 1e-5);
        }
        if (check_failures > failures)
            fprintf(stderr, "attention blocked: case (%lld,%lld,%lld,%lld) layout %d\n", (long long)s[0],
                    (long long)s[1], (long long)s[2], (long long)s[3], cases[c].layout);
        for (int kern = 0; kern < 3; kern++)
            for (int i = 0; i < 4; i++) rp_tensor_release(res[kern][i]);
        rp_tensor_release(r); rp_tensor_release(g);
        for (int i = 0; i < 3; i++) { rp_tensor_release(in[i]); rp_tensor_release(raw[i]); }
    }
    /* gradients of the blocked kernel against finite differences, over
     * several blocks of each width */
    int prev = rp_attention_kernel(2);
    int64_t gs[][4] = {{1, 2, 50, 4}, {1, 1, 81, 32}};
    for (int c = 0; c < 2; c++) {
        rp_tensor *in[3] = {randn(4, gs[c]), randn(4, gs[c]), randn(4, gs[c])};
        bool diff[3] = {true, true, true};
        gradcheck("attention blocked", f_att, NULL, 3, in, diff, 1e-2, 3e-3);
        for (int i = 0; i < 3; i++) rp_tensor_release(in[i]);
    }
    rp_attention_kernel(prev);
}

/* ---- rope ---- */

static rp_tensor *f_rope(rp_tensor **in, const void *ctx) { (void)ctx; return rp_rope(in[0], 3, 10000); }

static void test_rope(void)
{
    int64_t s[] = {2, 2, 5, 6};
    rp_tensor *x = randn(4, s);
    rp_tensor *y = rp_rope(x, 3, 10000);
    CHECK(y != NULL);
    double worst = 0;
    for (int64_t bh = 0; bh < 4; bh++)
        for (int64_t t = 0; t < 5; t++)
            for (int64_t i = 0; i < 3; i++) {
                double ang = (double)(t + 3) / pow(10000, 2.0 * (double)i / 6);
                const float *xr = RP_F32P(x) + (bh * 5 + t) * 6, *yr = RP_F32P(y) + (bh * 5 + t) * 6;
                double e0 = xr[i] * cos(ang) - xr[i + 3] * sin(ang);
                double e1 = xr[i + 3] * cos(ang) + xr[i] * sin(ang);
                worst = fmax(worst, fmax(fabs(e0 - yr[i]), fabs(e1 - yr[i + 3])));
            }
    CHECK(worst <= 1e-5);
    rp_tensor_release(y);
    /* position 0 is the identity */
    rp_tensor *y0 = rp_rope(x, 0, 10000);
    for (int i = 0; i < 6; i++) CHECK(RP_F32P(y0)[i] == RP_F32P(x)[i]);
    rp_tensor_release(y0);
    rp_tensor *in[1] = {x};
    bool diff[1] = {true};
    gradcheck("rope", f_rope, NULL, 1, in, diff, 1e-2, 1e-3);
    int64_t odd[] = {2, 5};
    rp_tensor *xo = randn(2, odd);
    CHECK(rp_rope(xo, 0, 10000) == NULL);
    CHECK(strstr(rp_errmsg(), "D even") != NULL);
    rp_tensor_release(xo); rp_tensor_release(x);
}

/* rope of x and its gradient for upstream g (both contiguous copies). */
static void rope_grads(rp_tensor *x, int64_t offset, const rp_tensor *g, rp_tensor *res[2])
{
    x->requires_grad = true;
    rp_tensor *y = rp_rope(x, offset, 10000);
    CHECK(y && rp_backward(y, g, false) == 0);
    res[0] = y ? rp_copy_contiguous(y) : NULL;
    res[1] = x->grad ? rp_copy_contiguous(x->grad) : NULL;
    rp_tensor_release(x->grad);
    x->grad = NULL;
    x->requires_grad = false;
    rp_tensor_release(y);
}

/* The cos/sin tables are cached between calls: the same bits after the cache
 * has cycled through more (T, offset) keys than it holds; strided inputs
 * (the heads' transpose, and D not unit-stride) give the bits of their
 * contiguous copies, forward and backward. */
static void test_rope_cache_strides(void)
{
    int64_t s[] = {2, 3, 7, 8}, sbthd[] = {2, 7, 3, 8}, sbhdt[] = {2, 3, 8, 7};
    rp_tensor *x = randn(4, s), *g = randn(4, s), *first[2], *again[2];
    rope_grads(x, 5, g, first);
    for (int64_t off = 0; off < 20; off++) {
        rp_tensor *y = rp_rope(x, off, 10000);
        CHECK(y != NULL);
        /* row t of head 0 rotated by angle (off + t) base^0 = off + t in pair (0, D/2) */
        for (int64_t t = 0; y && t < 7; t++) {
            double ang = (double)(off + t), a = RP_F32P(x)[t * 8], b = RP_F32P(x)[t * 8 + 4];
            CHECK_NEAR(a * cos(ang) - b * sin(ang), RP_F32P(y)[t * 8], 1e-5);
        }
        rp_tensor_release(y);
    }
    rope_grads(x, 5, g, again);
    for (int i = 0; i < 2; i++) {
        CHECK(bit_equal(first[i], again[i]));
        rp_tensor_release(first[i]); rp_tensor_release(again[i]);
    }
    for (int lay = 0; lay < 2; lay++) {
        rp_tensor *raw = randn(4, lay ? sbhdt : sbthd);
        rp_tensor *xs = swapped(raw, lay ? 2 : 1, lay ? 3 : 2), *xc = rp_copy_contiguous(xs);
        rp_tensor *rs[2], *rc[2];
        rope_grads(xs, 2, g, rs);
        rope_grads(xc, 2, g, rc);
        for (int i = 0; i < 2; i++) {
            CHECK(bit_equal(rs[i], rc[i]));
            rp_tensor_release(rs[i]); rp_tensor_release(rc[i]);
        }
        rp_tensor_release(xs); rp_tensor_release(xc); rp_tensor_release(raw);
    }
    rp_tensor_release(x); rp_tensor_release(g);
}

/* ---- dropout ---- */

static void test_dropout(void)
{
    int64_t s[] = {100, 50};
    rp_tensor *x = randn(2, s);
    rp_generator g1 = {.seed = 7, .offset = 0}, g2 = {.seed = 7, .offset = 0};
    x->requires_grad = true;
    rp_tensor *a = rp_dropout(x, 0.3, true, &g1), *b = rp_dropout(x, 0.3, true, &g2);
    CHECK(bit_equal(a, b));
    CHECK(g1.offset == 5000);
    int64_t zeros = 0;
    for (int64_t i = 0; i < 5000; i++) {
        float yi = RP_F32P(a)[i];
        if (yi == 0) zeros++;
        else CHECK_NEAR(RP_F32P(x)[i] / 0.7, yi, 1e-5);
    }
    CHECK(zeros > 1350 && zeros < 1650);
    rp_tensor *ones = rp_empty(RP_F32, 2, s);
    rp_fill(ones, 1);
    CHECK(rp_backward(a, ones, false) == 0);
    for (int64_t i = 0; i < 5000; i++)
        CHECK_NEAR(RP_F32P(a)[i] == 0 ? 0 : 1 / 0.7, RP_F32P(x->grad)[i], 1e-6);
    /* the next draw differs */
    rp_tensor *c = rp_dropout(x, 0.3, true, &g1);
    CHECK(!bit_equal(a, c));
    rp_tensor *e = rp_dropout(x, 0.3, false, &g1);
    CHECK(e == x);
    CHECK(rp_dropout(x, 1.5, true, &g1) == NULL);
    rp_tensor_release(a); rp_tensor_release(b); rp_tensor_release(c); rp_tensor_release(e);
    rp_tensor_release(ones); rp_tensor_release(x);
}

int main(void)
{
    rp_set_threads(2);
    test_softmax();
    test_cross_entropy();
    test_rms_norm();
    test_embedding();
    test_attention();
    test_attention_threads();
    test_attention_blocked();
    test_rope();
    test_rope_cache_strides();
    test_dropout();
    CHECK_EQ_INT(0, (long long)rp_live_bytes());
    return check_report("test_ops_nn");
}
