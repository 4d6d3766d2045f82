/* attention_heads.h: what the attention kernels (ops_attention.c,
 * ops_attention_masked.c, ops_attention_fused.c) share: q, k, v as sgemm
 * operands per (batch, head), the shape check, and the loop over (b, h) with
 * per-thread scratch. Internal to the core. */
#ifndef RP_ATTENTION_HEADS_H
#define RP_ATTENTION_HEADS_H

#include "tensor.h"

/* (B, H, T, D) with unit stride in D and row stride ld >= D in T; anything
 * else is copied to contiguous first (a cache narrowed along T keeps its
 * layout). */
typedef struct {
    rp_tensor *t; /* owned */
    int64_t sb, sh;
    int ld;
} rp_att_head;

/* Fill hv from x (a detached alias or a contiguous copy); -1 on error. */
int rp_att_head_prep(rp_att_head *hv, const rp_tensor *x);
/* Release hv's tensor (NULL is fine). */
void rp_att_head_free(rp_att_head *hv);
/* The (T, D) matrix of (b, h). */
static inline const float *rp_att_head_at(const rp_att_head *hv, int64_t b, int64_t h)
{
    return RP_F32P(hv->t) + b * hv->sb + h * hv->sh;
}

/* q, k, v f32 and one (B, H, T, D) shape with D >= 1; -1 with the error set. */
int rp_att_check(const rp_tensor *q, const rp_tensor *k, const rp_tensor *v);

/* fn(ctx, scratch, b, h, b * H + h) for every (b, h), on OpenMP threads when
 * parallel (static schedule; BLAS is set to one thread first, so each (b, h)
 * computes the same whatever the thread count), each thread with its own
 * scratch of `floats` floats. -1 when scratch could not be allocated (the
 * caller sets the error; some (b, h) were then skipped). */
typedef void (*rp_att_head_fn)(void *ctx, float *scratch, int64_t b, int64_t h, int64_t bh);
int rp_att_for_heads(int64_t B, int64_t H, size_t floats, bool parallel, rp_att_head_fn fn,
                     void *ctx);

#endif
