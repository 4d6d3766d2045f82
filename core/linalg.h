/* linalg.h: dense linear algebra on row-major f32 matrices, on LAPACKE
 * (ssyevd, sgeqrf + sorgqr) and cblas. Raw-pointer kernels take outputs first;
 * the tensor wrappers check shapes and return new tensors.
 *
 * All matrices are row-major, contiguous, leading dimension = number of columns.
 */
#ifndef RP_LINALG_H
#define RP_LINALG_H

#include "tensor.h"

/* Symmetric eigendecomposition of A (n,n); only the upper triangle is read.
 * w (n): eigenvalues ascending (LAPACK order); V (n,n): eigenvector j in
 * column j (V[i*n+j]). V may alias A. Returns 0 or -1 with error. */
int rp_eigh_f32(float *w, float *V, const float *A, int n);
/* Reduced QR of A (m,n), k = min(m,n): Q (m,k) with orthonormal columns,
 * R (k,n) upper triangular (R may be NULL). LAPACK's sign convention. */
int rp_qr_f32(float *Q, float *R, const float *A, int m, int n);
/* Symmetric matrix power: out (n,n) = V diag(f(w)) Vᵀ with f(w) = (w + eps)^p,
 * where w is clamped at 0 first unless p is an integer. -1 if some
 * (w + eps) is 0 (or negative for a fractional p) and p < 0. */
int rp_sym_matrix_power_f32(float *out, const float *A, int n, double p, double eps);
/* Copy the permutation `perm` (n) of the columns of X (m,n) into Y: Y[:,j] = X[:,perm[j]]. */
void rp_permute_columns_f32(float *Y, const float *X, int m, int n, const int *perm);
/* perm (n) := indices that sort v descending (stable: equal values keep index order). */
void rp_argsort_desc_f32(int *perm, const float *v, int n);
/* max |QᵀQ - I| for Q (m,k): the orthonormality defect (tests, diagnostics). */
double rp_orthonormality_defect_f32(const float *Q, int m, int k);

/* ---- tensor wrappers (2-d contiguous-or-not f32 inputs; new outputs) ---- */

/* eigh of a square symmetric tensor: *w (n) ascending, *V (n,n). 0 or -1. */
int rp_linalg_eigh(rp_tensor **w, rp_tensor **V, const rp_tensor *A);
/* Reduced QR of A (m,n): *Q (m,k), *R (k,n). 0 or -1. */
int rp_linalg_qr(rp_tensor **Q, rp_tensor **R, const rp_tensor *A);
/* Symmetric matrix power A^p with eigenvalue shift eps; new (n,n) tensor or NULL. */
rp_tensor *rp_linalg_matrix_power(const rp_tensor *A, double p, double eps);

#endif
