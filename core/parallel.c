/* parallel.c: the kernels' thread count and the BLAS one-thread policy. */
#include "parallel.h"
#include "blas_policy.h"

#include <omp.h>

extern int openblas_get_num_threads(void);
extern void openblas_set_num_threads(int);
static int n_threads = 0;

/* n OpenMP threads for the kernels; OpenBLAS always on one (blas_policy.h). */
void rp_set_threads(int n)
{
    if (n < 1) n = 1;
    n_threads = n;
    omp_set_num_threads(n);
    openblas_set_num_threads(1);
}

void rp_blas_one_thread(void)
{
    if (openblas_get_num_threads() != 1) openblas_set_num_threads(1);
}

int rp_get_threads(void) { return n_threads > 0 ? n_threads : omp_get_max_threads(); }
