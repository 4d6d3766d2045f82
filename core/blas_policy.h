/* blas_policy.h: BLAS and LAPACK always run on one thread. OpenBLAS's threaded
 * sgemm and LAPACK round differently at different thread counts, so the kit
 * splits products over its own threads instead (ops_matmul.c), in pieces that
 * do not depend on the count. rp_set_threads (parallel.h) applies the policy. */
#ifndef RP_BLAS_POLICY_H
#define RP_BLAS_POLICY_H

/* Put OpenBLAS on one thread if it is not (its default is every core): every
 * BLAS and LAPACK caller runs this first, for programs that never called
 * rp_set_threads. */
void rp_blas_one_thread(void);

#endif
