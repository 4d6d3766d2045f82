/* tensor.h: refcounted storage + strided views (Torch7 TH style).
 *
 * The other concerns of a tensor live in their own headers, included here so
 * that "tensor.h" is still all a kernel needs: the error channel (error.h),
 * the element types (dtype.h), the autograd fields (grad_fields.h), threads
 * (parallel.h) and the BLAS policy (blas_policy.h).
 *
 * Conventions for the whole core (see also error.h):
 *  - Functions that create a tensor return a NEW reference (caller releases it
 *    with rp_tensor_release) or NULL on error, with the reason in rp_errmsg().
 *  - Indices are 0-based here; 1-based conversion happens only in lua/ bindings.
 */
#ifndef RP_TENSOR_H
#define RP_TENSOR_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include "error.h"
#include "dtype.h"
#include "grad_fields.h"
#include "parallel.h"
#include "blas_policy.h"

#define RP_MAXDIM 8

/* ---- storage and views ------------------------------------------------ */

typedef struct rp_storage {
    void *data;
    size_t nbytes;
    int refcount;
    uint64_t version;           /* bumped by in-place writes; autograd checks saved versions */
} rp_storage;

typedef struct rp_tensor {
    rp_storage *storage;
    int64_t offset;             /* in elements */
    int ndim;
    int64_t shape[RP_MAXDIM];
    int64_t stride[RP_MAXDIM];  /* in elements; 0 for broadcast (expand) */
    rp_dtype dtype;
    int refcount;
    RP_GRAD_FIELDS
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
/* Compute contiguous strides for shape; returns numel or -1 on overflow. */
int64_t rp_contiguous_strides(int ndim, const int64_t *shape, int64_t *stride);
/* Do two tensors have the same shape? */
bool rp_same_shape(const rp_tensor *a, const rp_tensor *b);
/* Write "{4,8}" into buf; returns buf. */
char *rp_shape_str(const rp_tensor *t, char *buf, size_t n);
#define RP_SHAPE_STRLEN 200

/* A contiguous copy (new storage). Records no autograd: use the op versions
 * in ops for differentiable ones. */
rp_tensor *rp_copy_contiguous(const rp_tensor *t);
/* A contiguous tensor with t's values for a kernel to read: t's own storage
 * under a new header when t is contiguous, else a contiguous copy. Never
 * records autograd (the header has no grad_fn), unlike ops.h's rp_contiguous. */
rp_tensor *rp_contiguous_detached(const rp_tensor *t);
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

#endif
