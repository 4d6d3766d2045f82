#define _POSIX_C_SOURCE 200809L
/* test_tensor.c: core tensor ops against plain reference loops, view
 * aliasing on random geometries, thread-count independence, safetensors. */
#include "check.h"
#include "autograd.h"
#include "io.h"
#include "ops.h"
#include "rng.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static rp_tensor *randn(int nd, const int64_t *shape, uint64_t seed)
{
    rp_generator g;
    rp_generator_seed(&g, seed);
    rp_tensor *t = rp_empty(RP_F32, nd, shape);
    rp_fill_normal(t, &g, 0, 1);
    return t;
}

/* Reference broadcasting binary op: element by element through rp_get_flat. */
static double ref_bin(rp_binop op, double x, double y)
{
    switch (op) {
    case RP_ADD: return (float)x + (float)y;
    case RP_SUB: return (float)x - (float)y;
    case RP_MUL: return (float)x * (float)y;
    case RP_DIV: return (float)x / (float)y;
    default: return 0;
    }
}

static void test_binary_vs_reference(void)
{
    uint64_t seed = 1;
    for (int trial = 0; trial < 40; trial++) {
        /* random shapes of up to 4 dims, b broadcast on random dims, a transposed sometimes */
        int nd = 1 + trial % 4;
        int64_t shape[4], bshape[4];
        for (int d = 0; d < nd; d++) {
            shape[d] = 1 + (int64_t)((trial * 7 + d * 3) % 5);
            bshape[d] = (trial + d) % 3 == 0 ? 1 : shape[d];
        }
        rp_tensor *a0 = randn(nd, shape, seed++), *b = randn(nd, bshape, seed++);
        rp_tensor *a = a0;
        rp_tensor_retain(a0);
        if (nd >= 2 && trial % 2) { /* a non-contiguous a with the same shape */
            int64_t ts[4];
            memcpy(ts, shape, sizeof ts);
            ts[0] = shape[1]; ts[1] = shape[0];
            rp_tensor *base = randn(nd, ts, seed++);
            rp_tensor_release(a);
            a = rp_transpose(base, 0, 1);
            rp_tensor_release(base);
        }
        for (rp_binop op = RP_ADD; op <= RP_DIV; op++) {
            rp_tensor *r = rp_binary(op, a, b);
            CHECK(r != NULL);
            rp_tensor *eb = rp_expand_view(b, nd, shape);
            int64_t n = rp_numel(r);
            int bad = 0;
            for (int64_t i = 0; i < n; i++)
                if ((float)ref_bin(op, rp_get_flat(a, i), rp_get_flat(eb, i)) != (float)rp_get_flat(r, i)) bad++;
            CHECK_EQ_INT(0, bad);
            rp_tensor_release(eb);
            rp_tensor_release(r);
        }
        rp_tensor_release(a); rp_tensor_release(a0); rp_tensor_release(b);
    }
}

static void test_views_alias(void)
{
    int64_t shape[3] = {4, 5, 6};
    rp_tensor *x = randn(3, shape, 42);
    rp_tensor *n = rp_narrow(x, 1, 1, 3), *p = rp_transpose(n, 0, 2), *s = rp_select(p, 1, 2);
    CHECK(n->storage == x->storage && s->storage == x->storage);
    rp_tensor *c = rp_contiguous(s), *k = rp_clone(s);
    CHECK(rp_same_shape(c, k));
    CHECK(memcmp(rp_data(c), rp_data(k), (size_t)rp_numel(c) * 4) == 0);
    rp_set_flat(s, 0, 123.0);
    CHECK_NEAR(123.0, RP_F32P(x)[18], 0); /* s[0][0] is x[0][3][0] */
    rp_tensor_release(n); rp_tensor_release(p); rp_tensor_release(s);
    rp_tensor_release(c); rp_tensor_release(k); rp_tensor_release(x);
}

static void test_reductions_threads(void)
{
    int64_t shape[2] = {700, 900};
    rp_tensor *x = randn(2, shape, 3);
    float r1[3], r2[3];
    for (int pass = 0; pass < 2; pass++) {
        rp_set_threads(pass + 1);
        rp_tensor *s = rp_sum_all(x), *s0 = rp_sum_dim(x, 0, false), *s1 = rp_sum_dim(x, 1, false);
        float *r = pass ? r2 : r1;
        r[0] = RP_F32P(s)[0]; r[1] = RP_F32P(s0)[17]; r[2] = RP_F32P(s1)[599];
        rp_tensor_release(s); rp_tensor_release(s0); rp_tensor_release(s1);
    }
    for (int i = 0; i < 3; i++) CHECK(r1[i] == r2[i]);
    double ref = 0;
    for (int64_t i = 0; i < rp_numel(x); i++) ref += RP_F32P(x)[i];
    CHECK_NEAR(ref, r1[0], 1e-3);
    rp_tensor_release(x);
}

static void test_errors(void)
{
    int64_t big[2] = {1000000, 1000000};
    CHECK(rp_zeros(RP_F32, 2, big) == NULL);
    CHECK(strstr(rp_errmsg(), "out of memory") != NULL);
    int64_t neg[1] = {-1};
    CHECK(rp_zeros(RP_F32, 1, neg) == NULL);
    int64_t s1[2] = {4, 8}, s2[2] = {7, 3};
    rp_tensor *a = rp_zeros(RP_F32, 2, s1), *b = rp_zeros(RP_F32, 2, s2);
    CHECK(rp_add(a, b) == NULL);
    CHECK(strstr(rp_errmsg(), "add: shapes {4,8} and {7,3}") != NULL);
    CHECK(rp_narrow(a, 1, 5, 4) == NULL);
    CHECK(rp_select(a, 2, 0) == NULL);
    rp_tensor_release(a); rp_tensor_release(b);
}

static void test_safetensors(void)
{
    char path[] = "/tmp/repro_test_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    int64_t sh[2] = {3, 5};
    rp_tensor *x = randn(2, sh, 9);
    rp_tensor *xt = rp_transpose(x, 0, 1);
    const char *names[2] = {"w", "wt"};
    const rp_tensor *ts[2] = {x, xt};
    const char *mk[1] = {"k"}, *mv[1] = {"v"};
    CHECK_EQ_INT(0, rp_save_safetensors(path, 2, names, ts, 1, mk, mv));
    rp_safetensors *s = rp_load_safetensors(path);
    CHECK(s != NULL);
    if (s) {
        CHECK_EQ_INT(2, s->n);
        CHECK_EQ_INT(1, s->nmeta);
        for (int i = 0; i < s->n; i++) {
            rp_tensor *want = strcmp(s->names[i], "w") == 0 ? rp_copy_contiguous(x) : rp_copy_contiguous(xt);
            CHECK(rp_same_shape(want, s->tensors[i]));
            CHECK(memcmp(rp_data(want), rp_data(s->tensors[i]), 60) == 0);
            rp_tensor_release(want);
        }
        rp_safetensors_free(s);
    }
    /* truncate the file at every length: each must fail cleanly */
    FILE *f = fopen(path, "rb");
    char buf[4096];
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    int failures = 0;
    for (size_t cut = 0; cut < len; cut++) {
        f = fopen(path, "wb");
        fwrite(buf, 1, cut, f);
        fclose(f);
        rp_safetensors *t = rp_load_safetensors(path);
        if (t) { failures++; rp_safetensors_free(t); }
    }
    CHECK_EQ_INT(0, failures);
    remove(path);
    rp_tensor_release(xt); rp_tensor_release(x);
}

int main(void)
{
    test_binary_vs_reference();
    test_views_alias();
    test_reductions_threads();
    test_errors();
    test_safetensors();
    return check_report("test_tensor");
}
