/* test_attention_masked.c: rp_attention_masked against its double-precision
 * reference for causal / non-causal, with and without a key mask, Tq <= Tk,
 * strided (cache-like) keys; the unmasked causal case is rp_attention. */
#include "check.h"
#include "ops_nn.h"
#include "ops.h"
#include "rng.h"

#include <string.h>

static rp_generator gen = {.seed = 1234, .offset = 0};

static rp_tensor *randn4(int64_t a, int64_t b, int64_t c, int64_t d)
{
    int64_t s[4] = {a, b, c, d};
    rp_tensor *t = rp_empty(RP_F32, 4, s);
    rp_fill_normal(t, &gen, 0, 1);
    return t;
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

static void one(int64_t B, int64_t H, int64_t Tq, int64_t Tk, int64_t D, bool causal, bool masked)
{
    rp_tensor *q = randn4(B, H, Tq, D), *k = randn4(B, H, Tk, D), *v = randn4(B, H, Tk, D);
    int64_t ms[2] = {B, Tk};
    rp_tensor *m = masked ? rp_empty(RP_F32, 2, ms) : NULL;
    if (m)
        for (int64_t i = 0; i < B * Tk; i++) rp_set_flat(m, i, (i * 7 + 3) % 5 != 0);
    rp_tensor *o = rp_attention_masked(q, k, v, m, causal);
    rp_tensor *r = rp_attention_masked_ref(q, k, v, m, causal);
    CHECK(o != NULL && r != NULL);
    CHECK_NEAR(0, max_abs_diff(o, r), 2e-6);
    rp_tensor_release(o);
    rp_tensor_release(r);
    rp_tensor_release(q);
    rp_tensor_release(k);
    rp_tensor_release(v);
    rp_tensor_release(m);
}

int main(void)
{
    for (int c = 0; c < 2; c++)
        for (int mk = 0; mk < 2; mk++) {
            one(2, 3, 7, 7, 8, c, mk);
            one(2, 2, 1, 9, 16, c, mk);
            one(1, 2, 5, 12, 32, c, mk);
            one(3, 1, 70, 70, 16, c, mk);
        }
    /* keys narrowed out of a longer cache: (B, H, Tmax, D) -> first Tk rows */
    rp_tensor *q = randn4(2, 2, 1, 8), *kc = randn4(2, 2, 10, 8), *vc = randn4(2, 2, 10, 8);
    rp_tensor *k = rp_narrow(kc, 2, 0, 6), *v = rp_narrow(vc, 2, 0, 6);
    rp_tensor *kk = rp_contiguous(k), *vv = rp_contiguous(v);
    rp_tensor *o1 = rp_attention_masked(q, k, v, NULL, true);
    rp_tensor *o2 = rp_attention_masked(q, kk, vv, NULL, true);
    CHECK(o1 && o2 && memcmp(RP_F32P(o1), RP_F32P(o2), sizeof(float) * 16) == 0);
    /* no mask, causal, Tq == Tk: the training kernel's bits */
    rp_tensor *a = randn4(2, 2, 9, 8), *b = rp_attention_masked(a, a, a, NULL, true),
              *c = rp_attention(a, a, a);
    CHECK(b && c && memcmp(RP_F32P(b), RP_F32P(c), sizeof(float) * (size_t)rp_numel(c)) == 0);
    /* errors */
    CHECK(rp_attention_masked(kc, q, q, NULL, true) == NULL);
    CHECK(strstr(rp_errmsg(), "attention:") != NULL);
    rp_tensor *objs[] = {q, kc, vc, k, v, kk, vv, o1, o2, a, b, c};
    for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++) rp_tensor_release(objs[i]);
    return check_report("test_attention_masked");
}
