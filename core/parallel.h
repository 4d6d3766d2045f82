/* parallel.h: how the core's kernels use threads. Every result is the same at
 * any thread count: kernels split work into pieces whose values do not depend
 * on the split (elementwise loops, exact max and integer reductions, float
 * sums in fixed blocks), so a thread count or a threshold below changes the
 * time, never a number. */
#ifndef RP_PARALLEL_H
#define RP_PARALLEL_H

/* Below this many elements (of an elementwise or row-wise pass) threads cost
 * more than they give: the one threshold of the OpenMP regions of the core. */
#define RP_PAR_MIN (1 << 15)

/* Number of threads of the core kernels (OpenMP). */
void rp_set_threads(int n);
int rp_get_threads(void);

/* Put before a compute-bound kernel loop: GCC also compiles it for AVX2 and
 * AVX-512 and picks one at load time (the default build targets baseline
 * x86-64). Only for loops of IEEE +, -, *, / and integer operations:
 * contraction is off project-wide, so every version gives the same bits. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__AVX512F__)
#define RP_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define RP_VECTOR_CLONES
#endif

#endif
