/* linalg.c: LAPACKE wrappers. LAPACK is called in row-major layout so
 * the matrices are the core's own buffers with no transposition copies;
 * products go through rp_gemm, which splits them over the kit's threads. */
#include "linalg.h"
#include "ops_nn.h"

#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* OpenBLAS's LAPACK (ssyevd, sgeqrf, sorgqr) splits its blocked work by the
 * BLAS thread count, so results change with it. House rule 9 (same seed, same
 * numbers, any thread count) wins: BLAS always runs on one thread
 * (rp_set_threads, and rp_blas_one_thread before each call for programs
 * that never called it). The matrices preconditioners use are small enough
 * for one thread. */

int rp_eigh_f32(float *w, float *V, const float *A, int n)
{
    if (n < 0) return rp_seterr("eigh: negative size %d", n);
    if (n == 0) return 0;
    if (V != A) memcpy(V, A, sizeof(float) * (size_t)n * (size_t)n);
    for (int64_t i = 0; i < (int64_t)n * n; i++)
        if (!isfinite(V[i])) return rp_seterr("eigh: matrix has a non-finite entry (%g)", (double)V[i]);
    rp_blas_one_thread();
    lapack_int info = LAPACKE_ssyevd(LAPACK_ROW_MAJOR, 'V', 'U', n, V, n, w);
    if (info < 0) return rp_seterr("eigh: ssyevd argument %d invalid", (int)-info);
    if (info > 0) return rp_seterr("eigh: ssyevd failed to converge (info %d) on a %dx%d matrix", (int)info, n, n);
    return 0;
}

int rp_qr_f32(float *Q, float *R, const float *A, int m, int n)
{
    if (m < 0 || n < 0) return rp_seterr("qr: negative size %dx%d", m, n);
    int k = m < n ? m : n;
    if (k == 0) return 0;
    for (int64_t i = 0; i < (int64_t)m * n; i++)
        if (!isfinite(A[i])) return rp_seterr("qr: matrix has a non-finite entry (%g)", (double)A[i]);
    float *a = malloc(sizeof(float) * (size_t)m * (size_t)n);
    float *tau = malloc(sizeof(float) * (size_t)k);
    if (!a || !tau) { free(a); free(tau); return rp_seterr("qr: out of memory (%dx%d)", m, n); }
    memcpy(a, A, sizeof(float) * (size_t)m * (size_t)n);
    rp_blas_one_thread();
    lapack_int info = LAPACKE_sgeqrf(LAPACK_ROW_MAJOR, m, n, a, n, tau);
    if (info != 0) {
        free(a);
        free(tau);
        return rp_seterr("qr: sgeqrf failed (info %d)", (int)info);
    }
    if (R) {
        for (int i = 0; i < k; i++)
            for (int j = 0; j < n; j++) R[(size_t)i * n + j] = j >= i ? a[(size_t)i * n + j] : 0.0f;
    }
    /* sorgqr wants the k reflector columns as an (m,k) matrix. */
    for (int i = 0; i < m; i++)
        memmove(Q + (size_t)i * k, a + (size_t)i * n, sizeof(float) * (size_t)k);
    info = LAPACKE_sorgqr(LAPACK_ROW_MAJOR, m, k, k, Q, k, tau);
    free(a);
    free(tau);
    if (info != 0) return rp_seterr("qr: sorgqr failed (info %d)", (int)info);
    return 0;
}

int rp_sym_matrix_power_f32(float *out, const float *A, int n, double p, double eps)
{
    if (n == 0) return 0;
    size_t nn = (size_t)n * (size_t)n;
    float *V = malloc(sizeof(float) * nn);
    float *VS = malloc(sizeof(float) * nn);
    float *w = malloc(sizeof(float) * (size_t)n);
    if (!V || !VS || !w) { free(V); free(VS); free(w); return rp_seterr("matrix_power: out of memory (n=%d)", n); }
    int rc = rp_eigh_f32(w, V, A, n);
    bool integer = p == floor(p);
    for (int j = 0; rc == 0 && j < n; j++) {
        double x = (integer ? (double)w[j] : fmax((double)w[j], 0.0)) + eps;
        if (p < 0 && (x == 0 || (!integer && x < 0)))
            rc = rp_seterr("matrix_power: eigenvalue %g + eps %g is not positive, cannot raise to %g",
                           (double)w[j], eps, p);
        double f = pow(x, p);
        for (int i = 0; i < n; i++) VS[(size_t)i * n + j] = V[(size_t)i * n + j] * (float)f;
    }
    if (rc == 0)
        rp_gemm(false, true, n, n, n, 1.0f, VS, n, V, n, 0.0f, out, n);
    free(V);
    free(VS);
    free(w);
    return rc;
}

void rp_permute_columns_f32(float *Y, const float *X, int m, int n, const int *perm)
{
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) Y[(size_t)i * n + j] = X[(size_t)i * n + perm[j]];
}

/* Insertion-free merge sort on indices keeps equal eigenvalues in index order
 * (deterministic, O(n log n) for the 1024-wide bases). */
static void msort(int *idx, int *tmp, const float *v, int lo, int hi)
{
    if (hi - lo < 2) return;
    int mid = lo + (hi - lo) / 2;
    msort(idx, tmp, v, lo, mid);
    msort(idx, tmp, v, mid, hi);
    int i = lo, j = mid, k = lo;
    while (i < mid && j < hi) tmp[k++] = v[idx[j]] > v[idx[i]] ? idx[j++] : idx[i++];
    while (i < mid) tmp[k++] = idx[i++];
    while (j < hi) tmp[k++] = idx[j++];
    memcpy(idx + lo, tmp + lo, sizeof(int) * (size_t)(hi - lo));
}

void rp_argsort_desc_f32(int *perm, const float *v, int n)
{
    for (int i = 0; i < n; i++) perm[i] = i;
    int *tmp = malloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
    if (!tmp) { /* fall back to a stable insertion sort: no allocation */
        for (int i = 1; i < n; i++) {
            int x = perm[i], j = i;
            while (j > 0 && v[perm[j - 1]] < v[x]) { perm[j] = perm[j - 1]; j--; }
            perm[j] = x;
        }
        return;
    }
    msort(perm, tmp, v, 0, n);
    free(tmp);
}

double rp_orthonormality_defect_f32(const float *Q, int m, int k)
{
    double worst = 0;
    for (int a = 0; a < k; a++)
        for (int b = a; b < k; b++) {
            double s = 0;
            for (int i = 0; i < m; i++) s += (double)Q[(size_t)i * k + a] * Q[(size_t)i * k + b];
            double d = fabs(s - (a == b ? 1.0 : 0.0));
            if (d > worst) worst = d;
        }
    return worst;
}

/* ---- tensor wrappers ---- */

static rp_tensor *matrix_input(const rp_tensor *A, const char *fn, bool square)
{
    char s[RP_SHAPE_STRLEN];
    if (A->dtype != RP_F32)
        return rp_seterr("%s: expected an f32 matrix, got dtype %s", fn, rp_dtype_info[A->dtype].name), NULL;
    if (A->ndim != 2)
        return rp_seterr("%s: expected a 2-d matrix, got shape %s", fn, rp_shape_str(A, s, sizeof s)), NULL;
    if (square && A->shape[0] != A->shape[1])
        return rp_seterr("%s: expected a square matrix, got shape %s", fn, rp_shape_str(A, s, sizeof s)), NULL;
    if (A->shape[0] > INT32_MAX / 2 || A->shape[1] > INT32_MAX / 2)
        return rp_seterr("%s: matrix too large (%s)", fn, rp_shape_str(A, s, sizeof s)), NULL;
    rp_tensor *c = rp_copy_contiguous(A);
    return c;
}

int rp_linalg_eigh(rp_tensor **w, rp_tensor **V, const rp_tensor *A)
{
    *w = *V = NULL;
    rp_tensor *a = matrix_input(A, "eigh", true);
    if (!a) return -1;
    int64_t n = a->shape[0];
    rp_tensor *tw = rp_empty(RP_F32, 1, &n);
    if (!tw || rp_eigh_f32(RP_F32P(tw), RP_F32P(a), RP_F32P(a), (int)n) != 0) {
        rp_tensor_release(tw);
        rp_tensor_release(a);
        return -1;
    }
    *w = tw;
    *V = a; /* a is a private copy: eigenvectors overwrite it */
    return 0;
}

int rp_linalg_qr(rp_tensor **Q, rp_tensor **R, const rp_tensor *A)
{
    *Q = *R = NULL;
    rp_tensor *a = matrix_input(A, "qr", false);
    if (!a) return -1;
    int64_t m = a->shape[0], n = a->shape[1], k = m < n ? m : n;
    int64_t qs[2] = {m, k}, rs[2] = {k, n};
    rp_tensor *tq = rp_empty(RP_F32, 2, qs), *tr = rp_empty(RP_F32, 2, rs);
    int rc = (tq && tr) ? rp_qr_f32(RP_F32P(tq), RP_F32P(tr), RP_F32P(a), (int)m, (int)n) : -1;
    rp_tensor_release(a);
    if (rc != 0) { rp_tensor_release(tq); rp_tensor_release(tr); return -1; }
    *Q = tq;
    *R = tr;
    return 0;
}

rp_tensor *rp_linalg_matrix_power(const rp_tensor *A, double p, double eps)
{
    if (!isfinite(p) || !isfinite(eps))
        return rp_seterr("matrix_power: exponent %g and eps %g must be finite", p, eps), NULL;
    rp_tensor *a = matrix_input(A, "matrix_power", true);
    if (!a) return NULL;
    rp_tensor *out = rp_empty(RP_F32, 2, a->shape);
    if (!out || rp_sym_matrix_power_f32(RP_F32P(out), RP_F32P(a), (int)a->shape[0], p, eps) != 0) {
        rp_tensor_release(out);
        out = NULL;
    }
    rp_tensor_release(a);
    return out;
}
