/* test_linalg.c: eigh, QR and matrix powers checked by reconstruction. */
#include "check.h"
#include "linalg.h"
#include "rng.h"

#include <stdlib.h>
#include <string.h>

static rp_tensor *randn2(int64_t m, int64_t n, uint64_t seed)
{
    int64_t s[2] = {m, n};
    rp_tensor *t = rp_empty(RP_F32, 2, s);
    rp_generator g;
    rp_generator_seed(&g, seed);
    rp_fill_normal(t, &g, 0, 1);
    return t;
}

/* A = X Xᵀ / n + shift I: symmetric positive definite. */
static rp_tensor *spd(int64_t n, uint64_t seed, float shift)
{
    rp_tensor *x = randn2(n, n, seed);
    int64_t s[2] = {n, n};
    rp_tensor *a = rp_empty(RP_F32, 2, s);
    float *X = RP_F32P(x), *A = RP_F32P(a);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) {
            double acc = 0;
            for (int64_t k = 0; k < n; k++) acc += (double)X[i * n + k] * X[j * n + k];
            A[i * n + j] = (float)(acc / (double)n) + (i == j ? shift : 0.0f);
        }
    rp_tensor_release(x);
    return a;
}

static void test_eigh(int64_t n)
{
    rp_tensor *a = spd(n, 7 + (uint64_t)n, 0.1f), *w, *V;
    CHECK(rp_linalg_eigh(&w, &V, a) == 0);
    float *A = RP_F32P(a), *W = RP_F32P(w), *Vd = RP_F32P(V);
    for (int64_t j = 1; j < n; j++) CHECK(W[j - 1] <= W[j]); /* ascending */
    double worst = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0;
            for (int64_t k = 0; k < n; k++) s += (double)Vd[i * n + k] * W[k] * Vd[j * n + k];
            worst = fmax(worst, fabs(s - A[i * n + j]));
        }
    CHECK_NEAR(0, worst, 1e-4 * (double)W[n - 1] + 1e-5);
    CHECK_NEAR(0, rp_orthonormality_defect_f32(Vd, (int)n, (int)n), 1e-4);
    rp_tensor_release(a); rp_tensor_release(w); rp_tensor_release(V);
}

static void test_qr(int64_t m, int64_t n)
{
    rp_tensor *a = randn2(m, n, 100 + (uint64_t)(m * 31 + n)), *Q, *R;
    CHECK(rp_linalg_qr(&Q, &R, a) == 0);
    int64_t k = m < n ? m : n;
    CHECK_EQ_INT(m, Q->shape[0]); CHECK_EQ_INT(k, Q->shape[1]);
    CHECK_EQ_INT(k, R->shape[0]); CHECK_EQ_INT(n, R->shape[1]);
    float *A = RP_F32P(a), *Qd = RP_F32P(Q), *Rd = RP_F32P(R);
    double worst = 0;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0;
            for (int64_t l = 0; l < k; l++) s += (double)Qd[i * k + l] * Rd[l * n + j];
            worst = fmax(worst, fabs(s - A[i * n + j]));
        }
    CHECK_NEAR(0, worst, 1e-4);
    for (int64_t i = 0; i < k; i++)
        for (int64_t j = 0; j < i; j++) CHECK(Rd[i * n + j] == 0.0f); /* upper triangular */
    CHECK_NEAR(0, rp_orthonormality_defect_f32(Qd, (int)m, (int)k), 1e-5);
    rp_tensor_release(a); rp_tensor_release(Q); rp_tensor_release(R);
}

static void test_matrix_power(void)
{
    int64_t n = 12;
    rp_tensor *a = spd(n, 3, 0.5f);
    rp_tensor *inv = rp_linalg_matrix_power(a, -1, 0), *half = rp_linalg_matrix_power(a, 0.5, 0);
    rp_tensor *qrt = rp_linalg_matrix_power(a, -0.25, 0);
    CHECK(inv && half && qrt);
    float *A = RP_F32P(a), *I = RP_F32P(inv), *H = RP_F32P(half), *Q4 = RP_F32P(qrt);
    double e_inv = 0, e_half = 0, e_q = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0, h = 0, q = 0;
            for (int64_t k = 0; k < n; k++) {
                s += (double)A[i * n + k] * I[k * n + j];
                h += (double)H[i * n + k] * H[k * n + j];
            }
            /* A^-1/4 A^-1/4 A^-1/4 A^-1/4 A = I: check (A^-1/4)^2 = (A^1/2)^-1 via (A^-1/4)^2 A^1/2 */
            for (int64_t k = 0; k < n; k++) {
                double t = 0;
                for (int64_t l = 0; l < n; l++) t += (double)Q4[i * n + l] * Q4[l * n + k];
                q += t * H[k * n + j];
            }
            e_inv = fmax(e_inv, fabs(s - (i == j)));
            e_half = fmax(e_half, fabs(h - A[i * n + j]));
            e_q = fmax(e_q, fabs(q - (i == j)));
        }
    CHECK_NEAR(0, e_inv, 1e-4);
    CHECK_NEAR(0, e_half, 1e-4);
    CHECK_NEAR(0, e_q, 1e-4);
    /* a singular matrix cannot be inverted without eps */
    int64_t s2[2] = {2, 2};
    rp_tensor *z = rp_zeros(RP_F32, 2, s2);
    CHECK(rp_linalg_matrix_power(z, -0.5, 0) == NULL);
    CHECK(strstr(rp_errmsg(), "matrix_power") != NULL);
    rp_tensor *ze = rp_linalg_matrix_power(z, -0.5, 4.0); /* (0 + 4)^-1/2 = 0.5 on the diagonal */
    CHECK(ze != NULL);
    if (ze) { CHECK_NEAR(0.5, RP_F32P(ze)[0], 1e-6); CHECK_NEAR(0, RP_F32P(ze)[1], 1e-6); }
    rp_tensor_release(z); rp_tensor_release(ze);
    rp_tensor_release(a); rp_tensor_release(inv); rp_tensor_release(half); rp_tensor_release(qrt);
}

static void test_errors(void)
{
    int64_t s[2] = {3, 4};
    rp_tensor *a = rp_zeros(RP_F32, 2, s), *w, *V;
    CHECK(rp_linalg_eigh(&w, &V, a) == -1);
    CHECK(strstr(rp_errmsg(), "square") != NULL);
    CHECK(w == NULL && V == NULL);
    int64_t s1 = 4;
    rp_tensor *v = rp_zeros(RP_F32, 1, &s1), *Q, *R;
    CHECK(rp_linalg_qr(&Q, &R, v) == -1);
    CHECK(strstr(rp_errmsg(), "2-d") != NULL);
    int64_t sq[2] = {2, 2};
    rp_tensor *nanm = rp_zeros(RP_F32, 2, sq);
    RP_F32P(nanm)[1] = NAN;
    CHECK(rp_linalg_eigh(&w, &V, nanm) == -1);
    CHECK(strstr(rp_errmsg(), "non-finite") != NULL);
    rp_tensor_release(a); rp_tensor_release(v); rp_tensor_release(nanm);
}

static void test_argsort(void)
{
    float v[6] = {1, 5, 3, 5, -1, 3};
    int perm[6];
    rp_argsort_desc_f32(perm, v, 6);
    int expect[6] = {1, 3, 2, 5, 0, 4}; /* ties keep index order */
    for (int i = 0; i < 6; i++) CHECK_EQ_INT(expect[i], perm[i]);
}

int main(void)
{
    test_eigh(1);
    test_eigh(5);
    test_eigh(64);
    test_qr(6, 6);
    test_qr(9, 4);
    test_qr(4, 9);
    test_qr(1, 1);
    test_matrix_power();
    test_errors();
    test_argsort();
    return check_report("test_linalg");
}
