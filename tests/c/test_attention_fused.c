/* test_attention_fused.c: the fused (online-softmax) causal attention
 * against the reference kernels (rp_attention, rp_attention_ref) with a
 * tolerance, its gradients against central finite differences and against
 * rp_attention's, bit-identical results at 1 and 2 threads and for strided
 * and contiguous inputs, and errors. */
#include "check.h"
#include "ops_nn.h"
#include "autograd.h"
#include "rng.h"

#include <stdlib.h>
#include <string.h>

static rp_generator gen = {.seed = 4242, .offset = 0};

static rp_tensor *randn(int nd, const int64_t *shape)
{
    rp_tensor *t = rp_empty(RP_F32, nd, shape);
    rp_fill_normal(t, &gen, 0, 1);
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

static bool bit_equal(const rp_tensor *a, const rp_tensor *b)
{
    return a && b && rp_same_shape(a, b) &&
           memcmp(RP_F32P(a), RP_F32P(b), sizeof(float) * (size_t)rp_numel(a)) == 0;
}

typedef rp_tensor *(*att_fn)(const rp_tensor *, const rp_tensor *, const rp_tensor *);

/* out, dq, dk, dv (contiguous) of f(q, k, v) against upstream g. */
static void grads(att_fn f, rp_tensor *q, rp_tensor *k, rp_tensor *v, const rp_tensor *g,
                  rp_tensor *res[4])
{
    rp_tensor *in[3] = {q, k, v};
    for (int i = 0; i < 3; i++) {
        in[i]->requires_grad = true;
        rp_tensor_release(in[i]->grad);
        in[i]->grad = NULL;
    }
    rp_tensor *y = f(q, k, v);
    CHECK(y != NULL);
    if (!y) fprintf(stderr, "attention: %s\n", rp_errmsg());
    CHECK(y && rp_backward(y, g, false) == 0);
    res[0] = y ? rp_copy_contiguous(y) : NULL;
    for (int i = 0; i < 3; i++) {
        res[i + 1] = in[i]->grad ? rp_copy_contiguous(in[i]->grad) : NULL;
        rp_tensor_release(in[i]->grad);
        in[i]->grad = NULL;
        in[i]->requires_grad = false;
    }
    rp_tensor_release(y);
}

static void release4(rp_tensor *r[4])
{
    for (int i = 0; i < 4; i++) rp_tensor_release(r[i]);
}

/* Forward against the double reference, forward and gradients against the
 * blocked/full kernel, at one shape; layout 0 contiguous, 1 (B, T, H, D)
 * storage viewed as (B, H, T, D), 2 D not unit-stride (copied). */
static void against_reference(const int64_t s[4], int layout)
{
    int64_t sb[4] = {s[0], s[2], s[1], s[3]}, sd[4] = {s[0], s[1], s[3], s[2]};
    rp_tensor *base[3], *in[3];
    for (int i = 0; i < 3; i++) {
        base[i] = randn(4, layout == 0 ? s : layout == 1 ? sb : sd);
        in[i] = layout == 0 ? (rp_tensor_retain(base[i]), base[i])
                            : swapped(base[i], layout == 1 ? 1 : 2, layout == 1 ? 2 : 3);
    }
    rp_tensor *g = randn(4, s);
    rp_tensor *r = rp_attention_ref(in[0], in[1], in[2]), *fz[4], *bl[4];
    grads(rp_attention_fused, in[0], in[1], in[2], g, fz);
    grads(rp_attention, in[0], in[1], in[2], g, bl);
    double e = rel_diff(fz[0], r);
    if (!(e <= 3e-6))
        fprintf(stderr, "fused vs ref (%lld,%lld,%lld,%lld) layout %d: %g\n", (long long)s[0],
                (long long)s[1], (long long)s[2], (long long)s[3], layout, e);
    CHECK(e <= 3e-6);
    for (int i = 0; i < 4; i++) {
        double d = rel_diff(fz[i], bl[i]);
        if (!(d <= 2e-5))
            fprintf(stderr, "fused vs blocked (%lld,%lld,%lld,%lld) layout %d, output %d: %g\n",
                    (long long)s[0], (long long)s[1], (long long)s[2], (long long)s[3], layout,
                    i, d);
        CHECK(d <= 2e-5);
    }
    release4(fz);
    release4(bl);
    rp_tensor_release(r);
    rp_tensor_release(g);
    for (int i = 0; i < 3; i++) {
        rp_tensor_release(in[i]);
        rp_tensor_release(base[i]);
    }
}

/* ---- finite differences: loss = Σ out·w ---- */

static double wt(int64_t i) { return 0.5 + 0.37 * (double)((i * 7) % 5) - 0.2 * (double)(i % 3); }

static double weighted_sum(const rp_tensor *out)
{
    double s = 0;
    for (int64_t i = 0; i < rp_numel(out); i++) s += rp_get_flat(out, i) * wt(i);
    return s;
}

static void gradcheck(const int64_t s[4])
{
    rp_tensor *in[3] = {randn(4, s), randn(4, s), randn(4, s)};
    for (int i = 0; i < 3; i++) in[i]->requires_grad = true;
    rp_tensor *out = rp_attention_fused(in[0], in[1], in[2]);
    CHECK(out != NULL);
    rp_tensor *w = rp_empty(RP_F32, 4, s);
    for (int64_t i = 0; i < rp_numel(w); i++) RP_F32P(w)[i] = (float)wt(i);
    CHECK(out && rp_backward(out, w, false) == 0);
    rp_tensor_release(w);
    rp_tensor_release(out);
    bool prev = rp_set_grad_enabled(false);
    const double eps = 1e-2, rtol = 3e-3;
    int bad = 0;
    for (int k = 0; k < 3; k++) {
        CHECK(in[k]->grad != NULL);
        for (int64_t i = 0; in[k]->grad && i < rp_numel(in[k]); i++) {
            double x0 = rp_get_flat(in[k], i);
            rp_set_flat(in[k], i, x0 + eps);
            rp_tensor *op = rp_attention_fused(in[0], in[1], in[2]);
            rp_set_flat(in[k], i, x0 - eps);
            rp_tensor *om = rp_attention_fused(in[0], in[1], in[2]);
            rp_set_flat(in[k], i, x0);
            double num = (weighted_sum(op) - weighted_sum(om)) / (2 * eps);
            double ana = rp_get_flat(in[k]->grad, i), tol = rtol * (1 + fabs(num));
            rp_tensor_release(op);
            rp_tensor_release(om);
            if (!(fabs(num - ana) <= tol) && bad++ < 5)
                fprintf(stderr, "fused gradcheck: input %d element %lld: numeric %g analytic %g\n",
                        k, (long long)i, num, ana);
            CHECK_NEAR(num, ana, tol);
        }
    }
    rp_set_grad_enabled(prev);
    for (int i = 0; i < 3; i++) rp_tensor_release(in[i]);
}

/* Forward and backward bit for bit at 1 and 2 threads. */
static void threads_same(const int64_t s[4])
{
    rp_tensor *q = randn(4, s), *k = randn(4, s), *v = randn(4, s), *g = randn(4, s);
    rp_tensor *res[2][4];
    for (int t = 0; t < 2; t++) {
        rp_set_threads(t + 1);
        grads(rp_attention_fused, q, k, v, g, res[t]);
    }
    for (int i = 0; i < 4; i++) CHECK(bit_equal(res[0][i], res[1][i]));
    release4(res[0]);
    release4(res[1]);
    rp_tensor_release(q); rp_tensor_release(k); rp_tensor_release(v); rp_tensor_release(g);
    rp_set_threads(2);
}

/* Forward and backward bit for bit whether q, k, v are contiguous or
 * (B, T, H, D) storage viewed as (B, H, T, D), as the model passes them:
 * the kernel reads the rows in place (rows H D apart), the same values in
 * the same order. */
static void layout_same(const int64_t s[4])
{
    int64_t sb[4] = {s[0], s[2], s[1], s[3]};
    rp_tensor *base[3], *view[3], *flat[3], *g = randn(4, s), *res[2][4];
    for (int i = 0; i < 3; i++) {
        base[i] = randn(4, sb);
        view[i] = swapped(base[i], 1, 2);
        flat[i] = rp_copy_contiguous(view[i]);
    }
    grads(rp_attention_fused, view[0], view[1], view[2], g, res[0]);
    grads(rp_attention_fused, flat[0], flat[1], flat[2], g, res[1]);
    for (int i = 0; i < 4; i++) CHECK(bit_equal(res[0][i], res[1][i]));
    release4(res[0]);
    release4(res[1]);
    for (int i = 0; i < 3; i++) {
        rp_tensor_release(base[i]);
        rp_tensor_release(view[i]);
        rp_tensor_release(flat[i]);
    }
    rp_tensor_release(g);
}

int main(void)
{
    /* T = 1, inside one block, at and around block edges (32 below D 64, 64
     * from it), not a multiple of a block; the models' head sizes */
    static const int64_t shapes[][4] = {{1, 1, 1, 4},   {2, 3, 17, 5},  {1, 2, 32, 16},
                                        {2, 2, 33, 16}, {1, 2, 100, 32}, {1, 1, 64, 64},
                                        {1, 2, 130, 64}, {2, 1, 257, 64}, {1, 1, 70, 96}};
    for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; c++)
        for (int layout = 0; layout < 3; layout++) against_reference(shapes[c], layout);
    static const int64_t small[][4] = {{1, 1, 1, 4}, {1, 2, 9, 8}, {2, 1, 40, 4}};
    for (int c = 0; c < 3; c++) gradcheck(small[c]);
    static const int64_t par[][4] = {{2, 3, 33, 16}, {2, 3, 100, 32}, {2, 2, 200, 64}};
    for (int c = 0; c < 3; c++) threads_same(par[c]);
    for (int c = 0; c < 3; c++) layout_same(par[c]);
    /* errors: a clear message, no crash */
    int64_t a[4] = {1, 2, 8, 4}, b[4] = {1, 2, 9, 4};
    rp_tensor *x = randn(4, a), *y = randn(4, b);
    CHECK(rp_attention_fused(x, y, x) == NULL);
    CHECK(strstr(rp_errmsg(), "must share one (B, H, T, D) shape") != NULL);
    rp_tensor_release(x);
    rp_tensor_release(y);
    return check_report("test_attention_fused");
}
