/* ops_elementwise.c: broadcasting binary ops, unary math, where, dtype casts,
 * and their backward functions. */
#include "ops.h"
#include "autograd.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>


/* The loops built on fexp (exp, sigmoid, silu and their SwiGLU forms) are
 * compute-bound at SSE2 width, the baseline x86-64 this builds for, so they
 * are RP_VECTOR_CLONES: fexp uses only IEEE +, -, *, / and integer bit
 * operations, so each lane computes the same bits at every width
 * (tests/c/test_vexp.c compares the strided scalar path against them). */

/* ---- the strided driver ------------------------------------------------ */

/* A row kernel: n elements, element strides os/as/bs (as, bs may be 0). */
typedef void (*row_fn)(float *o, int64_t os, const float *a, int64_t as, const float *b,
                       int64_t bs, int64_t n, const void *ctx);

static int64_t iter_off(const rp_iter3 *it, int k, int64_t o)
{
    int64_t off = 0;
    for (int d = it->ndim - 2; d >= 0; d--) {
        off += (o % it->shape[d]) * it->stride[k][d];
        o /= it->shape[d];
    }
    return off;
}

/* out (contiguous, shape = out's) = f(a, b) where a, b are views already
 * expanded to out's shape (b may be NULL). */
static void apply(rp_tensor *out, const rp_tensor *a, const rp_tensor *b, row_fn f, const void *ctx)
{
    float *o = RP_F32P(out);
    const float *ap = RP_F32P(a), *bp = b ? RP_F32P(b) : NULL;
    int64_t n = rp_numel(out);
    bool ac = rp_is_contiguous(a), bc = !b || rp_is_contiguous(b);
    if (ac && bc) {
        /* contiguous fast path: static chunks of the flat range */
        int64_t chunk = 1 << 14, nchunks = (n + chunk - 1) / chunk;
        #pragma omp parallel for schedule(static) if (n > RP_PAR_MIN)
        for (int64_t c = 0; c < nchunks; c++) {
            int64_t s = c * chunk, e = s + chunk < n ? s + chunk : n;
            f(o + s, 1, ap + s, 1, bp ? bp + s : NULL, 1, e - s, ctx);
        }
        return;
    }
    const int64_t *st[3] = {out->stride, a->stride, b ? b->stride : out->stride};
    rp_iter3 it;
    rp_iter3_init(&it, out->ndim, out->shape, b ? 3 : 2, st);
    if (it.ndim == 0) { f(o, 1, ap, 1, bp, 1, 1, ctx); return; }
    int64_t inner = it.shape[it.ndim - 1], outer = 1;
    for (int d = 0; d < it.ndim - 1; d++) outer *= it.shape[d];
    int64_t os = it.stride[0][it.ndim - 1], as = it.stride[1][it.ndim - 1],
            bs = it.stride[2][it.ndim - 1];
    /* tasks = (row, piece of row) so a single long row still splits */
    int64_t piece = 1 << 14, per_row = (inner + piece - 1) / piece, ntask = outer * per_row;
    #pragma omp parallel for schedule(static) if (n > RP_PAR_MIN)
    for (int64_t t = 0; t < ntask; t++) {
        int64_t r = t / per_row, s = (t % per_row) * piece;
        int64_t len = inner - s < piece ? inner - s : piece;
        f(o + iter_off(&it, 0, r) + s * os, os, ap + iter_off(&it, 1, r) + s * as, as,
          bp ? bp + iter_off(&it, 2, r) + s * bs : NULL, bs, len, ctx);
    }
}

/* ---- binary kernels ---- */

static inline float binop_f(rp_binop op, float x, float y)
{
    switch (op) {
    case RP_ADD: return x + y;
    case RP_SUB: return x - y;
    case RP_MUL: return x * y;
    case RP_DIV: return x / y;
    case RP_POW: return powf(x, y);
    case RP_MAXIMUM: return x > y || isnan(x) ? x : y;
    case RP_MINIMUM: return x < y || isnan(x) ? x : y;
    case RP_LT: return x < y;
    case RP_LE: return x <= y;
    case RP_GT: return x > y;
    case RP_GE: return x >= y;
    case RP_EQ: return x == y;
    case RP_NE: return x != y;
    default: return 0;
    }
}

/* The common ops get loops the compiler vectorises (unit strides, one op). */
#define VLOOP(expr)                                                                    \
    do {                                                                               \
        if (os == 1 && as == 1 && bs == 1) for (int64_t i = 0; i < n; i++) { float x = a[i], y = b[i]; o[i] = (expr); } \
        else if (os == 1 && as == 1 && bs == 0) { float y = b[0]; for (int64_t i = 0; i < n; i++) { float x = a[i]; o[i] = (expr); } } \
        else if (os == 1 && as == 0 && bs == 1) { float x = a[0]; for (int64_t i = 0; i < n; i++) { float y = b[i]; o[i] = (expr); } } \
        else for (int64_t i = 0; i < n; i++) { float x = a[i * as], y = b[i * bs]; o[i * os] = (expr); } \
    } while (0)

static void row_binary(float *restrict o, int64_t os, const float *restrict a, int64_t as,
                       const float *restrict b, int64_t bs, int64_t n, const void *ctx)
{
    rp_binop op = *(const rp_binop *)ctx;
    switch (op) {
    case RP_ADD: VLOOP(x + y); break;
    case RP_SUB: VLOOP(x - y); break;
    case RP_MUL: VLOOP(x * y); break;
    case RP_DIV: VLOOP(x / y); break;
    default: for (int64_t i = 0; i < n; i++) o[i * os] = binop_f(op, a[i * as], b[i * bs]);
    }
}

static const char *const binop_names[RP_NBINARY] = {
    [RP_ADD] = "add", [RP_SUB] = "sub", [RP_MUL] = "mul", [RP_DIV] = "div", [RP_POW] = "pow",
    [RP_MAXIMUM] = "maximum", [RP_MINIMUM] = "minimum", [RP_LT] = "lt", [RP_LE] = "le",
    [RP_GT] = "gt", [RP_GE] = "ge", [RP_EQ] = "eq", [RP_NE] = "ne",
};

static bool is_cmp(rp_binop op) { return op >= RP_LT && op <= RP_NE; }

/* grad (any shape broadcast from `like`) summed back to like's shape */
static rp_tensor *reduce_to(rp_tensor *g, const rp_tensor *like)
{
    if (!g) return NULL;
    /* same shape: hand g over (the engine copies it only if someone else holds it) */
    if (g->ndim == like->ndim &&
        memcmp(g->shape, like->shape, sizeof(int64_t) * (size_t)g->ndim) == 0) return g;
    rp_tensor *r = rp_sum_to_shape(g, like->ndim, like->shape);
    rp_tensor_release(g);
    return r;
}

static int binary_backward(rp_node *n, const rp_tensor *g, rp_tensor *gin[RP_NODE_MAXIN])
{
    rp_binop op = (rp_binop)n->iargs[0];
    const rp_tensor *a = n->saved[0], *b = n->saved[1], *out = n->saved[2];
    rp_tensor *ga = NULL, *gb = NULL;
    switch (op) {
    case RP_ADD: /* shared, not cloned: gradients are never written in place by ops */
        if (n->needs_grad[0]) { ga = (rp_tensor *)g; rp_tensor_retain(ga); }
        if (n->needs_grad[1]) { gb = (rp_tensor *)g; rp_tensor_retain(gb); }
        break;
    case RP_SUB:
        if (n->needs_grad[0]) { ga = (rp_tensor *)g; rp_tensor_retain(ga); }
        if (n->needs_grad[1]) gb = rp_unary(RP_NEG, g);
        break;
    case RP_MUL:
        if (n->needs_grad[0]) ga = rp_mul(g, b);
        if (n->needs_grad[1]) gb = rp_mul(g, a);
        break;
    case RP_DIV:
        if (n->needs_grad[0]) ga = rp_div(g, b);
        if (n->needs_grad[1]) { /* -g * out / b */
            rp_tensor *t = rp_mul(g, out), *u = t ? rp_div(t, b) : NULL;
            gb = u ? rp_unary(RP_NEG, u) : NULL;
            rp_tensor_release(t); rp_tensor_release(u);
        }
        break;
    case RP_POW:
        if (n->needs_grad[0]) { /* g * b * a^(b-1) */
            rp_tensor *bm1 = rp_add_scalar(b, -1.0), *p = bm1 ? rp_pow(a, bm1) : NULL;
            rp_tensor *q = p ? rp_mul(p, b) : NULL;
            ga = q ? rp_mul(g, q) : NULL;
            rp_tensor_release(bm1); rp_tensor_release(p); rp_tensor_release(q);
        }
        if (n->needs_grad[1]) { /* g * out * log(a) */
            rp_tensor *la = rp_unary(RP_LOG, a), *p = la ? rp_mul(out, la) : NULL;
            gb = p ? rp_mul(g, p) : NULL;
            rp_tensor_release(la); rp_tensor_release(p);
        }
        break;
    case RP_MAXIMUM: case RP_MINIMUM: { /* ties split the gradient evenly */
        rp_binop w = op == RP_MAXIMUM ? RP_GT : RP_LT;
        rp_tensor *m = rp_binary(w, a, b), *e = rp_binary(RP_EQ, a, b);
        rp_tensor *h = e ? rp_mul_scalar(e, 0.5) : NULL, *ma = h && m ? rp_add(m, h) : NULL;
        rp_tensor *mb = ma ? rp_scalar_binary(RP_SUB, 1.0, ma) : NULL;
        if (ma && mb) { ga = rp_mul(g, ma); gb = rp_mul(g, mb); }
        rp_tensor_release(m); rp_tensor_release(e); rp_tensor_release(h);
        rp_tensor_release(ma); rp_tensor_release(mb);
        break;
    }
    default: return rp_seterr("backward: '%s' is not differentiable", binop_names[op]);
    }
    if (n->needs_grad[0]) { if (!ga) goto fail; gin[0] = reduce_to(ga, a); ga = NULL; if (!gin[0]) goto fail; }
    if (n->needs_grad[1]) { if (!gb) goto fail; gin[1] = reduce_to(gb, b); gb = NULL; if (!gin[1]) goto fail; }
    rp_tensor_release(ga); rp_tensor_release(gb);
    return 0;
fail:
    rp_tensor_release(ga); rp_tensor_release(gb);
    return -1;
}

static bool is_int(rp_dtype d) { return d != RP_F32; }

/* Integer arithmetic for two integer tensors: contiguous copies, int64 math, i32 out. */
static rp_tensor *binary_int(rp_binop op, const rp_tensor *a, const rp_tensor *b, int nd,
                             const int64_t *shape)
{
    rp_tensor *ea = rp_expand_view(a, nd, shape), *eb = rp_expand_view(b, nd, shape);
    rp_tensor *ca = ea ? rp_copy_contiguous(ea) : NULL, *cb = eb ? rp_copy_contiguous(eb) : NULL;
    rp_tensor *out = ca && cb ? rp_empty_uninit(RP_I32, nd, shape) : NULL;
    if (out) {
        int64_t n = rp_numel(out);
        for (int64_t i = 0; i < n; i++) {
            int64_t x = ca->dtype == RP_I32 ? RP_I32P(ca)[i] : RP_U8P(ca)[i];
            int64_t y = cb->dtype == RP_I32 ? RP_I32P(cb)[i] : RP_U8P(cb)[i];
            int64_t r = op == RP_ADD ? x + y : op == RP_SUB ? x - y : op == RP_MUL ? x * y
                      : op == RP_MAXIMUM ? (x > y ? x : y) : (x < y ? x : y);
            RP_I32P(out)[i] = (int32_t)(uint32_t)(uint64_t)r; /* wraps like int32 */
        }
    }
    rp_tensor_release(ea); rp_tensor_release(eb); rp_tensor_release(ca); rp_tensor_release(cb);
    return out;
}

rp_tensor *rp_binary(rp_binop op, const rp_tensor *a, const rp_tensor *b)
{
    if ((unsigned)op >= RP_NBINARY) { rp_seterr("binary: unknown op %d", (int)op); return NULL; }
    const char *name = binop_names[op];
    int64_t shape[RP_MAXDIM];
    int nd = rp_broadcast_shape(name, a, b, shape);
    if (nd < 0) return NULL;
    if (is_int(a->dtype) && is_int(b->dtype) &&
        (op == RP_ADD || op == RP_SUB || op == RP_MUL || op == RP_MAXIMUM || op == RP_MINIMUM))
        return binary_int(op, a, b, nd, shape);
    if (is_int(a->dtype) || is_int(b->dtype)) { /* promote to f32 */
        rp_tensor *fa = rp_to_dtype(a, RP_F32), *fb = fa ? rp_to_dtype(b, RP_F32) : NULL;
        rp_tensor *r = fb ? rp_binary(op, fa, fb) : NULL;
        rp_tensor_release(fa); rp_tensor_release(fb);
        return r;
    }
    rp_tensor *out = rp_empty_uninit(RP_F32, nd, shape);
    if (!out) return NULL;
    rp_tensor *ea = rp_expand_view(a, nd, shape), *eb = ea ? rp_expand_view(b, nd, shape) : NULL;
    if (!eb) { rp_tensor_release(ea); rp_tensor_release(out); return NULL; }
    apply(out, ea, eb, row_binary, &op);
    rp_tensor_release(ea);
    rp_tensor_release(eb);
    const rp_tensor *in[2] = {a, b};
    if (!is_cmp(op) && rp_needs_grad(2, in)) {
        rp_node *node = rp_node_attach(out, name, binary_backward, 2, (rp_tensor *const *)in);
        if (!node || rp_node_save(node, a) || rp_node_save(node, b) ||
            rp_node_save(node, out)) { rp_tensor_release(out); return NULL; }
        node->iargs[0] = op;
    }
    return out;
}

rp_tensor *rp_add(const rp_tensor *a, const rp_tensor *b) { return rp_binary(RP_ADD, a, b); }
rp_tensor *rp_sub(const rp_tensor *a, const rp_tensor *b) { return rp_binary(RP_SUB, a, b); }
rp_tensor *rp_mul(const rp_tensor *a, const rp_tensor *b) { return rp_binary(RP_MUL, a, b); }
rp_tensor *rp_div(const rp_tensor *a, const rp_tensor *b) { return rp_binary(RP_DIV, a, b); }
rp_tensor *rp_pow(const rp_tensor *a, const rp_tensor *b) { return rp_binary(RP_POW, a, b); }

/* A 0-d tensor for s: i32 when it keeps integer arithmetic integer. */
static rp_tensor *scalar_for(const rp_tensor *a, rp_binop op, double s)
{
    if (is_int(a->dtype) && s == floor(s) && fabs(s) < 2147483648.0 &&
        (op == RP_ADD || op == RP_SUB || op == RP_MUL || op == RP_MAXIMUM || op == RP_MINIMUM)) {
        rp_tensor *t = rp_empty(RP_I32, 0, NULL);
        if (t) *RP_I32P(t) = (int32_t)s;
        return t;
    }
    return rp_scalar((float)s);
}

rp_tensor *rp_binary_scalar(rp_binop op, const rp_tensor *a, double s)
{
    rp_tensor *st = scalar_for(a, op, s);
    if (!st) return NULL;
    rp_tensor *r = rp_binary(op, a, st);
    rp_tensor_release(st);
    return r;
}

rp_tensor *rp_scalar_binary(rp_binop op, double s, const rp_tensor *a)
{
    rp_tensor *st = scalar_for(a, op, s);
    if (!st) return NULL;
    rp_tensor *r = rp_binary(op, st, a);
    rp_tensor_release(st);
    return r;
}

rp_tensor *rp_add_scalar(const rp_tensor *a, double s) { return rp_binary_scalar(RP_ADD, a, s); }
rp_tensor *rp_mul_scalar(const rp_tensor *a, double s) { return rp_binary_scalar(RP_MUL, a, s); }

/* ---- unary ---- */

const char *const rp_unop_names[RP_NUNARY] = {
    [RP_NEG] = "neg", [RP_ABS] = "abs", [RP_EXP] = "exp", [RP_LOG] = "log", [RP_SQRT] = "sqrt",
    [RP_RSQRT] = "rsqrt", [RP_TANH] = "tanh", [RP_SIGMOID] = "sigmoid", [RP_RELU] = "relu",
    [RP_GELU] = "gelu", [RP_SILU] = "silu", [RP_SIN] = "sin", [RP_COS] = "cos",
    [RP_SIGN] = "sign", [RP_SQUARE] = "square",
};

/* Internal ops with parameters share the unary machinery. */
enum { OP_CLAMP = RP_NUNARY, OP_POWS, OP_ISNAN, OP_ISINF, OP_COUNT };
typedef struct { int op; float p0, p1; } un_ctx;

/* exp without libm: Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2, a
 * degree-7 Taylor polynomial for e^r (truncation < 6e-9 relative), then 2^n
 * applied as two exact power-of-two factors so subnormal results round once.
 * Every select is an integer mask on the bit pattern (float ?: becomes a
 * branch that stops GCC's vectoriser at -O2), and n is read from the
 * shifter's mantissa instead of a float-to-int conversion, so `omp simd`
 * loops over it vectorise. <= 2 ulp against the correctly rounded value,
 * tested over a dense sweep in tests/c/test_vexp.c. Scalar and vector code
 * run the same IEEE operations (no contraction), so every path and thread
 * count gives the same bits. */
static inline float bits_f(uint32_t b) { float f; memcpy(&f, &b, sizeof f); return f; }
static inline uint32_t f_bits(float f) { uint32_t b; memcpy(&b, &f, sizeof b); return b; }

static inline float fexp(float x)
{
    const float hi = 88.72283935546875f, lo = -103.97208404541015625f;
    /* all-ones masks; every comparison is false for NaN except x != x */
    uint32_t mhi = -(uint32_t)(x > hi), mlo = -(uint32_t)(x < lo), mnan = -(uint32_t)(x != x);
    uint32_t special = mhi | mlo | mnan;
    float xc = bits_f((f_bits(x) & ~special) | (f_bits(hi) & mhi) | (f_bits(lo) & mlo));
    const float shifter = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    float t = xc * 1.44269502162933349609375f + shifter;
    float nf = t - shifter;
    float r = (xc - nf * 0.693145751953125f) - nf * 1.428606765330187045e-06f;
    float p = 1.98412701e-4f;
    p = p * r + 1.38888892e-3f;
    p = p * r + 8.33333377e-3f;
    p = p * r + 4.16666679e-2f;
    p = p * r + 1.66666672e-1f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t n = (int32_t)(f_bits(t) - f_bits(shifter)); /* |n| <= 150: exact */
    int32_t n1 = n >> 1, n2 = n - n1;                     /* both in [-75, 64]: normal scales */
    float y = (p * bits_f((uint32_t)(n1 + 127) << 23)) * bits_f((uint32_t)(n2 + 127) << 23);
    /* Overflow and underflow need no select of their own: the clamped
     * inputs give exactly +inf (at hi) and +0 (at lo, p < 1 times 2^-150
     * rounds to 0) on every path. Only NaN returns itself. */
    return bits_f((f_bits(y) & ~mnan) | (f_bits(x) & mnan));
}

RP_VECTOR_CLONES void rp_exp_f32(float *out, const float *x, int64_t n)
{
    #pragma omp simd
    for (int64_t i = 0; i < n; i++) out[i] = fexp(x[i]);
}

void rp_exp_f32_ref(float *out, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) out[i] = expf(x[i]);
}

RP_VECTOR_CLONES void rp_sub_exp_f32(float *out, const float *x, float c, int64_t n)
{
    #pragma omp simd
    for (int64_t i = 0; i < n; i++) out[i] = fexp(x[i] - c);
}

static inline float sigmoidf_(float x) { return 1.0f / (1.0f + fexp(-x)); }
static inline float siluf_(float x) { return x / (1.0f + fexp(-x)); }
static inline float silu_df(float x)
{
    float s = sigmoidf_(x);
    return s * (1.0f + x * (1.0f - s));
}

RP_VECTOR_CLONES void rp_silu_mul_f32(float *out, const float *a, const float *b, int64_t n)
{
    #pragma omp simd
    for (int64_t i = 0; i < n; i++) out[i] = siluf_(a[i]) * b[i];
}

RP_VECTOR_CLONES void rp_silu_mul_backward_f32(float *ga, float *gb, const float *g, const float *a,
                                         const float *b, int64_t n)
{
    if (ga && gb) { /* one exp for both: fexp(-a) is the one silu_df and siluf_ compute */
        #pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            float x = a[i], d = 1.0f + fexp(-x), s = 1.0f / d;
            ga[i] = g[i] * b[i] * (s * (1.0f + x * (1.0f - s)));
            gb[i] = g[i] * (x / d);
        }
    } else if (ga) {
        #pragma omp simd
        for (int64_t i = 0; i < n; i++) ga[i] = g[i] * b[i] * silu_df(a[i]);
    } else if (gb) {
        #pragma omp simd
        for (int64_t i = 0; i < n; i++) gb[i] = g[i] * siluf_(a[i]);
    }
}

/* Contiguous loops of the unary ops and their gradients (row_unary,
 * unary_backward); the same per-element arithmetic as unary_f / unary_d. */
RP_VECTOR_CLONES static void sigmoid_loop(float *restrict o, const float *restrict a, int64_t n)
{
    #pragma omp simd
    for (int64_t i = 0; i < n; i++) o[i] = sigmoidf_(a[i]);
}

RP_VECTOR_CLONES static void silu_loop(float *restrict o, const float *restrict a, int64_t n)
{
    #pragma omp simd
    for (int64_t i = 0; i < n; i++) o[i] = siluf_(a[i]);
}

RP_VECTOR_CLONES static void silu_grad_loop(float *restrict r, const float *restrict g,
                                      const float *restrict x, int64_t n)
{
    #pragma omp simd
    for (int64_t i = 0; i < n; i++) r[i] = g[i] * silu_df(x[i]);
}

static inline float unary_f(int op, float x, float p0, float p1)
{
    switch (op) {
    case RP_NEG: return -x;
    case RP_ABS: return fabsf(x);
    case RP_EXP: return fexp(x);
    case RP_LOG: return logf(x);
    case RP_SQRT: return sqrtf(x);
    case RP_RSQRT: return 1.0f / sqrtf(x);
    case RP_TANH: return tanhf(x);
    case RP_SIGMOID: return sigmoidf_(x);
    case RP_RELU: return x > 0 ? x : (isnan(x) ? x : 0.0f);
    case RP_GELU: return (float)(0.5 * x * (1.0 + erf(x * 0.7071067811865476)));
    case RP_SILU: return siluf_(x); /* as the contiguous loop: same bits on any layout */
    case RP_SIN: return sinf(x);
    case RP_COS: return cosf(x);
    case RP_SIGN: return x > 0 ? 1.0f : x < 0 ? -1.0f : x; /* keeps NaN and signed zero */
    case RP_SQUARE: return x * x;
    case OP_CLAMP: return isnan(x) ? x : x < p0 ? p0 : x > p1 ? p1 : x;
    case OP_POWS: return p0 == 2.0f ? x * x : powf(x, p0);
    case OP_ISNAN: return isnan(x) ? 1.0f : 0.0f;
    case OP_ISINF: return isinf(x) ? 1.0f : 0.0f;
    default: return 0;
    }
}

static void row_unary(float *restrict o, int64_t os, const float *restrict a, int64_t as,
                      const float *restrict b, int64_t bs, int64_t n, const void *ctx)
{
    (void)b; (void)bs;
    const un_ctx *c = ctx;
    if (os == 1 && as == 1) {
        switch (c->op) {
        case RP_NEG: for (int64_t i = 0; i < n; i++) o[i] = -a[i]; return;
        case RP_SQUARE: for (int64_t i = 0; i < n; i++) o[i] = a[i] * a[i]; return;
        case RP_EXP: rp_exp_f32(o, a, n); return;
        case RP_SIGMOID: sigmoid_loop(o, a, n); return;
        case RP_SILU: silu_loop(o, a, n); return;
        default: break;
        }
    }
    for (int64_t i = 0; i < n; i++) o[i * os] = unary_f(c->op, a[i * as], c->p0, c->p1);
}

/* d out / d x at x (y = out), for the gradient g. */
static inline float unary_d(int op, float x, float y, float p0, float p1)
{
    switch (op) {
    case RP_NEG: return -1.0f;
    case RP_ABS: return x > 0 ? 1.0f : x < 0 ? -1.0f : 0.0f;
    case RP_EXP: return y;
    case RP_LOG: return 1.0f / x;
    case RP_SQRT: return 0.5f / y;
    case RP_RSQRT: return -0.5f * y * y * y;
    case RP_TANH: return 1.0f - y * y;
    case RP_SIGMOID: return y * (1.0f - y);
    case RP_RELU: return x > 0 ? 1.0f : 0.0f;
    case RP_GELU: {
        double cdf = 0.5 * (1.0 + erf(x * 0.7071067811865476));
        double pdf = exp(-0.5 * (double)x * x) * 0.3989422804014327;
        return (float)(cdf + x * pdf);
    }
    case RP_SILU: return silu_df(x);
    case RP_SIN: return cosf(x);
    case RP_COS: return -sinf(x);
    case RP_SQUARE: return 2.0f * x;
    case OP_CLAMP: return x >= p0 && x <= p1 ? 1.0f : 0.0f;
    case OP_POWS: return p0 == 0.0f ? 0.0f : p0 * powf(x, p0 - 1.0f);
    default: return 0.0f; /* sign */
    }
}

static int unary_backward(rp_node *n, const rp_tensor *g, rp_tensor *gin[RP_NODE_MAXIN])
{
    un_ctx c = {(int)n->iargs[0], (float)n->dargs[0], (float)n->dargs[1]};
    rp_tensor *x = rp_contiguous_detached(n->saved[0]), *y = rp_contiguous_detached(n->saved[1]);
    rp_tensor *gc = rp_contiguous_detached(g);
    rp_tensor *r = x && y && gc ? rp_empty_uninit(RP_F32, x->ndim, x->shape) : NULL;
    if (r) {
        const float *xp = RP_F32P(x), *yp = RP_F32P(y), *gp = RP_F32P(gc);
        float *rp = RP_F32P(r);
        int64_t m = rp_numel(r);
        /* the common activations get a loop of their own so they vectorise;
         * same per-element arithmetic as unary_d */
        int64_t chunk = 1 << 14, nchunks = (m + chunk - 1) / chunk;
        #pragma omp parallel for schedule(static) if (m > RP_PAR_MIN)
        for (int64_t k = 0; k < nchunks; k++) {
            int64_t s = k * chunk, e = s + chunk < m ? s + chunk : m;
            if (c.op == RP_SILU) {
                silu_grad_loop(rp + s, gp + s, xp + s, e - s);
            } else if (c.op == RP_SIGMOID) {
                #pragma omp simd
                for (int64_t i = s; i < e; i++) rp[i] = gp[i] * (yp[i] * (1.0f - yp[i]));
            } else {
                for (int64_t i = s; i < e; i++) rp[i] = gp[i] * unary_d(c.op, xp[i], yp[i], c.p0, c.p1);
            }
        }
    }
    rp_tensor_release(x); rp_tensor_release(y); rp_tensor_release(gc);
    gin[0] = r;
    return r ? 0 : -1;
}

static rp_tensor *unary_impl(int op, const char *name, const rp_tensor *x, float p0, float p1,
                             bool differentiable)
{
    if (x->dtype != RP_F32) {
        rp_tensor *f = rp_to_dtype(x, RP_F32);
        rp_tensor *r = f ? unary_impl(op, name, f, p0, p1, differentiable) : NULL;
        rp_tensor_release(f);
        return r;
    }
    rp_tensor *out = rp_empty_uninit(RP_F32, x->ndim, x->shape);
    if (!out) return NULL;
    un_ctx c = {op, p0, p1};
    apply(out, x, NULL, row_unary, &c);
    const rp_tensor *in[1] = {x};
    if (differentiable && rp_needs_grad(1, in)) {
        rp_node *node = rp_node_attach(out, name, unary_backward, 1, (rp_tensor *const *)in);
        if (!node || rp_node_save(node, x) || rp_node_save(node, out)) {
            rp_tensor_release(out);
            return NULL;
        }
        node->iargs[0] = op;
        node->dargs[0] = p0;
        node->dargs[1] = p1;
    }
    return out;
}

rp_tensor *rp_unary(rp_unop op, const rp_tensor *x)
{
    if ((unsigned)op >= RP_NUNARY) { rp_seterr("unary: unknown op %d", (int)op); return NULL; }
    return unary_impl(op, rp_unop_names[op], x, 0, 0, true);
}

rp_tensor *rp_clamp(const rp_tensor *x, double lo, double hi)
{
    if (isnan(lo)) lo = -INFINITY;
    if (isnan(hi)) hi = INFINITY;
    if (lo > hi) { rp_seterr("clamp: min %g is greater than max %g", lo, hi); return NULL; }
    return unary_impl(OP_CLAMP, "clamp", x, (float)lo, (float)hi, true);
}

rp_tensor *rp_pow_scalar(const rp_tensor *a, double p)
{
    return unary_impl(OP_POWS, "pow", a, (float)p, 0, true);
}

rp_tensor *rp_isnan(const rp_tensor *x) { return unary_impl(OP_ISNAN, "isnan", x, 0, 0, false); }
rp_tensor *rp_isinf(const rp_tensor *x) { return unary_impl(OP_ISINF, "isinf", x, 0, 0, false); }

/* ---- where ---- */

static int where_backward(rp_node *n, const rp_tensor *g, rp_tensor *gin[RP_NODE_MAXIN])
{
    const rp_tensor *c = n->saved[0];
    rp_tensor *z = rp_zeros(RP_F32, 0, NULL);
    if (!z) return -1;
    rp_tensor *ga = n->needs_grad[1] ? rp_where(c, g, z) : NULL;
    rp_tensor *gb = n->needs_grad[2] ? rp_where(c, z, g) : NULL;
    rp_tensor_release(z);
    if (n->needs_grad[1]) { gin[1] = reduce_to(ga, n->inputs[1]); if (!gin[1]) { rp_tensor_release(gb); return -1; } }
    if (n->needs_grad[2]) { gin[2] = reduce_to(gb, n->inputs[2]); if (!gin[2]) return -1; }
    return 0;
}

rp_tensor *rp_where(const rp_tensor *cond, const rp_tensor *a, const rp_tensor *b)
{
    int64_t s1[RP_MAXDIM], shape[RP_MAXDIM];
    int nd1 = rp_broadcast_shape("where", a, b, s1);
    if (nd1 < 0) return NULL;
    rp_tensor tmp = {.ndim = nd1};
    memcpy(tmp.shape, s1, sizeof s1);
    int nd = rp_broadcast_shape("where", cond, &tmp, shape);
    if (nd < 0) return NULL;
    rp_tensor *fa = rp_to_dtype(a, RP_F32), *fb = rp_to_dtype(b, RP_F32), *fc = rp_to_dtype(cond, RP_F32);
    rp_tensor *ea = fa ? rp_expand_view(fa, nd, shape) : NULL, *eb = fb ? rp_expand_view(fb, nd, shape) : NULL;
    rp_tensor *ec = fc ? rp_expand_view(fc, nd, shape) : NULL;
    rp_tensor *ca = ea ? rp_copy_contiguous(ea) : NULL, *cb = eb ? rp_copy_contiguous(eb) : NULL;
    rp_tensor *cc = ec ? rp_copy_contiguous(ec) : NULL;
    rp_tensor *out = ca && cb && cc ? rp_empty_uninit(RP_F32, nd, shape) : NULL;
    if (out) {
        int64_t n = rp_numel(out);
        const float *pa = RP_F32P(ca), *pb = RP_F32P(cb), *pc = RP_F32P(cc);
        float *po = RP_F32P(out);
        #pragma omp parallel for schedule(static) if (n > RP_PAR_MIN)
        for (int64_t i = 0; i < n; i++) po[i] = pc[i] != 0 ? pa[i] : pb[i];
    }
    rp_tensor *tmps[] = {fa, fb, fc, ea, eb, ec, ca, cb, cc};
    for (size_t i = 0; i < sizeof tmps / sizeof tmps[0]; i++) rp_tensor_release(tmps[i]);
    const rp_tensor *in[3] = {cond, a, b};
    if (out && (a->requires_grad || b->requires_grad) && rp_needs_grad(3, in)) {
        rp_tensor *ins[3] = {NULL, (rp_tensor *)a, (rp_tensor *)b};
        rp_node *node = rp_node_attach(out, "where", where_backward, 3, ins);
        if (!node || rp_node_save(node, cond)) { rp_tensor_release(out); return NULL; }
    }
    return out;
}

/* ---- dtype conversion ---- */

static int to_backward(rp_node *n, const rp_tensor *g, rp_tensor *gin[RP_NODE_MAXIN])
{
    (void)n;
    gin[0] = rp_copy_contiguous(g);
    return gin[0] ? 0 : -1;
}

static double sat(double v, double lo, double hi)
{
    if (isnan(v)) return 0;
    return v < lo ? lo : v > hi ? hi : v;
}

rp_tensor *rp_to_dtype(const rp_tensor *x, rp_dtype dtype)
{
    if ((unsigned)dtype >= RP_NDTYPES) { rp_seterr("to: unknown dtype %d", (int)dtype); return NULL; }
    if (x->dtype == dtype && dtype != RP_F32) return rp_copy_contiguous(x);
    rp_tensor *c = rp_copy_contiguous(x);
    if (!c) return NULL;
    rp_tensor *out = c;
    if (x->dtype != dtype) {
        out = rp_empty_uninit(dtype, x->ndim, x->shape);
        if (!out) { rp_tensor_release(c); return NULL; }
        int64_t n = rp_numel(c);
        for (int64_t i = 0; i < n; i++) {
            double v = c->dtype == RP_F32 ? RP_F32P(c)[i] : c->dtype == RP_I32 ? RP_I32P(c)[i] : RP_U8P(c)[i];
            if (dtype == RP_F32) RP_F32P(out)[i] = (float)v;
            else if (dtype == RP_I32) RP_I32P(out)[i] = (int32_t)sat(trunc(v), -2147483648.0, 2147483647.0);
            else RP_U8P(out)[i] = (uint8_t)sat(trunc(v), 0, 255);
        }
        rp_tensor_release(c);
    }
    const rp_tensor *in[1] = {x};
    if (dtype == RP_F32 && x->dtype == RP_F32 && rp_needs_grad(1, in)) {
        if (!rp_node_attach(out, "float", to_backward, 1, (rp_tensor *const *)in)) {
            rp_tensor_release(out);
            return NULL;
        }
    }
    return out;
}

/* ---- in-place assignment ---- */

int rp_assign(rp_tensor *dst, const rp_tensor *src)
{
    int64_t shape[RP_MAXDIM];
    int nd = rp_broadcast_shape("assign", dst, src, shape);
    if (nd < 0) return -1;
    if (nd != dst->ndim || memcmp(shape, dst->shape, sizeof(int64_t) * (size_t)nd) != 0) {
        char a[RP_SHAPE_STRLEN], b[RP_SHAPE_STRLEN];
        return rp_seterr("assign: a value of shape %s does not fit a destination of shape %s",
                         rp_shape_str(src, b, sizeof b), rp_shape_str(dst, a, sizeof a));
    }
    /* copy first: src may alias dst */
    rp_tensor *c = rp_to_dtype(src, dst->dtype);
    if (!c) return -1;
    rp_tensor *e = rp_expand_view(c, nd, shape);
    int rc = e ? rp_copy_into(dst, e) : -1;
    rp_tensor_release(e);
    rp_tensor_release(c);
    if (rc == 0) rp_bump_version(dst);
    return rc;
}
