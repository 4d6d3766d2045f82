/* tensor.h: refcounted storage + strided views (Torch7 TH style), the error
 * channel of the core, and the autograd fields every tensor carries.
 *
 * Conventions for the whole core:
 *  - Functions that create a tensor return a NEW reference (caller releases it
 *    with rp_tensor_release) or NULL on error, with the reason in rp_errmsg().
 *  - Functions that return int return 0 on success and -1 on error.
 *  - Indices are 0-based here; 1-based conversion happens only in lua/ bindings.
 *  - The core never exits, aborts or longjmps.
 */
#ifndef RP_TENSOR_H
#define RP_TENSOR_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define RP_MAXDIM 8

/* ---- errors ---------------------------------------------------------- */

/* Set the thread's error message (printf format); always returns -1. */
int rp_seterr(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The last error message of this thread (never NULL). */
const char *rp_errmsg(void);

/* ---- dtypes: one traits table (ggml style) ---------------------------- */

typedef enum { RP_F32 = 0, RP_I32, RP_U8, RP_NDTYPES } rp_dtype;

typedef struct {
    const char *name; /* "f32", "i32", "u8" */
    size_t size;      /* bytes per element */
    const char *safetensors_name; /* "F32", "I32", "U8" */
} rp_dtype_traits;

extern const rp_dtype_traits rp_dtype_info[RP_NDTYPES];
/* dtype by name ("f32"/"float32", "i32"/"int32", "u8"/"uint8"); -1 if unknown. */
int rp_dtype_from_name(const char *name);

/* ---- storage and views ------------------------------------------------ */

typedef struct rp_storage {
    void *data;
    size_t nbytes;
    int refcount;
    uint64_t version;           /* bumped by in-place writes; autograd checks saved versions */
} rp_storage;

struct rp_node; /* autograd.h */

typedef struct rp_tensor {
    rp_storage *storage;
    int64_t offset;             /* in elements */
    int ndim;
    int64_t shape[RP_MAXDIM];
    int64_t stride[RP_MAXDIM];  /* in elements; 0 for broadcast (expand) */
    rp_dtype dtype;
    int refcount;
    /* autograd */
    bool requires_grad;         /* leaf that wants .grad, or result of a tracked op */
    struct rp_tensor *grad;     /* accumulated gradient of a leaf (owned ref) or NULL */
    struct rp_node *grad_fn;    /* node that produced this tensor (owned ref) or NULL */
} rp_tensor;

/* Total bytes held by live storages (for Lua's GC accounting and tests). */
size_t rp_live_bytes(void);

/* New contiguous tensor, uninitialised (zeroed memory). Checks sizes for
 * negatives and overflow; NULL + error on failure (including out of memory). */
rp_tensor *rp_empty(rp_dtype dtype, int ndim, const int64_t *shape);
rp_tensor *rp_zeros(rp_dtype dtype, int ndim, const int64_t *shape);
/* Like rp_empty but without the zeroing pass: only for kernel outputs whose
 * every element the caller writes before anyone reads it. */
rp_tensor *rp_empty_uninit(rp_dtype dtype, int ndim, const int64_t *shape);
/* A 0-d (scalar) f32 tensor. */
rp_tensor *rp_scalar(float v);
/* New view header sharing t's storage with the given geometry (no bounds check
 * beyond what the caller did; use rp_view_check for untrusted geometry). */
rp_tensor *rp_alias(const rp_tensor *t, int ndim, const int64_t *shape,
                    const int64_t *stride, int64_t offset);
/* Check that a view geometry stays inside storage; -1 + error if not. */
int rp_view_check(const rp_tensor *t, int ndim, const int64_t *shape,
                  const int64_t *stride, int64_t offset);

/* Mark an in-place write to t's storage (autograd refuses stale saved tensors). */
static inline void rp_bump_version(rp_tensor *t) { t->storage->version++; }

void rp_tensor_retain(rp_tensor *t);
void rp_tensor_release(rp_tensor *t);          /* NULL is fine */

int64_t rp_numel(const rp_tensor *t);
bool rp_is_contiguous(const rp_tensor *t);
/* Pointer to element 0 of the view (storage data + offset * elem size). */
void *rp_data(const rp_tensor *t);
#define RP_F32P(t) ((float *)rp_data(t))
#define RP_I32P(t) ((int32_t *)rp_data(t))
#define RP_U8P(t) ((uint8_t *)rp_data(t))
/* Put before a compute-bound kernel loop: GCC also compiles it for AVX2 and
 * AVX-512 and picks one at load time (the default build targets baseline
 * x86-64). Only for loops of IEEE +, -, *, / and integer operations:
 * contraction is off project-wide, so every version gives the same bits. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__AVX512F__)
#define RP_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define RP_VECTOR_CLONES
#endif
/* Compute contiguous strides for shape; returns numel or -1 on overflow. */
int64_t rp_contiguous_strides(int ndim, const int64_t *shape, int64_t *stride);
/* Do two tensors have the same shape? */
bool rp_same_shape(const rp_tensor *a, const rp_tensor *b);
/* Write "{4,8}" into buf; returns buf. */
char *rp_shape_str(const rp_tensor *t, char *buf, size_t n);
#define RP_SHAPE_STRLEN 200

/* A contiguous copy (new storage, no autograd); rp_contiguous returns t itself
 * (retained) if already contiguous. Neither records autograd: use the op
 * versions in ops for differentiable ones. */
rp_tensor *rp_copy_contiguous(const rp_tensor *t);
/* Copy src into dst elementwise (shapes equal; dtypes equal; strided). */
int rp_copy_into(rp_tensor *dst, const rp_tensor *src);
/* Fill every element of the view with v (converted to the dtype). */
int rp_fill(rp_tensor *t, double v);
/* Read / write element at a flat row-major index of the view (slow path). */
double rp_get_flat(const rp_tensor *t, int64_t i);
void rp_set_flat(rp_tensor *t, int64_t i, double v);

/* Strided iteration helper: calls fn on each maximal contiguous-ish run.
 * Iterates over the view in row-major order; for each element gives the
 * element offsets (relative to rp_data) of up to 3 same-shaped views. */
typedef struct {
    int ndim;
    int64_t shape[RP_MAXDIM];
    int64_t stride[3][RP_MAXDIM];
} rp_iter3;
/* Set up an iterator over `n` (1..3) tensors of identical shape `shape`,
 * collapsing dimensions where all strides allow it. */
void rp_iter3_init(rp_iter3 *it, int ndim, const int64_t *shape, int n,
                   const int64_t *const strides[3]);

/* Broadcast two shapes (numpy rules). Returns ndim of result or -1 with error
 * naming `op`. */
int rp_broadcast_shape(const char *op, const rp_tensor *a, const rp_tensor *b,
                       int64_t *out_shape);
/* A view of t expanded to shape (ndim >= t->ndim); stride 0 on broadcast dims. */
rp_tensor *rp_expand_view(const rp_tensor *t, int ndim, const int64_t *shape);

/* Number of threads of the core kernels (OpenMP). BLAS always runs on one
 * thread; matmul splits products over the kernels' threads (ops_matmul.c). */
void rp_set_threads(int n);
/* Put OpenBLAS on one thread if it is not (its default is every core): every
 * BLAS and LAPACK caller runs this first, for programs that never called
 * rp_set_threads. */
void rp_blas_one_thread(void);
int rp_get_threads(void);

#endif
