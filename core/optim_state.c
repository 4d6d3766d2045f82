/* optim_state.c: the per-parameter state every optimizer keeps (named
 * buffers, moments in any storage format) and the finiteness scan. Below the
 * optimizer files: it calls none of them. */
#include "optim.h"
#include "parallel.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

rp_tensor *rp_optim_state_add(rp_optim_state *st, const char *name, rp_tensor *t)
{
    if (!t) return NULL;
    if (st->nbuf == RP_OPTIM_MAXBUF) {
        rp_tensor_release(t);
        rp_seterr("optim: too many state buffers (%d)", RP_OPTIM_MAXBUF);
        return NULL;
    }
    snprintf(st->names[st->nbuf], RP_OPTIM_NAMELEN, "%s", name);
    st->buf[st->nbuf++] = t;
    return t;
}

rp_tensor *rp_optim_state_get(const rp_optim_state *st, const char *name)
{
    for (int i = 0; i < st->nbuf; i++)
        if (strcmp(st->names[i], name) == 0) return st->buf[i];
    return NULL;
}

rp_tensor *rp_optim_zeros1(int64_t n) { return rp_zeros(RP_F32, 1, &n); }

/* A moment buffer and, for fp8 formats, its scale (scale 1 until the first store). */
int rp_optim_add_moment(rp_optim_state *st, const char *name, rp_moment_format fmt, const rp_tensor *p)
{
    if (!rp_optim_state_add(st, name, rp_moment_new(fmt, rp_numel(p), p->shape, p->ndim))) return -1;
    if (rp_moment_format_coded(fmt)) {
        char sname[RP_OPTIM_NAMELEN];
        snprintf(sname, sizeof sname, "%s_scale", name);
        rp_tensor *s = rp_optim_state_add(st, sname, rp_optim_zeros1(1));
        if (!s) return -1;
        RP_F32P(s)[0] = 1.0f;
    }
    return 0;
}

rp_tensor *rp_optim_moment_scale(const rp_optim_state *st, const char *name)
{
    char sname[RP_OPTIM_NAMELEN];
    snprintf(sname, sizeof sname, "%s_scale", name);
    return rp_optim_state_get(st, sname);
}

void rp_optim_state_free(rp_optim_state *st)
{
    if (!st) return;
    for (int i = 0; i < st->nbuf; i++) rp_tensor_release(st->buf[i]);
    free(st);
}

size_t rp_optim_state_bytes(const rp_optim_state *st)
{
    size_t b = 0;
    for (int i = 0; i < st->nbuf; i++) b += (size_t)rp_numel(st->buf[i]) * rp_dtype_info[st->buf[i]->dtype].size;
    return b;
}

/* Any NaN or Inf in x[0..n)? Branch-free over the exponent bits (all ones
 * for both), so the loop vectorises; the answer does not depend on how the
 * chunks are split over threads. */
RP_VECTOR_CLONES
static unsigned any_nonfinite_chunk(const float *x, int64_t n)
{
    unsigned bad = 0;
    for (int64_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, x + i, sizeof u);
        bad |= (u & 0x7f800000u) == 0x7f800000u;
    }
    return bad;
}

int64_t rp_first_nonfinite_f32(const float *x, int64_t n)
{
    enum { CHUNK = 16384 };
    int64_t nch = (n + CHUNK - 1) / CHUNK;
    unsigned bad = 0;
    #pragma omp parallel for schedule(static) reduction(|: bad) if (n > RP_PAR_MIN)
    for (int64_t k = 0; k < nch; k++) {
        int64_t lo = k * CHUNK;
        bad |= any_nonfinite_chunk(x + lo, n - lo < CHUNK ? n - lo : CHUNK);
    }
    if (!bad) return -1;
    for (int64_t i = 0; i < n; i++) /* the first one, for the message */
        if (!isfinite(x[i])) return i;
    return -1;
}
