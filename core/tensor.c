/* tensor.c: storage, views, strided copies. */
#define _POSIX_C_SOURCE 200809L
#include "tensor.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- storage ---- */

static atomic_size_t live_bytes;

size_t rp_live_bytes(void) { return atomic_load(&live_bytes); }

/* Refuse requests beyond the machine's physical memory up front: the
 * allocator (and ASan's) may otherwise overcommit and die on first touch. */
static size_t phys_bytes(void)
{
    static size_t cached;
    if (!cached) {
        long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
        cached = pages > 0 && psize > 0 ? (size_t)pages * (size_t)psize : ((size_t)1 << 40);
    }
    return cached;
}

/* A small cache of large freed buffers: fresh pages from the OS cost a page
 * fault each, which for a 64 MB temporary takes longer than the kernel that
 * writes it. Exact-size reuse only; bounded in count and bytes. A training
 * step frees hundreds of buffers of a few sizes, so the slots are many (with
 * 128 the large benchmark model still took ~30k page faults per step; with
 * 512, ~1.5k). */
#define CACHE_SLOTS 512
#define CACHE_MIN ((size_t)1 << 18)
#define CACHE_MAX_BYTES ((size_t)1 << 30)
static struct { void *p; size_t alloc; } cache[CACHE_SLOTS];
static size_t cache_bytes;
static atomic_flag cache_lock = ATOMIC_FLAG_INIT;

static void lock(void) { while (atomic_flag_test_and_set(&cache_lock)) {} }
static void unlock(void) { atomic_flag_clear(&cache_lock); }

static void *cache_take(size_t alloc)
{
    void *p = NULL;
    lock();
    for (int i = 0; i < CACHE_SLOTS; i++)
        if (cache[i].p && cache[i].alloc == alloc) {
            p = cache[i].p;
            cache[i].p = NULL;
            cache_bytes -= alloc;
            break;
        }
    unlock();
    return p;
}

/* Keep p for reuse if there is room; else free it. */
static void cache_put(void *p, size_t alloc)
{
    if (alloc >= CACHE_MIN) {
        lock();
        for (int i = 0; i < CACHE_SLOTS && p; i++)
            if (!cache[i].p && cache_bytes + alloc <= CACHE_MAX_BYTES) {
                cache[i].p = p;
                cache[i].alloc = alloc;
                cache_bytes += alloc;
                p = NULL;
            }
        unlock();
    }
    free(p);
}

static rp_storage *storage_new(size_t nbytes, bool zero)
{
    if (nbytes > phys_bytes()) {
        rp_seterr("out of memory: %zu bytes requested, the machine has %zu", nbytes, phys_bytes());
        return NULL;
    }
    rp_storage *s = malloc(sizeof *s);
    if (!s) { rp_seterr("out of memory allocating a storage header"); return NULL; }
    /* 64-byte alignment for vector kernels; calloc semantics so that empty
     * tensors never expose stale memory. */
    size_t alloc = (nbytes + 63) & ~(size_t)63;
    if (alloc == 0) alloc = 64;
    s->data = alloc >= CACHE_MIN ? cache_take(alloc) : NULL;
    if (!s->data) s->data = aligned_alloc(64, alloc);
    if (!s->data && alloc >= CACHE_MIN) { /* memory is tight: drop the cache and retry */
        void *p;
        for (int i = 0; i < CACHE_SLOTS; i++) {
            lock();
            p = cache[i].p;
            if (p) { cache[i].p = NULL; cache_bytes -= cache[i].alloc; }
            unlock();
            free(p);
        }
        s->data = aligned_alloc(64, alloc);
    }
    if (!s->data) {
        free(s);
        rp_seterr("out of memory allocating %zu bytes", nbytes);
        return NULL;
    }
    if (zero) memset(s->data, 0, alloc);
    s->nbytes = nbytes;
    s->refcount = 1;
    atomic_fetch_add(&live_bytes, nbytes);
    return s;
}

static void storage_release(rp_storage *s)
{
    if (!s || --s->refcount > 0) return;
    atomic_fetch_sub(&live_bytes, s->nbytes);
    size_t alloc = (s->nbytes + 63) & ~(size_t)63;
    cache_put(s->data, alloc ? alloc : 64);
    free(s);
}

/* ---- geometry ---- */

int64_t rp_contiguous_strides(int ndim, const int64_t *shape, int64_t *stride)
{
    int64_t n = 1;
    for (int d = ndim - 1; d >= 0; d--) {
        if (stride) stride[d] = n;
        if (shape[d] < 0) return -1;
        if (shape[d] != 0 && n > INT64_MAX / shape[d]) return -1;
        n *= shape[d];
    }
    return n;
}

int64_t rp_numel(const rp_tensor *t)
{
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++) n *= t->shape[d];
    return n;
}

bool rp_is_contiguous(const rp_tensor *t)
{
    int64_t expect = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        if (t->shape[d] != 1 && t->stride[d] != expect) return false;
        expect *= t->shape[d];
    }
    return true;
}

void *rp_data(const rp_tensor *t)
{
    return (char *)t->storage->data + (size_t)t->offset * rp_dtype_info[t->dtype].size;
}

bool rp_same_shape(const rp_tensor *a, const rp_tensor *b)
{
    if (a->ndim != b->ndim) return false;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d]) return false;
    return true;
}

char *rp_shape_str(const rp_tensor *t, char *buf, size_t n)
{
    size_t k = 0;
    k += (size_t)snprintf(buf + k, n - k, "{");
    for (int d = 0; d < t->ndim && k < n; d++)
        k += (size_t)snprintf(buf + k, n - k, d ? ",%lld" : "%lld", (long long)t->shape[d]);
    if (k < n) snprintf(buf + k, n - k, "}");
    return buf;
}

/* ---- creation ---- */

static rp_tensor *header_new(void)
{
    rp_tensor *t = calloc(1, sizeof *t);
    if (!t) rp_seterr("out of memory allocating a tensor header");
    else t->refcount = 1;
    return t;
}

static rp_tensor *empty_impl(rp_dtype dtype, int ndim, const int64_t *shape, bool zero)
{
    if (ndim < 0 || ndim > RP_MAXDIM) {
        rp_seterr("tensor: %d dimensions (at most %d)", ndim, RP_MAXDIM);
        return NULL;
    }
    for (int d = 0; d < ndim; d++)
        if (shape[d] < 0) {
            rp_seterr("tensor: negative size %lld in dimension %d", (long long)shape[d], d + 1);
            return NULL;
        }
    rp_tensor *t = header_new();
    if (!t) return NULL;
    int64_t n = rp_contiguous_strides(ndim, shape, t->stride);
    size_t esize = rp_dtype_info[dtype].size;
    if (n < 0 || (uint64_t)n > (uint64_t)(SIZE_MAX / 2) / esize) {
        free(t);
        rp_seterr("tensor: size overflows (too many elements)");
        return NULL;
    }
    t->storage = storage_new((size_t)n * esize, zero);
    if (!t->storage) { free(t); return NULL; }
    t->ndim = ndim;
    if (ndim > 0) memcpy(t->shape, shape, sizeof(int64_t) * (size_t)ndim);
    t->dtype = dtype;
    return t;
}

rp_tensor *rp_empty(rp_dtype dtype, int ndim, const int64_t *shape)
{
    return empty_impl(dtype, ndim, shape, true);
}

rp_tensor *rp_empty_uninit(rp_dtype dtype, int ndim, const int64_t *shape)
{
    return empty_impl(dtype, ndim, shape, false);
}

rp_tensor *rp_zeros(rp_dtype dtype, int ndim, const int64_t *shape)
{
    return rp_empty(dtype, ndim, shape); /* storage is zeroed */
}

rp_tensor *rp_scalar(float v)
{
    rp_tensor *t = rp_empty(RP_F32, 0, NULL);
    if (t) *RP_F32P(t) = v;
    return t;
}

int rp_view_check(const rp_tensor *t, int ndim, const int64_t *shape,
                  const int64_t *stride, int64_t offset)
{
    if (ndim < 0 || ndim > RP_MAXDIM)
        return rp_seterr("view: %d dimensions (at most %d)", ndim, RP_MAXDIM);
    int64_t lo = offset, hi = offset;
    bool empty = false;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0) return rp_seterr("view: negative size %lld", (long long)shape[d]);
        if (shape[d] == 0) empty = true;
    }
    if (!empty) {
        for (int d = 0; d < ndim; d++) {
            int64_t span = (shape[d] - 1) * stride[d];
            if (span > 0) hi += span; else lo += span;
        }
    }
    int64_t cap = (int64_t)(t->storage->nbytes / rp_dtype_info[t->dtype].size);
    if (offset < 0 || (!empty && (lo < 0 || hi >= cap)))
        return rp_seterr("view: elements [%lld, %lld] outside storage of %lld elements",
                         (long long)lo, (long long)hi, (long long)cap);
    return 0;
}

rp_tensor *rp_alias(const rp_tensor *t, int ndim, const int64_t *shape,
                    const int64_t *stride, int64_t offset)
{
    rp_tensor *v = header_new();
    if (!v) return NULL;
    v->storage = t->storage;
    v->storage->refcount++;
    v->offset = offset;
    v->ndim = ndim;
    if (ndim > 0) {
        memcpy(v->shape, shape, sizeof(int64_t) * (size_t)ndim);
        memcpy(v->stride, stride, sizeof(int64_t) * (size_t)ndim);
    }
    v->dtype = t->dtype;
    return v;
}

void rp_tensor_retain(rp_tensor *t) { t->refcount++; }

void rp_tensor_release(rp_tensor *t)
{
    if (!t || --t->refcount > 0) return;
    rp_tensor_release(t->grad);
    rp_node_drop(t->grad_fn);
    storage_release(t->storage);
    free(t);
}

/* ---- strided iteration ---- */

void rp_iter3_init(rp_iter3 *it, int ndim, const int64_t *shape, int n,
                   const int64_t *const strides[3])
{
    /* Drop size-1 dims, then merge dim d into d+1 when every operand's stride
     * allows it (stride[d] == stride[d+1] * shape[d+1]). */
    int k = 0;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] == 1) continue;
        it->shape[k] = shape[d];
        for (int j = 0; j < 3; j++) it->stride[j][k] = j < n ? strides[j][d] : 0;
        k++;
    }
    int m = 0;
    for (int d = 0; d < k; d++) {
        if (m > 0) {
            bool merge = true;
            for (int j = 0; j < n; j++)
                if (it->stride[j][m - 1] != it->stride[j][d] * it->shape[d]) merge = false;
            if (merge) {
                it->shape[m - 1] *= it->shape[d];
                for (int j = 0; j < 3; j++) it->stride[j][m - 1] = it->stride[j][d];
                continue;
            }
        }
        it->shape[m] = it->shape[d];
        for (int j = 0; j < 3; j++) it->stride[j][m] = it->stride[j][d];
        m++;
    }
    it->ndim = m;
    for (int d = 0; d < ndim; d++)
        if (shape[d] == 0) { it->ndim = 1; it->shape[0] = 0; }
}

/* Element offset of flat index i in a view with ndim/shape/stride. */
static int64_t flat_to_offset(int ndim, const int64_t *shape, const int64_t *stride, int64_t i)
{
    int64_t off = 0;
    for (int d = ndim - 1; d >= 0; d--) {
        int64_t s = shape[d];
        off += (i % s) * stride[d];
        i /= s;
    }
    return off;
}

double rp_get_flat(const rp_tensor *t, int64_t i)
{
    int64_t off = flat_to_offset(t->ndim, t->shape, t->stride, i);
    switch (t->dtype) {
    case RP_F32: return RP_F32P(t)[off];
    case RP_I32: return RP_I32P(t)[off];
    case RP_U8: return RP_U8P(t)[off];
    default: return 0;
    }
}

/* Saturating conversions: a float-to-int cast out of range is undefined in C. */
static int32_t to_i32(double v)
{
    if (!(v == v)) return 0;
    return v <= -2147483648.0 ? INT32_MIN : v >= 2147483647.0 ? INT32_MAX : (int32_t)v;
}

static uint8_t to_u8(double v)
{
    if (!(v == v)) return 0;
    return v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)v;
}

void rp_set_flat(rp_tensor *t, int64_t i, double v)
{
    int64_t off = flat_to_offset(t->ndim, t->shape, t->stride, i);
    switch (t->dtype) {
    case RP_F32: RP_F32P(t)[off] = (float)v; break;
    case RP_I32: RP_I32P(t)[off] = to_i32(v); break;
    case RP_U8: RP_U8P(t)[off] = to_u8(v); break;
    default: break;
    }
}

int rp_copy_into(rp_tensor *dst, const rp_tensor *src)
{
    if (!rp_same_shape(dst, src)) {
        char a[RP_SHAPE_STRLEN], b[RP_SHAPE_STRLEN];
        return rp_seterr("copy: shapes %s and %s differ", rp_shape_str(dst, a, sizeof a),
                         rp_shape_str(src, b, sizeof b));
    }
    if (dst->dtype != src->dtype)
        return rp_seterr("copy: dtypes %s and %s differ", rp_dtype_info[dst->dtype].name,
                         rp_dtype_info[src->dtype].name);
    size_t es = rp_dtype_info[dst->dtype].size;
    const int64_t *st[3] = {dst->stride, src->stride, NULL};
    rp_iter3 it;
    rp_iter3_init(&it, dst->ndim, dst->shape, 2, st);
    char *d0 = rp_data(dst);
    const char *s0 = rp_data(src);
    if (it.ndim == 0) { memcpy(d0, s0, es); return 0; }
    int64_t inner = it.shape[it.ndim - 1];
    int64_t ds = it.stride[0][it.ndim - 1], ss = it.stride[1][it.ndim - 1];
    int64_t outer = 1;
    for (int d = 0; d < it.ndim - 1; d++) outer *= it.shape[d];
    #pragma omp parallel for schedule(static) if (outer * inner > (1 << 16))
    for (int64_t o = 0; o < outer; o++) {
        int64_t doff = flat_to_offset(it.ndim - 1, it.shape, it.stride[0], o);
        int64_t soff = flat_to_offset(it.ndim - 1, it.shape, it.stride[1], o);
        char *dp = d0 + doff * (int64_t)es;
        const char *sp = s0 + soff * (int64_t)es;
        if (ds == 1 && ss == 1) { memcpy(dp, sp, (size_t)inner * es); continue; }
        if (es == 4) {
            for (int64_t i = 0; i < inner; i++)
                memcpy(dp + i * ds * 4, sp + i * ss * 4, 4);
        } else {
            for (int64_t i = 0; i < inner; i++) dp[i * ds] = sp[i * ss];
        }
    }
    return 0;
}

rp_tensor *rp_copy_contiguous(const rp_tensor *t)
{
    /* every element is written by the copy: zeroing first would be a wasted pass */
    rp_tensor *c = rp_empty_uninit(t->dtype, t->ndim, t->shape);
    if (!c) return NULL;
    if (rp_copy_into(c, t) != 0) { rp_tensor_release(c); return NULL; }
    return c;
}

rp_tensor *rp_contiguous_detached(const rp_tensor *t)
{
    return rp_is_contiguous(t) ? rp_alias(t, t->ndim, t->shape, t->stride, t->offset)
                               : rp_copy_contiguous(t);
}

int rp_fill(rp_tensor *t, double v)
{
    int64_t n = rp_numel(t);
    if (rp_is_contiguous(t)) {
        if (t->dtype == RP_F32) { float *p = RP_F32P(t); float f = (float)v; for (int64_t i = 0; i < n; i++) p[i] = f; }
        else if (t->dtype == RP_I32) { int32_t *p = RP_I32P(t); int32_t x = to_i32(v); for (int64_t i = 0; i < n; i++) p[i] = x; }
        else memset(rp_data(t), to_u8(v), (size_t)n);
        return 0;
    }
    for (int64_t i = 0; i < n; i++) rp_set_flat(t, i, v);
    rp_bump_version(t);
    return 0;
}

/* ---- broadcasting ---- */

int rp_broadcast_shape(const char *op, const rp_tensor *a, const rp_tensor *b,
                       int64_t *out_shape)
{
    int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
    for (int i = 0; i < nd; i++) {
        int da = a->ndim - nd + i, db = b->ndim - nd + i;
        int64_t sa = da >= 0 ? a->shape[da] : 1, sb = db >= 0 ? b->shape[db] : 1;
        if (sa != sb && sa != 1 && sb != 1) {
            char x[RP_SHAPE_STRLEN], y[RP_SHAPE_STRLEN];
            rp_seterr("%s: shapes %s and %s cannot be broadcast (dimension %d: %lld vs %lld)",
                      op, rp_shape_str(a, x, sizeof x), rp_shape_str(b, y, sizeof y), i + 1,
                      (long long)sa, (long long)sb);
            return -1;
        }
        out_shape[i] = sa == 1 ? sb : sa;
    }
    return nd;
}

rp_tensor *rp_expand_view(const rp_tensor *t, int ndim, const int64_t *shape)
{
    if (ndim < t->ndim) {
        rp_seterr("expand: cannot expand %d dimensions to %d", t->ndim, ndim);
        return NULL;
    }
    int64_t stride[RP_MAXDIM];
    for (int i = 0; i < ndim; i++) {
        int d = t->ndim - ndim + i;
        if (d < 0) { stride[i] = 0; continue; }
        if (t->shape[d] == shape[i]) stride[i] = t->stride[d];
        else if (t->shape[d] == 1) stride[i] = 0;
        else {
            rp_seterr("expand: size %lld in dimension %d cannot become %lld",
                      (long long)t->shape[d], d + 1, (long long)shape[i]);
            return NULL;
        }
    }
    return rp_alias(t, ndim, shape, stride, t->offset);
}
