/* ops_matmul.c: matmul through cblas_sgemm, rp_gemm (a raw sgemm split the
 * same way, for code that holds plain buffers) and outer. Views whose last two
 * dims are row-major (strides (ld, 1)) or column-major (strides (1, ld)) are
 * handed to sgemm as NoTrans / Trans without a copy, so x·wᵀ with w (out, in)
 * costs the same as a contiguous product.
 *
 * Threads: OpenBLAS's threaded sgemm rounds differently at different thread
 * counts (seen in the gradients of a dim-128 model), so BLAS runs on one
 * thread (rp_set_threads) and this file splits each product over OpenMP
 * itself: into batch entries and, inside a large product, blocks of output
 * rows or columns. The tasks depend on the shapes alone, never on the thread
 * count, and every output element comes from one single-threaded sgemm over
 * the full K, so any thread count gives the same bits; see gemm_run. */
#include "ops_nn.h"
#include "autograd.h"

#include <cblas.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* How sgemm sees a (R, C) matrix with element strides (s0, s1). */
typedef struct { bool ok, trans; int ld; } mlay;

static mlay mat_layout(int64_t R, int64_t C, int64_t s0, int64_t s1)
{
    mlay l = {false, false, 0};
    int64_t ld;
    int64_t c1 = C > 1 ? C : 1, r1 = R > 1 ? R : 1;
    if (R == 0 || C == 0) { /* sgemm never reads it; any valid ld */
        l.ok = c1 <= INT_MAX;
        l.ld = (int)c1;
        return l;
    }
    if ((C <= 1 || s1 == 1) && (R <= 1 || s0 >= c1)) {
        ld = R <= 1 ? c1 : s0;
        l.trans = false;
    } else if ((R <= 1 || s0 == 1) && (C <= 1 || s1 >= r1)) {
        ld = C <= 1 ? r1 : s1;
        l.trans = true;
    } else {
        return l;
    }
    if (ld > INT_MAX) return l;
    l.ok = true;
    l.ld = (int)ld;
    return l;
}

/* An operand seen as (batch..., R, C): a 1-d a is a (1, K) row, a 1-d b a
 * (K, 1) column; copied to contiguous only if sgemm cannot read it. */
typedef struct {
    rp_tensor *t; /* owned view or copy, >= 2 dims */
    int nb;       /* batch dims */
    int64_t R, C;
    mlay lay;
} operand;

static int operand_prep(operand *o, const rp_tensor *x, bool is_a)
{
    int64_t shape[RP_MAXDIM], stride[RP_MAXDIM];
    int nd = x->ndim;
    memcpy(shape, x->shape, sizeof(int64_t) * (size_t)nd);
    memcpy(stride, x->stride, sizeof(int64_t) * (size_t)nd);
    if (nd == 1) {
        nd = 2;
        if (is_a) { shape[1] = shape[0]; stride[1] = stride[0]; shape[0] = 1; stride[0] = 0; }
        else { shape[1] = 1; stride[1] = 1; }
    }
    o->t = rp_alias(x, nd, shape, stride, x->offset);
    if (!o->t) return -1;
    o->nb = nd - 2;
    o->R = shape[nd - 2];
    o->C = shape[nd - 1];
    o->lay = mat_layout(o->R, o->C, stride[nd - 2], stride[nd - 1]);
    if (!o->lay.ok) {
        rp_tensor *c = rp_copy_contiguous(o->t);
        rp_tensor_release(o->t);
        o->t = c;
        if (!c) return -1;
        o->lay = mat_layout(o->R, o->C, c->stride[nd - 2], c->stride[nd - 1]);
        if (!o->lay.ok) return rp_seterr("matmul: a dimension exceeds the BLAS int range");
    }
    return 0;
}

/* Batch strides of o expanded to the broadcast batch shape (nbo dims). */
static void batch_strides(const operand *o, const int64_t *strides_of_t, int nbo, int64_t *out)
{
    for (int i = 0; i < nbo; i++) {
        int d = o->nb - nbo + i;
        out[i] = (d >= 0 && o->t->shape[d] != 1) ? strides_of_t[d] : 0;
    }
}

static int64_t batch_offset(int64_t i, int nbo, const int64_t *bo, const int64_t *bstr)
{
    int64_t off = 0;
    for (int d = nbo - 1; d >= 0; d--) {
        off += (i % bo[d]) * bstr[d];
        i /= bo[d];
    }
    return off;
}

/* C (M, N) = alpha op(A) op(B) + beta C, row-major. */
static void sgemm_rm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
                     const float *A, int lda, const float *B, int ldb, float beta, float *C,
                     int64_t ldc)
{
    if (M == 0 || N == 0) return;
    if (K == 0) {
        if (beta == 0.0f)
            for (int64_t i = 0; i < M; i++) memset(C + i * ldc, 0, sizeof(float) * (size_t)N);
        return;
    }
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (int)M, (int)N, (int)K, alpha, A, lda, B, ldb, beta, C, (int)ldc);
}

/* ---- products split into tasks ----
 *
 * A block of output rows (or columns) computed by its own sgemm gives the
 * same bits as that part of the whole product: OpenBLAS cuts K into blocks
 * by K alone and sums each element's K block in order in one micro-kernel
 * tile. Two things would break that, and the plan avoids both:
 * - its small-matrix kernels (M·N·K <= 10^6 on AVX-512 machines) sum K
 *   differently: in 2,100 random shapes and splits only blocks under 10^6
 *   changed bits, so no block is smaller than BLOCK_MIN_WORK;
 * - an element's tile position could change at a block edge, so interior
 *   boundaries fall on multiples of an alignment per side (rows, columns)
 *   that a probe finds once per process (rp_gemm_block_align): 64 for both
 *   on an AVX-512 machine; on an AMD Zen machine 192 rows (OpenBLAS's
 *   register tile there is 12 rows of a row-major C), and its columns
 *   cannot be cut at all, since where a column's sum order changes depends
 *   on K and on the product's width (measured). A side with no alignment
 *   that reproduces the whole product is never cut.
 * tests/c/test_matmul.c checks the first claim on every product shape the
 * models use, against one whole sgemm. */
#define BLOCK_MIN_WORK (INT64_C(1) << 22) /* M·N·K of a block: 4x the small-kernel limit */

/* Candidate alignments, smallest first: multiples of 64 that also cover the
 * register tiles of the OpenBLAS kernels measured so far. */
static const int64_t ROW_ALIGNS[] = {64, 192};
static const int64_t COL_ALIGNS[] = {64, 320};

static void fill_uniform(float *x, int64_t n, uint32_t *h)
{
    for (int64_t i = 0; i < n; i++) {
        *h = *h * 1664525u + 1013904223u;
        x[i] = (float)(*h >> 8) / 16777216.0f - 0.5f;
    }
}

/* Does cutting op(A)·op(B), W lines across and K deep, into blocks at
 * multiples of align along one side give the whole product's bits? Checked
 * on 3.5·align lines cut at align and 2·align, in all four transpose cases. */
static bool align_reproduces_at(bool cols, int64_t align, int64_t W, int64_t K)
{
    const int64_t D = align * 7 / 2;
    int64_t M = cols ? W : D, N = cols ? D : W;
    float *A = malloc(sizeof(float) * (size_t)(M * K)), *B = malloc(sizeof(float) * (size_t)(N * K));
    float *C = malloc(sizeof(float) * (size_t)(M * N)), *P = malloc(sizeof(float) * (size_t)(M * N));
    bool same = A && B && C && P;
    if (same) {
        uint32_t h = 12345u;
        fill_uniform(A, M * K, &h);
        fill_uniform(B, N * K, &h);
    }
    for (int t = 0; same && t < 4; t++) {
        bool ta = t & 1, tb = t & 2;
        int lda = (int)(ta ? M : K), ldb = (int)(tb ? K : N);
        sgemm_rm(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, N);
        const int64_t edges[] = {0, align, 2 * align, D};
        for (int b = 0; b < 3; b++) {
            int64_t lo = edges[b], len = edges[b + 1] - lo;
            if (cols)
                sgemm_rm(ta, tb, M, len, K, 1.0f, A, lda, B + lo * (tb ? ldb : 1), ldb, 0.0f,
                         P + lo, N);
            else
                sgemm_rm(ta, tb, len, N, K, 1.0f, A + lo * (ta ? 1 : lda), lda, B, ldb, 0.0f,
                         P + lo * N, N);
        }
        same = memcmp(C, P, sizeof(float) * (size_t)(M * N)) == 0;
    }
    free(A);
    free(B);
    free(C);
    free(P);
    return same;
}

/* OpenBLAS sizes its cache blocks from K and the product's extent, so one
 * shape proves little: the alignment must hold across widths and depths
 * (blocks kept above the small-kernel limit). */
static bool align_reproduces(bool cols, int64_t align)
{
    static const int64_t shapes[][2] = {{256, 256}, {128, 64}, {200, 333}, {96, 1024}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        if (!align_reproduces_at(cols, align, shapes[i][0], shapes[i][1])) return false;
    return true;
}

static int64_t row_align, col_align; /* 0: that side is never cut */

static void find_block_align(void)
{
    rp_blas_one_thread();
    for (size_t i = 0; i < sizeof ROW_ALIGNS / sizeof ROW_ALIGNS[0] && !row_align; i++)
        if (align_reproduces(false, ROW_ALIGNS[i])) row_align = ROW_ALIGNS[i];
    for (size_t i = 0; i < sizeof COL_ALIGNS / sizeof COL_ALIGNS[0] && !col_align; i++)
        if (align_reproduces(true, COL_ALIGNS[i])) col_align = COL_ALIGNS[i];
}

static pthread_once_t align_once = PTHREAD_ONCE_INIT;

void rp_gemm_block_align(int64_t *rows, int64_t *cols)
{
    pthread_once(&align_once, find_block_align);
    *rows = row_align;
    *cols = col_align;
}

/* Powers of two, so 1, 2 and 4 threads get equal shares. Each block repacks
 * the operand all blocks share, which costs more the fewer lines (rows or
 * columns) a block has: more than 2 blocks only with LINES_FOR_4 lines each. */
#define MAX_BLOCKS 4
#define LINES_FOR_4 512
/* Below this much work in all (M·N·K summed over tasks) one thread is faster
 * than waking the others. */
#define PAR_MIN_WORK (INT64_C(1) << 21)

/* How one product's output is cut: n blocks along the rows (or columns) of
 * its D rows (or columns). */
typedef struct { bool cols; int n; int64_t D, align; } blocks;

static int64_t block_start(const blocks *b, int i)
{
    if (i >= b->n) return b->D;
    return b->D / b->n * i / b->align * b->align;
}

/* The most blocks (a power of two up to MAX_BLOCKS) whose smallest block
 * still does BLOCK_MIN_WORK (and has LINES_FOR_4 lines if there are more
 * than 2), cut along the longer side of the output where it may be cut. */
static blocks plan_blocks(int64_t M, int64_t N, int64_t K)
{
    int64_t ra, ca;
    rp_gemm_block_align(&ra, &ca);
    /* cut along the longer side, or the other where only it may be cut */
    bool cols = (M < N && ca) || !ra;
    blocks b = {cols, 1, cols ? N : M, cols ? ca : ra};
    if (b.align == 0) return b;
    double per_line = (double)(b.cols ? M : N) * (double)K;
    for (int n = MAX_BLOCKS; n > 1; n /= 2) {
        b.n = n;
        int64_t least = b.D;
        for (int i = 0; i < n; i++) {
            int64_t len = block_start(&b, i + 1) - block_start(&b, i);
            if (len < least) least = len;
        }
        if ((double)least * per_line >= (double)BLOCK_MIN_WORK && (n <= 2 || least >= LINES_FOR_4))
            return b;
    }
    b.n = 1;
    return b;
}

/* C = op(A)·op(B) (beta 0) or C += op(A)·op(B) (beta 1) for every entry of a
 * batch with shape bo; as/bs/cs are the batch strides of A, B and C. Entries
 * whose C stride is 0 along a dim of size > 1 sum into one C slice, in batch
 * order (the gradient of a broadcast operand). */
typedef struct {
    bool ta, tb;
    int64_t M, N, K;
    const float *A, *B;
    float *C;
    int lda, ldb;
    int64_t ldc;
    float alpha, beta;
    int nbo;
    int64_t bo[RP_MAXDIM], as[RP_MAXDIM], bs[RP_MAXDIM], cs[RP_MAXDIM];
} gemm_job;

static bool summed_dim(const gemm_job *j, int d) { return j->cs[d] == 0 && j->bo[d] > 1; }

/* Offsets of entry r of C slice s (slices index the kept dims, r the summed
 * ones; increasing r is increasing batch index within a slice). */
static void entry_offsets(const gemm_job *j, int64_t s, int64_t r, int64_t off[3])
{
    off[0] = off[1] = off[2] = 0;
    for (int d = j->nbo - 1; d >= 0; d--) {
        int64_t idx;
        if (summed_dim(j, d)) { idx = r % j->bo[d]; r /= j->bo[d]; }
        else { idx = s % j->bo[d]; s /= j->bo[d]; }
        off[0] += idx * j->as[d];
        off[1] += idx * j->bs[d];
        off[2] += idx * j->cs[d];
    }
}

/* One job's tasks: S slices of C times the blocks of one slice. */
typedef struct {
    const gemm_job *j;
    blocks bl;
    int64_t R, ntask;
    double task_work, work; /* M·N·K of one task (its first block), of the job */
} job_tasks;

static job_tasks job_plan(const gemm_job *j)
{
    job_tasks t = {.j = j, .bl = plan_blocks(j->M, j->N, j->K), .R = 1, .ntask = 0};
    if (j->M == 0 || j->N == 0) return t;
    int64_t S = 1;
    for (int d = 0; d < j->nbo; d++) {
        if (summed_dim(j, d)) t.R *= j->bo[d];
        else S *= j->bo[d];
    }
    t.ntask = S * t.bl.n;
    int64_t lines = block_start(&t.bl, 1) - block_start(&t.bl, 0);
    t.task_work = (double)t.R * (double)lines * (double)(t.bl.cols ? j->M : j->N) * (double)j->K;
    t.work = (double)S * (double)t.R * (double)j->M * (double)j->N * (double)j->K;
    return t;
}

/* Task t of a job: block b of C slice s, for every entry of the slice in
 * batch order. */
static void job_task(const job_tasks *jt, int64_t t)
{
    const gemm_job *j = jt->j;
    int64_t s = t / jt->bl.n;
    int b = (int)(t % jt->bl.n);
    int64_t lo = block_start(&jt->bl, b), len = block_start(&jt->bl, b + 1) - lo;
    for (int64_t r = 0; r < jt->R; r++) {
        int64_t off[3];
        entry_offsets(j, s, r, off);
        const float *A = j->A + off[0], *B = j->B + off[1];
        float *C = j->C + off[2];
        if (jt->bl.cols) /* columns lo.. of op(B) and C */
            sgemm_rm(j->ta, j->tb, j->M, len, j->K, j->alpha, A, j->lda,
                     B + lo * (j->tb ? j->ldb : 1), j->ldb, j->beta, C + lo, j->ldc);
        else /* rows lo.. of op(A) and C */
            sgemm_rm(j->ta, j->tb, len, j->N, j->K, j->alpha, A + lo * (j->ta ? 1 : j->lda),
                     j->lda, B, j->ldb, j->beta, C + lo * j->ldc, j->ldc);
    }
}

/* Runs independent jobs (disjoint outputs) as one pool of tasks, so a
 * product that cannot be cut (a weight gradient of a narrow layer: too few
 * rows to cut at the alignment, columns never cut on some machines) runs
 * beside another product's blocks instead of alone. Every task is the same
 * single-threaded sgemm it would be if the jobs ran one after another, and
 * which thread runs it changes no bit. Tasks go out biggest job first, so
 * the uncut product starts at once. */
#define GEMM_POOL_MAX 4 /* jobs per pool; rp_gemm_many runs longer lists in rounds */
static void gemm_run_jobs(const gemm_job *const *jobs, int njob)
{
    job_tasks jt[GEMM_POOL_MAX];
    int n = 0;
    int64_t ntask = 0;
    double work = 0;
    /* rp_set_threads keeps BLAS on one thread; a program that never called
     * it would otherwise run OpenBLAS's threads inside ours. */
    rp_blas_one_thread();
    for (int i = 0; i < njob; i++) {
        job_tasks t = job_plan(jobs[i]);
        if (t.ntask == 0) continue;
        int at = n++;
        while (at > 0 && jt[at - 1].task_work < t.task_work) { jt[at] = jt[at - 1]; at--; }
        jt[at] = t;
        ntask += t.ntask;
        work += t.work;
    }
    #pragma omp parallel for schedule(dynamic, 1) if (ntask > 1 && work >= (double)PAR_MIN_WORK)
    for (int64_t t = 0; t < ntask; t++) {
        int i = 0;
        int64_t k = t;
        while (k >= jt[i].ntask) k -= jt[i++].ntask;
        job_task(&jt[i], k);
    }
}

static void gemm_run(const gemm_job *j) { gemm_run_jobs(&j, 1); }

/* One unbatched product, as a job and run. */
static gemm_job one_job(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const float *A, int lda,
                        const float *B, int ldb, float beta, float *C, int64_t ldc)
{
    gemm_job j = {.ta = ta, .tb = tb, .M = M, .N = N, .K = K, .A = A, .B = B, .C = C,
                  .lda = lda, .ldb = ldb, .ldc = ldc, .alpha = 1.0f, .beta = beta, .nbo = 0};
    return j;
}

static void gemm_one(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const float *A, int lda,
                     const float *B, int ldb, float beta, float *C, int64_t ldc)
{
    gemm_job j = one_job(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc);
    gemm_run(&j);
}

/* Sizes of 0 and 1 go to BLAS as one call: OpenBLAS may hand a size-1
 * product to its gemv kernels, whose sums need not match a block's, and
 * cblas_sgemm's own edge cases (beta scaling with K = 0, argument checks)
 * stay exactly its own. Otherwise every block does alpha·(its part) +
 * beta·C as the whole call would: OpenBLAS scales C by beta and applies
 * alpha per output element, so neither depends on where a block starts
 * (test_rp_gemm in tests/c/test_matmul.c checks it). */
void rp_gemm_many(const rp_gemm_args *g, int n)
{
    gemm_job jobs[GEMM_POOL_MAX];
    const gemm_job *run[GEMM_POOL_MAX];
    int nj = 0;
    rp_blas_one_thread();
    for (int i = 0; i < n; i++) {
        const rp_gemm_args *x = &g[i];
        if (x->M <= 1 || x->N <= 1 || x->K <= 1) {
            cblas_sgemm(CblasRowMajor, x->ta ? CblasTrans : CblasNoTrans,
                        x->tb ? CblasTrans : CblasNoTrans, (int)x->M, (int)x->N, (int)x->K,
                        x->alpha, x->A, (int)x->lda, x->B, (int)x->ldb, x->beta, x->C,
                        (int)x->ldc);
            continue;
        }
        jobs[nj] = one_job(x->ta, x->tb, x->M, x->N, x->K, x->A, (int)x->lda, x->B, (int)x->ldb,
                           x->beta, x->C, x->ldc);
        jobs[nj].alpha = x->alpha;
        run[nj] = &jobs[nj];
        if (++nj == GEMM_POOL_MAX) { gemm_run_jobs(run, nj); nj = 0; }
    }
    if (nj) gemm_run_jobs(run, nj);
}

void rp_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
             int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc)
{
    rp_gemm_args g = {ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc};
    rp_gemm_many(&g, 1);
}

/* Can a's batch dims fold into its rows, i.e. is (batch*M, K) one strided
 * matrix with row stride lay.ld? Then a product with an unbatched b is one
 * sgemm, which is what linear layers need to be fast. */
static bool foldable(const operand *o)
{
    if (o->lay.trans) return false;
    int64_t expect = (int64_t)o->lay.ld * o->R;
    for (int d = o->nb - 1; d >= 0; d--) {
        if (o->t->shape[d] == 1) continue;
        if (o->t->stride[d] != expect) return false;
        expect *= o->t->shape[d];
    }
    return true;
}

typedef struct {
    int nbo;
    int64_t bo[RP_MAXDIM];
    int64_t nbatch, M, K, N;
    int64_t astr[RP_MAXDIM], bstr[RP_MAXDIM];
    bool fold; /* a folds into (nbatch*M, K) and b is unbatched */
} mm_plan;

static int mm_plan_make(mm_plan *p, const operand *A, const operand *B, const rp_tensor *a,
                        const rp_tensor *b)
{
    char sa[RP_SHAPE_STRLEN], sb[RP_SHAPE_STRLEN];
    if (A->C != B->R)
        return rp_seterr("matmul: shapes %s and %s do not match", rp_shape_str(a, sa, sizeof sa),
                         rp_shape_str(b, sb, sizeof sb));
    p->M = A->R; p->K = A->C; p->N = B->C;
    if (p->M > INT_MAX || p->N > INT_MAX || p->K > INT_MAX)
        return rp_seterr("matmul: shapes %s and %s exceed the BLAS int range",
                         rp_shape_str(a, sa, sizeof sa), rp_shape_str(b, sb, sizeof sb));
    p->nbo = A->nb > B->nb ? A->nb : B->nb;
    p->nbatch = 1;
    for (int i = 0; i < p->nbo; i++) {
        int da = A->nb - p->nbo + i, db = B->nb - p->nbo + i;
        int64_t x = da >= 0 ? A->t->shape[da] : 1, y = db >= 0 ? B->t->shape[db] : 1;
        if (x != y && x != 1 && y != 1)
            return rp_seterr("matmul: batch dimensions of shapes %s and %s cannot be broadcast",
                             rp_shape_str(a, sa, sizeof sa), rp_shape_str(b, sb, sizeof sb));
        p->bo[i] = x == 1 ? y : x;
        p->nbatch *= p->bo[i];
    }
    if (p->nbo + 2 > RP_MAXDIM)
        return rp_seterr("matmul: result would have more than %d dimensions", RP_MAXDIM);
    batch_strides(A, A->t->stride, p->nbo, p->astr);
    batch_strides(B, B->t->stride, p->nbo, p->bstr);
    bool b_unbatched = true;
    for (int i = 0; i < p->nbo; i++) if (p->bstr[i] != 0) b_unbatched = false;
    int64_t na = 1;
    for (int d = 0; d < A->nb; d++) na *= A->t->shape[d];
    p->fold = b_unbatched && na == p->nbatch && foldable(A) && p->nbatch * p->M <= INT_MAX;
    return 0;
}

/* Result shape without the dims of 1-d operands. */
static int out_shape(const mm_plan *p, const rp_tensor *a, const rp_tensor *b, int64_t *shape)
{
    int nd = 0;
    for (int i = 0; i < p->nbo; i++) shape[nd++] = p->bo[i];
    if (a->ndim > 1) shape[nd++] = p->M;
    if (b->ndim > 1) shape[nd++] = p->N;
    return nd;
}

/* Batch strides of a contiguous (bo..., R, C) tensor. */
static void contig_batch_strides(const mm_plan *p, int64_t RC, int64_t *out)
{
    int64_t st = RC;
    for (int d = p->nbo - 1; d >= 0; d--) {
        out[d] = st;
        st *= p->bo[d];
    }
}

/* A job over p's batch: the caller sets the strides. */
static gemm_job batched_job(const mm_plan *p, bool ta, bool tb, int64_t M, int64_t N, int64_t K,
                            const float *A, int lda, const float *B, int ldb, float beta,
                            float *C, int64_t ldc)
{
    gemm_job j = {.ta = ta, .tb = tb, .M = M, .N = N, .K = K, .A = A, .B = B, .C = C,
                  .lda = lda, .ldb = ldb, .ldc = ldc, .alpha = 1.0f, .beta = beta,
                  .nbo = p->nbo};
    memcpy(j.bo, p->bo, sizeof j.bo);
    return j;
}

/* out (nbatch, M, N) contiguous = A · B. */
static void mm_forward(float *out, const operand *A, const operand *B, const mm_plan *p)
{
    const float *a0 = RP_F32P(A->t), *b0 = RP_F32P(B->t);
    if (p->fold) {
        gemm_one(false, B->lay.trans, p->nbatch * p->M, p->N, p->K, a0, A->lay.ld, b0,
                 B->lay.ld, 0.0f, out, p->N);
        return;
    }
    gemm_job j = batched_job(p, A->lay.trans, B->lay.trans, p->M, p->N, p->K, a0, A->lay.ld,
                             b0, B->lay.ld, 0.0f, out, p->N);
    memcpy(j.as, p->astr, sizeof j.as);
    memcpy(j.bs, p->bstr, sizeof j.bs);
    contig_batch_strides(p, p->M * p->N, j.cs);
    gemm_run(&j);
}

static void operands_free(operand *A, operand *B)
{
    rp_tensor_release(A->t);
    rp_tensor_release(B->t);
}

/* Give a fresh contiguous tensor another shape of the same numel. */
static void reshape_fresh(rp_tensor *t, int ndim, const int64_t *shape)
{
    t->ndim = ndim;
    memcpy(t->shape, shape, sizeof(int64_t) * (size_t)ndim);
    rp_contiguous_strides(ndim, shape, t->stride);
}

static int matmul_backward(rp_node *n, const rp_tensor *g, rp_tensor *gin[RP_NODE_MAXIN])
{
    const rp_tensor *a = n->saved[0], *b = n->saved[1];
    operand A = {0}, B = {0};
    mm_plan p;
    rp_tensor *gc = NULL, *ga = NULL, *gb = NULL;
    if (operand_prep(&A, a, true) || operand_prep(&B, b, false) ||
        mm_plan_make(&p, &A, &B, a, b))
        goto fail;
    gc = rp_is_contiguous(g) ? rp_detach(g) : rp_copy_contiguous(g);
    if (!gc) goto fail;
    const float *g0 = RP_F32P(gc), *a0 = RP_F32P(A.t), *b0 = RP_F32P(B.t);
    /* Both gradients are built as jobs and run as one pool of tasks
     * (gemm_run_jobs): a weight gradient that cannot be cut shares the
     * threads with the input gradient's blocks. */
    gemm_job jobs[2];
    int nj = 0;
    bool gb_view = false; /* gb is computed as bᵀ's layout and returned as a view */
    if (n->needs_grad[0]) { /* ga (M, K) = g (M, N) · bᵀ */
        /* the folded product overwrites (beta 0); batched slices accumulate */
        ga = p.fold ? rp_empty_uninit(RP_F32, A.t->ndim, A.t->shape)
                    : rp_zeros(RP_F32, A.t->ndim, A.t->shape);
        if (!ga) goto fail;
        float *d = RP_F32P(ga);
        if (p.fold) {
            jobs[nj++] = one_job(false, !B.lay.trans, p.nbatch * p.M, p.K, p.N, g0, (int)p.N, b0,
                                 B.lay.ld, 0.0f, d, p.K);
        } else {
            /* Broadcast batches accumulate into one slice in batch order. */
            gemm_job j = batched_job(&p, false, !B.lay.trans, p.M, p.K, p.N, g0, (int)p.N, b0,
                                     B.lay.ld, 1.0f, d, p.K);
            contig_batch_strides(&p, p.M * p.N, j.as);
            memcpy(j.bs, p.bstr, sizeof j.bs);
            batch_strides(&A, ga->stride, p.nbo, j.cs);
            jobs[nj++] = j;
        }
    }
    if (n->needs_grad[1]) { /* gb (K, N) = aᵀ · g */
        gb = p.fold ? rp_empty_uninit(RP_F32, B.t->ndim, B.t->shape)
                    : rp_zeros(RP_F32, B.t->ndim, B.t->shape);
        if (!gb) goto fail;
        float *d = RP_F32P(gb);
        gb_view = p.fold && B.lay.trans && b->ndim == 2;
        if (gb_view) {
            jobs[nj++] = one_job(true, false, p.N, p.K, p.nbatch * p.M, g0, (int)p.N, a0,
                                 A.lay.ld, 0.0f, d, p.K);
        } else if (p.fold) {
            jobs[nj++] = one_job(true, false, p.K, p.N, p.nbatch * p.M, a0, A.lay.ld, g0,
                                 (int)p.N, 0.0f, d, p.N);
        } else {
            gemm_job j = batched_job(&p, !A.lay.trans, false, p.K, p.N, p.M, a0, A.lay.ld, g0,
                                     (int)p.N, 1.0f, d, p.N);
            memcpy(j.as, p.astr, sizeof j.as);
            contig_batch_strides(&p, p.M * p.N, j.bs);
            batch_strides(&B, gb->stride, p.nbo, j.cs);
            jobs[nj++] = j;
        }
    }
    const gemm_job *run[2] = {&jobs[0], &jobs[1]};
    gemm_run_jobs(run, nj);
    if (ga) reshape_fresh(ga, a->ndim, a->shape);
    if (gb && gb_view) {
        int64_t sh[2] = {p.K, p.N}, st[2] = {1, p.K};
        rp_tensor *v = rp_alias(gb, 2, sh, st, 0);
        rp_tensor_release(gb);
        gb = v;
        if (!gb) goto fail;
    } else if (gb) {
        reshape_fresh(gb, b->ndim, b->shape);
    }
    gin[0] = ga;
    gin[1] = gb;
    rp_tensor_release(gc);
    operands_free(&A, &B);
    return 0;
fail:
    rp_tensor_release(ga);
    rp_tensor_release(gb);
    rp_tensor_release(gc);
    operands_free(&A, &B);
    return -1;
}

static int check_f32(const char *op, const rp_tensor *a, const rp_tensor *b)
{
    if (a->dtype != RP_F32 || b->dtype != RP_F32)
        return rp_seterr("%s: expected f32 tensors, got %s and %s", op,
                         rp_dtype_info[a->dtype].name, rp_dtype_info[b->dtype].name);
    if (a->ndim == 0 || b->ndim == 0)
        return rp_seterr("%s: expected tensors with at least 1 dimension, got %d-d and %d-d",
                         op, a->ndim, b->ndim);
    return 0;
}

/* Checks a and b, prepares the operands and the plan, and allocates the
 * output (zeroed or not); NULL + error on failure (A and B still to free). */
static rp_tensor *matmul_prep(const rp_tensor *a, const rp_tensor *b, operand *A, operand *B,
                              mm_plan *p, bool zeroed)
{
    if (check_f32("matmul", a, b) || operand_prep(A, a, true) || operand_prep(B, b, false) ||
        mm_plan_make(p, A, B, a, b))
        return NULL;
    int64_t shape[RP_MAXDIM];
    int nd = out_shape(p, a, b, shape);
    return zeroed ? rp_empty(RP_F32, nd, shape) : rp_empty_uninit(RP_F32, nd, shape);
}

rp_tensor *rp_matmul(const rp_tensor *a, const rp_tensor *b)
{
    operand A = {0}, B = {0};
    mm_plan p;
    rp_tensor *out = matmul_prep(a, b, &A, &B, &p, false);
    if (!out) goto done;
    mm_forward(RP_F32P(out), &A, &B, &p);
    const rp_tensor *ins[2] = {a, b};
    if (rp_needs_grad(2, ins)) {
        rp_tensor *in2[2] = {(rp_tensor *)a, (rp_tensor *)b};
        rp_node *node = rp_node_attach(out, "matmul", matmul_backward, 2, in2);
        if (!node || rp_node_save(node, a) || rp_node_save(node, b)) {
            rp_tensor_release(out);
            out = NULL;
        }
    }
done:
    operands_free(&A, &B);
    return out;
}

rp_tensor *rp_matmul_ref(const rp_tensor *a, const rp_tensor *b)
{
    operand A = {0}, B = {0};
    mm_plan p;
    rp_tensor *out = matmul_prep(a, b, &A, &B, &p, true);
    if (!out) goto done;
    const float *a0 = RP_F32P(A.t), *b0 = RP_F32P(B.t);
    int na = A.t->ndim, nb = B.t->ndim;
    int64_t as0 = A.t->stride[na - 2], as1 = A.t->stride[na - 1];
    int64_t bs0 = B.t->stride[nb - 2], bs1 = B.t->stride[nb - 1];
    float *o = RP_F32P(out);
    for (int64_t i = 0; i < p.nbatch; i++) {
        const float *ai = a0 + batch_offset(i, p.nbo, p.bo, p.astr);
        const float *bi = b0 + batch_offset(i, p.nbo, p.bo, p.bstr);
        for (int64_t m = 0; m < p.M; m++)
            for (int64_t j = 0; j < p.N; j++) {
                double s = 0;
                for (int64_t k = 0; k < p.K; k++)
                    s += (double)ai[m * as0 + k * as1] * bi[k * bs0 + j * bs1];
                o[(i * p.M + m) * p.N + j] = (float)s;
            }
    }
done:
    operands_free(&A, &B);
    return out;
}

/* ---- outer ---- */

static int outer_backward(rp_node *n, const rp_tensor *g, rp_tensor *gin[RP_NODE_MAXIN])
{
    const rp_tensor *u = n->saved[0], *v = n->saved[1];
    int64_t M = u->shape[0], N = v->shape[0];
    const float *up = RP_F32P(u), *vp = RP_F32P(v), *gp = RP_F32P(g);
    int64_t su = u->stride[0], sv = v->stride[0], g0 = g->stride[0], g1 = g->stride[1];
    if (n->needs_grad[0]) { /* gu (M) = g (M, N) · v */
        gin[0] = rp_empty(RP_F32, 1, &M);
        if (!gin[0]) return -1;
        for (int64_t i = 0; i < M; i++) {
            double s = 0;
            for (int64_t j = 0; j < N; j++) s += (double)gp[i * g0 + j * g1] * vp[j * sv];
            RP_F32P(gin[0])[i] = (float)s;
        }
    }
    if (n->needs_grad[1]) { /* gv (N) = gᵀ · u */
        gin[1] = rp_empty(RP_F32, 1, &N);
        if (!gin[1]) return -1;
        for (int64_t j = 0; j < N; j++) {
            double s = 0;
            for (int64_t i = 0; i < M; i++) s += (double)gp[i * g0 + j * g1] * up[i * su];
            RP_F32P(gin[1])[j] = (float)s;
        }
    }
    return 0;
}

rp_tensor *rp_outer(const rp_tensor *u, const rp_tensor *v)
{
    if (check_f32("outer", u, v)) return NULL;
    if (u->ndim != 1 || v->ndim != 1) {
        char su[RP_SHAPE_STRLEN], sv[RP_SHAPE_STRLEN];
        rp_seterr("outer: expected two 1-d tensors, got shapes %s and %s",
                  rp_shape_str(u, su, sizeof su), rp_shape_str(v, sv, sizeof sv));
        return NULL;
    }
    int64_t shape[2] = {u->shape[0], v->shape[0]};
    rp_tensor *out = rp_empty(RP_F32, 2, shape);
    if (!out) return NULL;
    const float *up = RP_F32P(u), *vp = RP_F32P(v);
    float *o = RP_F32P(out);
    for (int64_t i = 0; i < shape[0]; i++)
        for (int64_t j = 0; j < shape[1]; j++)
            o[i * shape[1] + j] = up[i * u->stride[0]] * vp[j * v->stride[0]];
    const rp_tensor *ins[2] = {u, v};
    if (rp_needs_grad(2, ins)) {
        rp_tensor *in2[2] = {(rp_tensor *)u, (rp_tensor *)v};
        rp_node *node = rp_node_attach(out, "outer", outer_backward, 2, in2);
        if (!node || rp_node_save(node, u) || rp_node_save(node, v)) {
            rp_tensor_release(out);
            return NULL;
        }
    }
    return out;
}
