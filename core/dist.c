/* dist.c: processes of one data-parallel job (see dist.h). MPI calls only
 * under REPRO_MPI; the rest of the core never sees MPI. */
#define _POSIX_C_SOURCE 200809L
#include "dist.h"
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tensor.h"
#ifdef REPRO_MPI
#include <mpi.h>
#endif

static int g_active, g_rank, g_size = 1;
#ifdef REPRO_MPI
static int g_finalized;
/* rp_dist_reduce_fold's receive and pack space, kept between calls: a fresh
 * mapping per call costs a page fault per 4 KiB, a few ms per 16 MB. Only
 * the thread that calls MPI touches it (funneled). */
static float *g_scratch;
static size_t g_scratch_n;
#endif

int rp_dist_available(void)
{
#ifdef REPRO_MPI
    return 1;
#else
    return 0;
#endif
}

int rp_dist_launched(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "PMI_RANK", NULL};
    for (int i = 0; vars[i]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) return 1;
    }
    return 0;
}

int rp_dist_init(void)
{
    if (g_active || !rp_dist_launched()) return 0;
#ifdef REPRO_MPI
    int inited = 0, provided = 0;
    MPI_Initialized(&inited);
    if (!inited && MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        return rp_seterr("dist: MPI_Init_thread failed");
    /* Errors come back as codes: the caller turns them into an error message
     * and the executable ends the job with MPI_Abort. */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    g_active = 1;
    return 0;
#else
    return rp_seterr("dist: this process was started by mpirun, but repro was built without MPI: "
                     "install the Debian packages libopenmpi-dev and openmpi-bin and rebuild");
#endif
}

int rp_dist_active(void) { return g_active; }

void rp_dist_finalize(void)
{
#ifdef REPRO_MPI
    if (g_active && !g_finalized) {
        g_finalized = 1;
        MPI_Finalize();
    }
    free(g_scratch);
    g_scratch = NULL;
    g_scratch_n = 0;
#endif
}

void rp_dist_abort(int code)
{
#ifdef REPRO_MPI
    if (g_active && !g_finalized) MPI_Abort(MPI_COMM_WORLD, code);
#else
    (void)code;
#endif
}

int rp_dist_rank(void) { return g_active ? g_rank : 0; }
int rp_dist_size(void) { return g_active ? g_size : 1; }

#ifdef REPRO_MPI
static int mpi_fail(const char *what, int rc)
{
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS) snprintf(msg, sizeof msg, "code %d", rc);
    return rp_seterr("dist: %s failed on rank %d: %s", what, g_rank, msg);
}
#define USABLE() (g_active && !g_finalized)
#endif

int rp_dist_barrier(void)
{
#ifdef REPRO_MPI
    if (!USABLE()) return 0;
    int rc = MPI_Barrier(MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? 0 : mpi_fail("MPI_Barrier", rc);
#else
    return 0;
#endif
}

int rp_dist_bcast(void *buf, size_t nbytes, int root)
{
    if (root < 0 || root >= rp_dist_size()) return rp_seterr("dist: broadcast root %d is not a rank (size %d)", root, rp_dist_size());
#ifdef REPRO_MPI
    if (!USABLE()) return 0;
    char *p = buf;
    while (nbytes > 0) {   /* counts are ints: chunks of at most 1 GiB */
        size_t n = nbytes < ((size_t)1 << 30) ? nbytes : ((size_t)1 << 30);
        int rc = MPI_Bcast(p, (int)n, MPI_BYTE, root, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return mpi_fail("MPI_Bcast", rc);
        p += n;
        nbytes -= n;
    }
    return 0;
#else
    (void)buf; (void)nbytes;
    return 0;
#endif
}

int rp_dist_allgather_f64(double *out, const double *in, int n)
{
    if (n < 0) return rp_seterr("dist: allgather of %d numbers", n);
#ifdef REPRO_MPI
    if (USABLE()) {
        int rc = MPI_Allgather(in, n, MPI_DOUBLE, out, n, MPI_DOUBLE, MPI_COMM_WORLD);
        return rc == MPI_SUCCESS ? 0 : mpi_fail("MPI_Allgather", rc);
    }
#endif
    if (n > 0) memmove(out, in, (size_t)n * sizeof *in);
    return 0;
}

int rp_dist_allreduce_max_int(int *out, int in)
{
#ifdef REPRO_MPI
    if (USABLE()) {
        int rc = MPI_Allreduce(&in, out, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
        return rc == MPI_SUCCESS ? 0 : mpi_fail("MPI_Allreduce", rc);
    }
#endif
    *out = in;
    return 0;
}

/* out[i] = ((row_0[i] + row_1[i]) + ...) / divisor: the one summation every
 * path uses, element by element, rows left to right (divisor 1 skips the
 * division). In blocks of 1024 elements so the partial sums stay in cache
 * while the rows stream past; each element's operations are the same as a
 * row-at-a-time fold, so the bits are too. */
static void fold_ptrs(float *out, const float *const *rows, int64_t nrows, int64_t len, float divisor)
{
    for (int64_t b0 = 0; b0 < len; b0 += 1024) {
        int64_t n = len - b0 < 1024 ? len - b0 : 1024;
        float *o = out + b0;
        const float *r0 = rows[0] + b0;
        for (int64_t i = 0; i < n; i++) o[i] = r0[i];
        for (int64_t j = 1; j < nrows; j++) {
            const float *r = rows[j] + b0;
            for (int64_t i = 0; i < n; i++) o[i] = o[i] + r[i];
        }
        if (divisor != 1.0f)
            for (int64_t i = 0; i < n; i++) o[i] = o[i] / divisor;
    }
}

/* fold_ptrs over rows j of src at row stride `stride`. */
static int fold_rows(float *out, const float *src, int64_t rows, int64_t stride, int64_t len, float divisor)
{
    const float **ptr = malloc((size_t)rows * sizeof *ptr);
    if (!ptr) return rp_seterr("dist: out of memory for %lld row pointers", (long long)rows);
    for (int64_t j = 0; j < rows; j++) ptr[j] = src + j * stride;
    fold_ptrs(out, ptr, rows, len, divisor);
    free(ptr);
    return 0;
}

int rp_dist_allgather_fold(float *out, const float *local, int64_t k, int64_t P, int64_t bucket,
                           float divisor)
{
    if (k < 1 || P < 0 || bucket < 1)
        return rp_seterr("dist: all-gather-fold needs k >= 1, P >= 0, bucket >= 1 (got %lld, %lld, %lld)",
                         (long long)k, (long long)P, (long long)bucket);
    if (P == 0) return 0;
    int size = rp_dist_size();
    if (size == 1) return fold_rows(out, local, k, P, P, divisor);
#ifdef REPRO_MPI
    /* one all-gather carries k * len floats per rank: keep it an int */
    int64_t cap = (INT_MAX / 2) / k;
    if (bucket > cap) bucket = cap;
    if (bucket > P) bucket = P;
    float *send = malloc((size_t)(k * bucket) * sizeof *send);
    float *recv = malloc((size_t)(k * bucket) * (size_t)size * sizeof *recv);
    if (!send || !recv) {
        free(send);
        free(recv);
        return rp_seterr("dist: out of memory for a bucket of %lld floats", (long long)bucket);
    }
    int status = 0;
    for (int64_t b0 = 0; b0 < P; b0 += bucket) {
        int64_t len = P - b0 < bucket ? P - b0 : bucket;
        for (int64_t j = 0; j < k; j++) memcpy(send + j * len, local + j * P + b0, (size_t)len * sizeof *send);
        int rc = MPI_Allgather(send, (int)(k * len), MPI_FLOAT, recv, (int)(k * len), MPI_FLOAT, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) { status = mpi_fail("MPI_Allgather", rc); break; }
        if ((status = fold_rows(out + b0, recv, (int64_t)size * k, len, len, divisor)) != 0) break;
    }
    free(send);
    free(recv);
    return status;
#else
    return rp_seterr("dist: %d processes without MPI", size);
#endif
}

#ifdef REPRO_MPI
/* Rank s's chunk of a bucket of len elements: the first len % size ranks
 * hold one element more. Offsets are within the bucket. */
static void chunk_of(int64_t len, int size, int s, int64_t *off, int64_t *cnt)
{
    int64_t base = len / size, extra = len % size;
    *cnt = base + (s < extra);
    *off = (int64_t)s * base + (s < extra ? s : extra);
}
#endif

int rp_dist_reduce_fold(float *out, const float *local, int64_t k, int64_t P, int64_t bucket, float divisor)
{
    if (k < 1 || P < 0 || bucket < 1)
        return rp_seterr("dist: reduce-fold needs k >= 1, P >= 0, bucket >= 1 (got %lld, %lld, %lld)",
                         (long long)k, (long long)P, (long long)bucket);
    if (P == 0) return 0;
    int size = rp_dist_size();
    if (size == 1) return fold_rows(out, local, k, P, P, divisor);
#ifdef REPRO_MPI
    /* MPI counts and displacements are ints: one bucket's k rows must fit */
    int64_t cap = (INT_MAX / 2) / k;
    if (bucket > cap) bucket = cap;
    if (bucket > P) bucket = P;
    int me = g_rank;
    int64_t chunk_max = bucket / size + 1, nrows = (int64_t)size * k;
    size_t need = (size_t)(nrows * chunk_max + (k > 1 ? k * bucket : 0));
    if (need > g_scratch_n) {
        free(g_scratch);
        g_scratch_n = 0;
        if (!(g_scratch = malloc(need * sizeof *g_scratch)))
            return rp_seterr("dist: out of memory for a bucket of %lld floats", (long long)bucket);
        g_scratch_n = need;
    }
    float *recv = g_scratch, *send = k > 1 ? g_scratch + nrows * chunk_max : NULL;
    int *cnts = malloc(6 * (size_t)size * sizeof *cnts);
    const float **rows = malloc((size_t)nrows * sizeof *rows);
    if (!cnts || !rows) {
        free(cnts); free(rows);
        return rp_seterr("dist: out of memory for %d ranks' counts", size);
    }
    int *scnt = cnts, *sdsp = cnts + size, *rcnt = cnts + 2 * size, *rdsp = cnts + 3 * size;
    int *gcnt = cnts + 4 * size, *gdsp = cnts + 5 * size;
    int status = 0;
    for (int64_t b0 = 0; b0 < P; b0 += bucket) {
        int64_t len = P - b0 < bucket ? P - b0 : bucket, my_off, my_cnt;
        chunk_of(len, size, me, &my_off, &my_cnt);
        const float *sendbuf = local + b0;
        if (size == 2 && k == 1) {
            /* two ranks, one row each (two machines, the common case): the
             * other rank's row of this chunk lands in out itself and the two
             * rows are summed in rank order in place (each element read
             * before it is written: the bits of the fold); two exchanges
             * with MPI_Sendrecv, no scratch. Measured faster than the
             * general path under load (docs/dist.md). */
            int other = 1 - me;
            int64_t o_off, o_cnt;
            chunk_of(len, size, other, &o_off, &o_cnt);
            float *mine = out + b0 + my_off;
            int rc = MPI_Sendrecv(local + b0 + o_off, (int)o_cnt, MPI_FLOAT, other, 71, mine, (int)my_cnt, MPI_FLOAT,
                                  other, 71, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            if (rc != MPI_SUCCESS) { status = mpi_fail("MPI_Sendrecv", rc); break; }
            const float *a0 = me == 0 ? local + b0 + my_off : mine, *a1 = me == 0 ? mine : local + b0 + my_off;
            for (int64_t i = 0; i < my_cnt; i++) {
                float x = a0[i], y = a1[i];
                mine[i] = x + y;
            }
            if (divisor != 1.0f)
                for (int64_t i = 0; i < my_cnt; i++) mine[i] = mine[i] / divisor;
            rc = MPI_Sendrecv(mine, (int)my_cnt, MPI_FLOAT, other, 72, out + b0 + o_off, (int)o_cnt, MPI_FLOAT, other, 72,
                              MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            if (rc != MPI_SUCCESS) { status = mpi_fail("MPI_Sendrecv", rc); break; }
            continue;
        }
        for (int s = 0; s < size; s++) {
            int64_t off, cnt;
            chunk_of(len, size, s, &off, &cnt);
            gcnt[s] = (int)cnt;
            gdsp[s] = (int)off;
            /* to rank s: this rank's k rows of s's chunk; from rank s: its k
             * rows of this rank's chunk. A rank's own rows are read in place. */
            scnt[s] = s == me ? 0 : (int)(k * cnt);
            sdsp[s] = (int)(k == 1 ? off : k * off);
            rcnt[s] = s == me ? 0 : (int)(k * my_cnt);
            rdsp[s] = (int)((int64_t)s * k * my_cnt);
            if (k > 1 && s != me)   /* the rows of a chunk are P apart in local: pack them */
                for (int64_t j = 0; j < k; j++)
                    memcpy(send + k * off + j * cnt, local + j * P + b0 + off, (size_t)cnt * sizeof *send);
        }
        if (k > 1) sendbuf = send;
        int rc = MPI_Alltoallv(sendbuf, scnt, sdsp, MPI_FLOAT, recv, rcnt, rdsp, MPI_FLOAT, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) { status = mpi_fail("MPI_Alltoallv", rc); break; }
        /* all size*k rows of this rank's chunk in global order: rank 0's
         * first, then rank 1's, ... (this rank's straight from local) */
        for (int s = 0; s < size; s++)
            for (int64_t j = 0; j < k; j++)
                rows[(int64_t)s * k + j] = s == me ? local + j * P + b0 + my_off : recv + rdsp[s] + j * my_cnt;
        fold_ptrs(out + b0 + my_off, rows, nrows, my_cnt, divisor);
        rc = MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, out + b0, gcnt, gdsp, MPI_FLOAT, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) { status = mpi_fail("MPI_Allgatherv", rc); break; }
    }
    free(cnts); free(rows);
    return status;
#else
    return rp_seterr("dist: %d processes without MPI", size);
#endif
}

int rp_dist_allreduce_sum_f32(float *buf, int64_t n)
{
    if (n < 0) return rp_seterr("dist: all-reduce of %lld floats", (long long)n);
#ifdef REPRO_MPI
    if (USABLE()) {
        for (int64_t off = 0; off < n; off += (int64_t)1 << 28) {
            int64_t len = n - off < ((int64_t)1 << 28) ? n - off : ((int64_t)1 << 28);
            int rc = MPI_Allreduce(MPI_IN_PLACE, buf + off, (int)len, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
            if (rc != MPI_SUCCESS) return mpi_fail("MPI_Allreduce", rc);
        }
    }
#else
    (void)buf;
#endif
    return 0;
}
