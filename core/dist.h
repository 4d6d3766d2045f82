/* dist.h: processes of one data-parallel job (MPI, when built with it).
 *
 * Built with REPRO_MPI (CMake found MPI_C): the calls below use MPI_COMM_WORLD.
 * Without it, or outside mpirun, the job is one process: rank 0 of size 1,
 * collectives copy or do nothing. Every reduction here has a fixed order: the
 * all-gather-fold sums the rows of every rank in rank order, left to right, so
 * every rank gets the same bits, and one process folding the same rows gets
 * them too (docs/dist.md). */
#ifndef RP_DIST_H
#define RP_DIST_H

#include <stddef.h>
#include <stdint.h>

/* 1 if this build can run on several processes (built with MPI). */
int rp_dist_available(void);
/* 1 if the environment says a launcher (mpirun/PMI) started this process. */
int rp_dist_launched(void);
/* Initialise MPI once (MPI_THREAD_FUNNELED) if launched; 0 on success, -1
 * (with rp_errmsg) when launched by mpirun but built without MPI. Idempotent. */
int rp_dist_init(void);
/* 1 once rp_dist_init brought up MPI. */
int rp_dist_active(void);
/* MPI_Finalize if initialised and not finalised; safe to call twice. */
void rp_dist_finalize(void);
/* End every process of the job with `code` (MPI_Abort); returns only without MPI. */
void rp_dist_abort(int code);
/* This process's 0-based rank and the number of processes (0 and 1 without MPI). */
int rp_dist_rank(void);
int rp_dist_size(void);
/* Wait for every rank. 0 or -1. */
int rp_dist_barrier(void);
/* Broadcast nbytes of buf from rank root to all (in place). 0 or -1. */
int rp_dist_bcast(void *buf, size_t nbytes, int root);
/* out (size * n doubles) = every rank's in (n doubles), in rank order. 0 or -1. */
int rp_dist_allgather_f64(double *out, const double *in, int n);
/* Max over ranks of an int (for agreeing on a stop). 0 or -1. */
int rp_dist_allreduce_max_int(int *out, int in);
/* out[i] = (((r_0[i] + r_1[i]) + r_2[i]) + ...) / divisor over the rows r_j of
 * every rank's local (k, P) block in rank order (rank 0's rows 0..k-1 first),
 * j = 0..size*k-1; divisor 1 skips the division. Done bucket by bucket
 * (`bucket` elements of P per all-gather, one MPI call per bucket). With one
 * process it folds local's k rows. out: P floats; local: k * P floats. 0 or -1. */
int rp_dist_allgather_fold(float *out, const float *local, int64_t k, int64_t P, int64_t bucket,
                           float divisor);
/* The same bits as rp_dist_allgather_fold with the traffic of an all-reduce
 * (a reduce-scatter, then an all-gather): each bucket of P is cut into one
 * contiguous chunk per rank (sizes differ by at most one); an all-to-all
 * brings every rank's k rows of chunk s to rank s, which folds the size*k
 * rows in rank order and divides; an all-gather gives every rank the folded
 * chunks. One MPI_Alltoallv and one MPI_Allgatherv per bucket (two
 * MPI_Sendrecv when there are two ranks and k = 1). The summation
 * is the same element by element, so the bits do not depend on the process
 * count or the bucket. out: P floats; local: k * P floats. 0 or -1. */
int rp_dist_reduce_fold(float *out, const float *local, int64_t k, int64_t P, int64_t bucket, float divisor);
/* buf (n floats) = the sum over ranks, in place, by MPI_Allreduce: MPI picks
 * the order, so the bits may depend on the process count. For benchmarks
 * (the peer of rp_dist_allgather_fold), never for training. 0 or -1. */
int rp_dist_allreduce_sum_f32(float *buf, int64_t n);

#endif
