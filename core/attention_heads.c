/* attention_heads.c: the per-(batch, head) scaffold of the attention
 * kernels (see attention_heads.h). */
#include "attention_heads.h"
#include "autograd.h"

#include <limits.h>
#include <stdlib.h>

int rp_att_head_prep(rp_att_head *hv, const rp_tensor *x)
{
    int64_t T = x->shape[2], D = x->shape[3];
    bool ok = (D <= 1 || x->stride[3] == 1) && (T <= 1 || x->stride[2] >= D) &&
              x->stride[2] <= INT_MAX;
    hv->t = ok ? rp_detach(x) : rp_copy_contiguous(x);
    if (!hv->t) return -1;
    hv->sb = hv->t->stride[0];
    hv->sh = hv->t->stride[1];
    int64_t ld = T <= 1 ? D : hv->t->stride[2];
    hv->ld = (int)(ld > D ? ld : D);
    return 0;
}

void rp_att_head_free(rp_att_head *hv)
{
    rp_tensor_release(hv->t);
    hv->t = NULL;
}

int rp_att_check(const rp_tensor *q, const rp_tensor *k, const rp_tensor *v)
{
    char a[RP_SHAPE_STRLEN], b[RP_SHAPE_STRLEN], c[RP_SHAPE_STRLEN];
    if (q->dtype != RP_F32 || k->dtype != RP_F32 || v->dtype != RP_F32)
        return rp_seterr("attention: q, k, v must be f32, got %s, %s, %s",
                         rp_dtype_info[q->dtype].name, rp_dtype_info[k->dtype].name,
                         rp_dtype_info[v->dtype].name);
    if (q->ndim != 4 || !rp_same_shape(q, k) || !rp_same_shape(q, v))
        return rp_seterr("attention: q %s, k %s, v %s must share one (B, H, T, D) shape",
                         rp_shape_str(q, a, sizeof a), rp_shape_str(k, b, sizeof b),
                         rp_shape_str(v, c, sizeof c));
    if (q->shape[3] == 0 || q->shape[2] > INT_MAX || q->shape[3] > INT_MAX)
        return rp_seterr("attention: unsupported head size in %s", rp_shape_str(q, a, sizeof a));
    return 0;
}

int rp_att_for_heads(int64_t B, int64_t H, size_t floats, bool parallel, rp_att_head_fn fn,
                     void *ctx)
{
    int oom = 0;
    rp_blas_one_thread();
    #pragma omp parallel if (parallel)
    {
        float *scratch = malloc(sizeof(float) * (floats ? floats : 1));
        if (!scratch) {
            #pragma omp atomic write
            oom = 1;
        }
        #pragma omp for schedule(static)
        for (int64_t bh = 0; bh < B * H; bh++)
            if (scratch) fn(ctx, scratch, bh / H, bh % H, bh);
        free(scratch);
    }
    return oom ? -1 : 0;
}
