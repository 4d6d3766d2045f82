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

static int g_active, g_finalized, g_rank, g_size = 1;

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

/* out[i] = fold over rows j of src (row stride `stride`), left to right, then
 * / divisor. The one summation every path uses. */
static void fold_rows(float *out, const float *src, int64_t rows, int64_t stride, int64_t len, float divisor)
{
    for (int64_t i = 0; i < len; i++) out[i] = src[i];
    for (int64_t j = 1; j < rows; j++) {
        const float *r = src + j * stride;
        for (int64_t i = 0; i < len; i++) out[i] = out[i] + r[i];
    }
    if (divisor != 1.0f)
        for (int64_t i = 0; i < len; i++) out[i] = out[i] / divisor;
}

int rp_dist_allgather_fold(float *out, const float *local, int64_t k, int64_t P, int64_t bucket,
                           float divisor)
{
    if (k < 1 || P < 0 || bucket < 1)
        return rp_seterr("dist: all-gather-fold needs k >= 1, P >= 0, bucket >= 1 (got %lld, %lld, %lld)",
                         (long long)k, (long long)P, (long long)bucket);
    if (P == 0) return 0;
    int size = rp_dist_size();
    if (size == 1) {
        fold_rows(out, local, k, P, P, divisor);
        return 0;
    }
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
        fold_rows(out + b0, recv, (int64_t)size * k, len, len, divisor);
    }
    free(send);
    free(recv);
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
