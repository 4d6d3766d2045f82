/* optim.c: configuration, state management, and the elementwise optimizers
 * (sgd, adamw, adafactor). The preconditioned ones live in optim_soap.c. */
#include "optim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[RP_OPT_NKINDS] = {
    [RP_OPT_SGD] = "sgd", [RP_OPT_ADAMW] = "adamw", [RP_OPT_ADAFACTOR] = "adafactor",
    [RP_OPT_SHAMPOO] = "shampoo", [RP_OPT_SOAP] = "soap",
};
_Static_assert(sizeof kind_names / sizeof kind_names[0] == RP_OPT_NKINDS, "one name per kind");

const char *rp_optim_kind_name(rp_optim_kind kind)
{
    return (unsigned)kind < RP_OPT_NKINDS ? kind_names[kind] : "?";
}

void rp_optim_defaults(rp_optim_config *c, rp_optim_kind kind)
{
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->m_format = c->v_format = RP_MOM_F32;
    c->shampoo_beta = -1;
    c->max_precond_dim = 10000;
    c->correct_bias = true;
    switch (kind) {
    case RP_OPT_SGD:
        c->lr = 1e-3;
        break;
    case RP_OPT_ADAMW: /* torch.optim.AdamW */
        c->lr = 1e-3; c->beta1 = 0.9; c->beta2 = 0.999; c->eps = 1e-8; c->weight_decay = 0.01;
        break;
    case RP_OPT_ADAFACTOR: /* Shazeer & Stern 2018, explicit lr */
        c->lr = 1e-2; c->beta1 = 0; c->decay_rate = -0.8; c->clip_threshold = 1.0;
        c->eps = 1e-30; c->eps2 = 1e-3;
        break;
    case RP_OPT_SHAMPOO:
        c->lr = 3e-3; c->beta1 = 0.95; c->beta2 = 0.95; c->eps = 1e-8; c->weight_decay = 0.01;
        c->precondition_frequency = 10; c->exponent = -0.25; c->matrix_eps = 1e-6; c->graft = true;
        c->matrix_eps_relative = true; c->start_preconditioning_step = 1;
        break;
    case RP_OPT_SOAP: /* nikhilvyas/SOAP soap.py defaults */
        c->lr = 3e-3; c->beta1 = 0.95; c->beta2 = 0.95; c->eps = 1e-8; c->weight_decay = 0.01;
        c->precondition_frequency = 10;
        break;
    default:
        break;
    }
}

int rp_optim_check_config(const rp_optim_config *c)
{
    const char *k = rp_optim_kind_name(c->kind);
    if ((unsigned)c->kind >= RP_OPT_NKINDS) return rp_seterr("optim: unknown optimizer kind %d", (int)c->kind);
    if (!(c->lr >= 0) || !isfinite(c->lr)) return rp_seterr("%s: lr must be a finite number >= 0, got %g", k, c->lr);
    if (!(c->weight_decay >= 0) || !isfinite(c->weight_decay))
        return rp_seterr("%s: weight_decay must be >= 0, got %g", k, c->weight_decay);
    if (!(c->eps >= 0) || !isfinite(c->eps)) return rp_seterr("%s: eps must be >= 0, got %g", k, c->eps);
    if (!(c->beta1 >= 0 && c->beta1 < 1)) return rp_seterr("%s: betas[1] must be in [0, 1), got %g", k, c->beta1);
    if (c->kind != RP_OPT_SGD && c->kind != RP_OPT_ADAFACTOR && !(c->beta2 >= 0 && c->beta2 < 1))
        return rp_seterr("%s: betas[2] must be in [0, 1), got %g", k, c->beta2);
    if (c->kind == RP_OPT_SGD) {
        if (!(c->momentum >= 0) || !isfinite(c->momentum)) return rp_seterr("sgd: momentum must be >= 0, got %g", c->momentum);
        if (!(c->dampening >= 0 && c->dampening <= 1)) return rp_seterr("sgd: dampening must be in [0, 1], got %g", c->dampening);
        if (c->nesterov && (c->momentum <= 0 || c->dampening != 0))
            return rp_seterr("sgd: nesterov needs momentum > 0 and dampening 0 (momentum %g, dampening %g)",
                             c->momentum, c->dampening);
    }
    if (c->kind == RP_OPT_ADAFACTOR) {
        if (!(c->decay_rate < 0 && c->decay_rate >= -1)) return rp_seterr("adafactor: decay_rate must be in [-1, 0), got %g", c->decay_rate);
        if (!(c->clip_threshold > 0)) return rp_seterr("adafactor: clip_threshold must be > 0, got %g", c->clip_threshold);
    }
    if (c->kind == RP_OPT_SHAMPOO || c->kind == RP_OPT_SOAP) {
        if (c->shampoo_beta >= 1 || isnan(c->shampoo_beta))
            return rp_seterr("%s: shampoo_beta must be < 1 (negative: use betas[2]), got %g", k, c->shampoo_beta);
        if (c->precondition_frequency < 1)
            return rp_seterr("%s: precondition_frequency must be >= 1, got %d", k, c->precondition_frequency);
        if (c->max_precond_dim < 0) return rp_seterr("%s: max_precond_dim must be >= 0, got %lld", k, (long long)c->max_precond_dim);
    }
    if (c->kind == RP_OPT_SHAMPOO) {
        if (!(c->exponent < 0 && c->exponent >= -1)) return rp_seterr("shampoo: exponent must be in [-1, 0), got %g", c->exponent);
        if (!(c->matrix_eps >= 0) || !isfinite(c->matrix_eps))
            return rp_seterr("shampoo: matrix_eps must be a finite number >= 0, got %g", c->matrix_eps);
        if (c->start_preconditioning_step < 1 && c->start_preconditioning_step != -1)
            return rp_seterr("shampoo: start_preconditioning_step must be >= 1 or -1 (= precondition_frequency), got %d",
                             c->start_preconditioning_step);
    }
    if (!rp_moment_format_valid(c->m_format) || !rp_moment_format_valid(c->v_format))
        return rp_seterr("%s: bad moment format", k);
    if ((c->m_format != RP_MOM_F32 || c->v_format != RP_MOM_F32) && c->kind != RP_OPT_ADAMW && c->kind != RP_OPT_SOAP)
        return rp_seterr("%s: low-precision moments (m_format/v_format) are supported by adamw and soap only", k);
    return 0;
}

/* ---- state ---- */

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

static rp_tensor *zeros1(int64_t n) { return rp_zeros(RP_F32, 1, &n); }

/* A moment buffer and, for fp8 formats, its scale (scale 1 until the first store). */
static int add_moment(rp_optim_state *st, const char *name, rp_moment_format fmt, const rp_tensor *p)
{
    if (!rp_optim_state_add(st, name, rp_moment_new(fmt, rp_numel(p), p->shape, p->ndim))) return -1;
    if (rp_moment_format_coded(fmt)) {
        char sname[RP_OPTIM_NAMELEN];
        snprintf(sname, sizeof sname, "%s_scale", name);
        rp_tensor *s = rp_optim_state_add(st, sname, zeros1(1));
        if (!s) return -1;
        RP_F32P(s)[0] = 1.0f;
    }
    return 0;
}

static rp_tensor *moment_scale(const rp_optim_state *st, const char *name)
{
    char sname[RP_OPTIM_NAMELEN];
    snprintf(sname, sizeof sname, "%s_scale", name);
    return rp_optim_state_get(st, sname);
}

/* soap/shampoo geometry: SOAP's merge_dims (the f42d296c version: merge
 * consecutive dims while the product stays <= max_precond_dim). */
static void precond_geometry(rp_optim_state *st, const rp_optim_config *c, const rp_tensor *p)
{
    int nd = 0;
    if (c->kind == RP_OPT_SOAP && c->merge_dims && p->ndim > 1) {
        int64_t cur = 1;
        for (int d = 0; d < p->ndim; d++) {
            int64_t sh = p->shape[d], tmp = cur * sh;
            if (tmp > c->max_precond_dim) {
                if (cur > 1) { st->shape[nd++] = cur; cur = sh; }
                else { st->shape[nd++] = sh; cur = 1; }
            } else cur = tmp;
        }
        if (cur > 1 || nd == 0) st->shape[nd++] = cur;
    } else {
        for (int d = 0; d < p->ndim; d++) st->shape[nd++] = p->shape[d];
        if (nd == 0) st->shape[nd++] = 1; /* a scalar parameter is a 1-vector */
    }
    st->ndim = nd;
    /* soap.py's 1-d rule looks at the parameter, not the merged shape: a
     * matrix that merge_dims turns into one dimension is still rotated. */
    for (int d = 0; d < nd; d++)
        st->precond[d] = (p->ndim > 1 || c->precondition_1d) && st->shape[d] <= c->max_precond_dim;
}

rp_optim_state *rp_optim_state_new(const rp_optim_config *c, const rp_tensor *p)
{
    char s[RP_SHAPE_STRLEN];
    if (rp_optim_check_config(c) != 0) return NULL;
    if (p->dtype != RP_F32 || !rp_is_contiguous(p))
        return rp_seterr("%s: parameter must be a contiguous f32 tensor (shape %s, dtype %s)",
                         rp_optim_kind_name(c->kind), rp_shape_str(p, s, sizeof s),
                         rp_dtype_info[p->dtype].name), NULL;
    rp_optim_state *st = calloc(1, sizeof *st);
    if (!st) return rp_seterr("optim: out of memory"), NULL;
    st->kind = c->kind;
    int rc = 0;
    int64_t n = rp_numel(p);
    switch (c->kind) {
    case RP_OPT_SGD:
        if (c->momentum > 0) rc = rp_optim_state_add(st, "momentum_buffer", zeros1(n)) ? 0 : -1;
        break;
    case RP_OPT_ADAMW:
        rc = add_moment(st, "exp_avg", c->m_format, p);
        if (!rc) rc = add_moment(st, "exp_avg_sq", c->v_format, p);
        break;
    case RP_OPT_ADAFACTOR:
        if (c->beta1 > 0) rc = rp_optim_state_add(st, "exp_avg", zeros1(n)) ? 0 : -1;
        if (!rc && p->ndim >= 2) {
            int64_t cols = p->shape[p->ndim - 1], rows = cols ? n / cols : 0;
            rc = rp_optim_state_add(st, "exp_avg_sq_row", zeros1(rows)) ? 0 : -1;
            if (!rc) rc = rp_optim_state_add(st, "exp_avg_sq_col", zeros1(cols)) ? 0 : -1;
        } else if (!rc) {
            rc = rp_optim_state_add(st, "exp_avg_sq", zeros1(n)) ? 0 : -1;
        }
        break;
    case RP_OPT_SHAMPOO:
    case RP_OPT_SOAP: {
        rc = add_moment(st, "exp_avg", c->m_format, p);
        if (!rc) rc = add_moment(st, "exp_avg_sq", c->v_format, p);
        precond_geometry(st, c, p);
        for (int d = 0; !rc && d < st->ndim; d++) {
            if (!st->precond[d]) continue;
            int64_t sq[2] = {st->shape[d], st->shape[d]};
            char name[RP_OPTIM_NAMELEN];
            snprintf(name, sizeof name, "GG%d", d);
            rc = rp_optim_state_add(st, name, rp_zeros(RP_F32, 2, sq)) ? 0 : -1;
            snprintf(name, sizeof name, c->kind == RP_OPT_SOAP ? "Q%d" : "root%d", d);
            if (!rc) rc = rp_optim_state_add(st, name, rp_zeros(RP_F32, 2, sq)) ? 0 : -1;
        }
        break;
    }
    default:
        rc = rp_seterr("optim: unknown kind");
    }
    if (rc) { rp_optim_state_free(st); return NULL; }
    return st;
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

int64_t rp_first_nonfinite_f32(const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return i;
    return -1;
}

/* ---- elementwise optimizers (plain loops, fixed order) ---- */

/* PyTorch SGD: g += wd*p; buf = g (first step) or momentum*buf + (1-dampening)*g;
 * d = nesterov ? g + momentum*buf : buf; p -= lr*d. */
static void sgd_kernel(float *p, float *buf, const float *g, int64_t n, const rp_optim_config *c, bool first)
{
    float lr = (float)c->lr, wd = (float)c->weight_decay, mu = (float)c->momentum;
    float damp = 1.0f - (float)c->dampening;
    for (int64_t i = 0; i < n; i++) {
        float d = g[i];
        if (wd != 0) d += wd * p[i];
        if (buf) {
            buf[i] = first ? d : mu * buf[i] + damp * d;
            d = c->nesterov ? d + mu * buf[i] : buf[i];
        }
        p[i] -= lr * d;
    }
}

/* PyTorch AdamW (single-tensor path): p *= 1 - lr*wd; m = lerp(m, g, 1-b1);
 * v = b2*v + (1-b2)*g*g; p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps). */
static void adamw_kernel(float *p, float *m, float *v, const float *g, int64_t n,
                         const rp_optim_config *c, int64_t t)
{
    double bc1 = 1.0 - pow(c->beta1, (double)t), bc2 = 1.0 - pow(c->beta2, (double)t);
    float step_size = (float)(c->lr / bc1), bc2_sqrt = (float)sqrt(bc2);
    float decay = (float)(1.0 - c->lr * c->weight_decay), b1c = (float)(1.0 - c->beta1);
    float b2 = (float)c->beta2, b2c = (float)(1.0 - c->beta2), eps = (float)c->eps;
    for (int64_t i = 0; i < n; i++) {
        if (c->weight_decay != 0) p[i] *= decay;
        m[i] += b1c * (g[i] - m[i]);
        v[i] = b2 * v[i] + b2c * g[i] * g[i];
        float denom = sqrtf(v[i]) / bc2_sqrt + eps;
        p[i] -= step_size * (m[i] / denom);
    }
}

/* Adafactor for a (rows, cols) matrix view or a vector (rows = 0). */
static void adafactor_step(float *p, const float *g, rp_optim_state *st, const rp_optim_config *c,
                           int64_t rows, int64_t cols, float *u)
{
    int64_t n = rows ? rows * cols : cols, t = st->step;
    float b2t = (float)(1.0 - pow((double)t, c->decay_rate));
    float eps1 = (float)c->eps;
    if (rows) {
        float *r = RP_F32P(rp_optim_state_get(st, "exp_avg_sq_row"));
        float *cc = RP_F32P(rp_optim_state_get(st, "exp_avg_sq_col"));
        for (int64_t i = 0; i < rows; i++) {
            double s = 0;
            for (int64_t j = 0; j < cols; j++) s += (double)g[i * cols + j] * g[i * cols + j] + eps1;
            r[i] = b2t * r[i] + (1 - b2t) * (float)(s / (double)cols);
        }
        for (int64_t j = 0; j < cols; j++) {
            double s = 0;
            for (int64_t i = 0; i < rows; i++) s += (double)g[i * cols + j] * g[i * cols + j] + eps1;
            cc[j] = b2t * cc[j] + (1 - b2t) * (float)(s / (double)rows);
        }
        double rmean = 0;
        for (int64_t i = 0; i < rows; i++) rmean += r[i];
        rmean /= (double)rows;
        /* v̂_ij = r_i c_j / mean(r): the rank-1 estimate of the second moment. */
        for (int64_t i = 0; i < rows; i++)
            for (int64_t j = 0; j < cols; j++) {
                double vhat = (double)r[i] * cc[j] / rmean;
                u[i * cols + j] = (float)(g[i * cols + j] / sqrt(vhat));
            }
    } else {
        float *v = RP_F32P(rp_optim_state_get(st, "exp_avg_sq"));
        for (int64_t i = 0; i < n; i++) {
            v[i] = b2t * v[i] + (1 - b2t) * (g[i] * g[i] + eps1);
            u[i] = g[i] / sqrtf(v[i]);
        }
    }
    double ss = 0;
    for (int64_t i = 0; i < n; i++) ss += (double)u[i] * u[i];
    double rms = n ? sqrt(ss / (double)n) : 0;
    float clip = (float)fmax(1.0, rms / c->clip_threshold);
    rp_tensor *mt = rp_optim_state_get(st, "exp_avg");
    float *m = mt ? RP_F32P(mt) : NULL;
    float lr = (float)c->lr, decay = (float)(1.0 - c->lr * c->weight_decay), b1 = (float)c->beta1;
    for (int64_t i = 0; i < n; i++) {
        float d = u[i] / clip;
        if (m) { m[i] = b1 * m[i] + (1 - b1) * d; d = m[i]; }
        if (c->weight_decay != 0) p[i] *= decay;
        p[i] -= lr * d;
    }
}

int rp_optim_step(rp_tensor *p, const rp_tensor *g, rp_optim_state *st, const rp_optim_config *c)
{
    char s1[RP_SHAPE_STRLEN], s2[RP_SHAPE_STRLEN];
    const char *k = rp_optim_kind_name(c->kind);
    if (st->kind != c->kind)
        return rp_seterr("%s: state belongs to a %s optimizer", k, rp_optim_kind_name(st->kind));
    if (p->dtype != RP_F32 || g->dtype != RP_F32 || !rp_is_contiguous(p) || !rp_is_contiguous(g))
        return rp_seterr("%s: parameter and gradient must be contiguous f32 tensors", k);
    if (!rp_same_shape(p, g))
        return rp_seterr("%s: gradient shape %s does not match parameter shape %s", k,
                         rp_shape_str(g, s1, sizeof s1), rp_shape_str(p, s2, sizeof s2));
    if (rp_optim_check_config(c) != 0) return -1;
    int64_t n = rp_numel(p);
    int64_t bad = rp_first_nonfinite_f32(RP_F32P(g), n);
    if (bad >= 0)
        return rp_seterr("%s: non-finite gradient (element %lld is %g); step refused, nothing changed", k,
                         (long long)bad, (double)RP_F32P(g)[bad]);
    return rp_optim_step_checked(p, g, st, c);
}

int rp_optim_step_checked(rp_tensor *p, const rp_tensor *g, rp_optim_state *st, const rp_optim_config *c)
{
    char s1[RP_SHAPE_STRLEN], s2[RP_SHAPE_STRLEN];
    const char *k = rp_optim_kind_name(c->kind);
    if (st->kind != c->kind)
        return rp_seterr("%s: state belongs to a %s optimizer", k, rp_optim_kind_name(st->kind));
    if (p->dtype != RP_F32 || g->dtype != RP_F32 || !rp_is_contiguous(p) || !rp_is_contiguous(g))
        return rp_seterr("%s: parameter and gradient must be contiguous f32 tensors", k);
    if (!rp_same_shape(p, g))
        return rp_seterr("%s: gradient shape %s does not match parameter shape %s", k,
                         rp_shape_str(g, s1, sizeof s1), rp_shape_str(p, s2, sizeof s2));
    int64_t n = rp_numel(p);
    float *pp = RP_F32P(p);
    const float *gg = RP_F32P(g);
    int rc = 0;
    switch (c->kind) {
    case RP_OPT_SGD: {
        rp_tensor *b = rp_optim_state_get(st, "momentum_buffer");
        if (c->momentum > 0 && !b) return rp_seterr("sgd: state has no momentum_buffer");
        sgd_kernel(pp, c->momentum > 0 ? RP_F32P(b) : NULL, gg, n, c, st->step == 0);
        st->step++;
        break;
    }
    case RP_OPT_ADAMW: {
        rp_tensor *mb = rp_optim_state_get(st, "exp_avg"), *vb = rp_optim_state_get(st, "exp_avg_sq");
        if (!mb || !vb) return rp_seterr("adamw: state has no exp_avg/exp_avg_sq");
        bool direct = c->m_format == RP_MOM_F32 && c->v_format == RP_MOM_F32;
        float *m = direct ? RP_F32P(mb) : malloc(sizeof(float) * (size_t)(n ? n : 1));
        float *v = direct ? RP_F32P(vb) : malloc(sizeof(float) * (size_t)(n ? n : 1));
        if (!m || !v) rc = rp_seterr("adamw: out of memory");
        rp_tensor *ms = moment_scale(st, "exp_avg"), *vs = moment_scale(st, "exp_avg_sq");
        if (!rc && !direct) {
            rc = rp_moment_load(m, mb, ms, c->m_format, n);
            if (!rc) rc = rp_moment_load(v, vb, vs, c->v_format, n);
        }
        if (!rc) {
            st->step++;
            adamw_kernel(pp, m, v, gg, n, c, st->step);
            if (!direct) {
                rc = rp_moment_store(mb, ms, m, c->m_format, n);
                if (!rc) rc = rp_moment_store(vb, vs, v, c->v_format, n);
            }
        }
        if (!direct) { free(m); free(v); }
        break;
    }
    case RP_OPT_ADAFACTOR: {
        float *u = malloc(sizeof(float) * (size_t)(n ? n : 1));
        if (!u) return rp_seterr("adafactor: out of memory");
        st->step++;
        int64_t cols = p->ndim >= 2 ? p->shape[p->ndim - 1] : n;
        int64_t rows = p->ndim >= 2 ? (cols ? n / cols : 0) : 0;
        if (n > 0) adafactor_step(pp, gg, st, c, rows, cols, u);
        free(u);
        break;
    }
    case RP_OPT_SHAMPOO:
        rc = rp_optim_shampoo_step(p, g, st, c);
        break;
    case RP_OPT_SOAP:
        rc = rp_optim_soap_step(p, g, st, c);
        break;
    default:
        rc = rp_seterr("optim: unknown kind %d", (int)c->kind);
    }
    rp_bump_version(p);
    return rc;
}
