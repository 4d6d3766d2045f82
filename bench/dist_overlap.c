/* bench/dist_overlap.c: can a gradient exchange overlap with computation on
 * this machine? Built and run by bench/dist.sh under mpirun -np 2 (mpicc).
 * For each size it times, in interleaved rounds:
 *   comp: a compute loop standing in for a backward pass (~T ms of flops);
 *   comm: the exchange pattern of repro.dist (MPI_Alltoallv of each rank's
 *         rows of the others' chunks, then MPI_Allgatherv), blocking;
 *   seq:  comp then comm;
 *   ovl:  MPI_Ialltoallv posted, comp run with an MPI_Test after every slice
 *         (what a backward pass with per-bucket hooks could do), wait, then
 *         the MPI_Iallgatherv likewise during a second half of comp.
 * Prints per size the medians and the share of the smaller of comp and comm
 * that overlapping hid: (seq - ovl) / min(comp, comm), 1 = fully hidden,
 * 0 = no gain, below 0 = overlap costs. */
#define _POSIX_C_SOURCE 200809L
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static volatile float sink;
static float work[4096];   /* filled at run time, so the loop cannot be folded away */

/* slices * 2^16 multiply-adds over a cache-resident array; MPI_Test between slices if req */
static void compute(int slices, MPI_Request *req)
{
    const float *a = work;
    float s = 0.0f;
    for (int i = 0; i < slices; i++) {
        for (int r = 0; r < 16; r++)
            for (int j = 0; j < 4096; j++) s = s * 0.999f + a[j];
        if (req && *req != MPI_REQUEST_NULL) {
            int done;
            MPI_Test(req, &done, MPI_STATUS_IGNORE);
        }
    }
    sink = s;
}

static int cmp(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp);
    return v[n / 2];
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int rounds = argc > 1 ? atoi(argv[1]) : 9;
    for (int j = 0; j < 4096; j++) work[j] = (float)(j % 7) * 1e-3f + (float)rank;
    if (rounds < 1 || rounds > 1000) rounds = 9;
    /* compute slices: calibrate on rank 0 to ~40 ms, shared with all */
    int slices = 1;
    if (rank == 0) {
        double t0 = now();
        compute(64, NULL);
        double per = (now() - t0) / 64;
        slices = (int)(0.040 / (per > 1e-7 ? per : 1e-7));
        if (slices < 2) slices = 2;
    }
    MPI_Bcast(&slices, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (rank == 0) printf("floats\tcomp_ms\tcomm_ms\tseq_ms\toverlap_ms\thidden_share\trounds\n");
    const int P_list[] = {1 << 17, 1 << 20, 1 << 22};
    for (int pi = 0; pi < 3; pi++) {
        int P = P_list[pi], chunk = P / size;
        float *local = malloc((size_t)P * sizeof *local), *recv = malloc((size_t)P * sizeof *recv),
              *out = malloc((size_t)P * sizeof *out);
        int *sc = malloc(6 * sizeof(int) * (size_t)size);
        int *sd = sc + size, *rc = sc + 2 * size, *rd = sc + 3 * size, *gc = sc + 4 * size, *gd = sc + 5 * size;
        for (int i = 0; i < P; i++) local[i] = (float)(i % 97);
        for (int s = 0; s < size; s++) {
            sc[s] = s == rank ? 0 : chunk; sd[s] = s * chunk;
            rc[s] = s == rank ? 0 : chunk; rd[s] = s * chunk;
            gc[s] = chunk; gd[s] = s * chunk;
        }
        double *tc = malloc(4 * sizeof(double) * (size_t)rounds), *tm = tc + rounds, *ts = tc + 2 * rounds,
               *to = tc + 3 * rounds;
        for (int r = -1; r < rounds; r++) {   /* round -1: warm-up */
            double t0;
            MPI_Barrier(MPI_COMM_WORLD); t0 = now();
            compute(slices, NULL);
            MPI_Barrier(MPI_COMM_WORLD); double c = now() - t0;
            MPI_Barrier(MPI_COMM_WORLD); t0 = now();
            MPI_Alltoallv(local, sc, sd, MPI_FLOAT, recv, rc, rd, MPI_FLOAT, MPI_COMM_WORLD);
            memcpy(out + rank * chunk, recv + (rank ? 0 : chunk), (size_t)chunk * sizeof *out);
            MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, out, gc, gd, MPI_FLOAT, MPI_COMM_WORLD);
            MPI_Barrier(MPI_COMM_WORLD); double m = now() - t0;
            MPI_Barrier(MPI_COMM_WORLD); t0 = now();
            compute(slices, NULL);
            MPI_Alltoallv(local, sc, sd, MPI_FLOAT, recv, rc, rd, MPI_FLOAT, MPI_COMM_WORLD);
            memcpy(out + rank * chunk, recv + (rank ? 0 : chunk), (size_t)chunk * sizeof *out);
            MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, out, gc, gd, MPI_FLOAT, MPI_COMM_WORLD);
            MPI_Barrier(MPI_COMM_WORLD); double s = now() - t0;
            MPI_Barrier(MPI_COMM_WORLD); t0 = now();
            MPI_Request req;
            MPI_Ialltoallv(local, sc, sd, MPI_FLOAT, recv, rc, rd, MPI_FLOAT, MPI_COMM_WORLD, &req);
            compute(slices / 2, &req);
            MPI_Wait(&req, MPI_STATUS_IGNORE);
            memcpy(out + rank * chunk, recv + (rank ? 0 : chunk), (size_t)chunk * sizeof *out);
            MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, out, gc, gd, MPI_FLOAT, MPI_COMM_WORLD, &req);
            compute(slices - slices / 2, &req);
            MPI_Wait(&req, MPI_STATUS_IGNORE);
            MPI_Barrier(MPI_COMM_WORLD); double o = now() - t0;
            if (r >= 0) { tc[r] = c; tm[r] = m; ts[r] = s; to[r] = o; }
        }
        double mc = median(tc, rounds), mm = median(tm, rounds), ms = median(ts, rounds), mo = median(to, rounds);
        if (rank == 0)
            printf("%d\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%d\n", P, 1e3 * mc, 1e3 * mm, 1e3 * ms, 1e3 * mo,
                   (ms - mo) / (mc < mm ? mc : mm), rounds);
        free(local); free(recv); free(out); free(sc); free(tc);
    }
    MPI_Finalize();
    return 0;
}
