/* optim.c: the optimizer table and what is driven by it: names, defaults,
 * validation, state layout and the step. Each optimizer is one entry in its
 * own file (optim_sgd.c, optim_adamw.c, optim_adafactor.c, optim_shampoo.c,
 * optim_soap.c); the state helpers they use are optim_state.c's. */
#include "optim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const rp_optim_entry *const rp_optim_table[RP_OPT_NKINDS] = {
    [RP_OPT_SGD] = &rp_optim_sgd, [RP_OPT_ADAMW] = &rp_optim_adamw,
    [RP_OPT_ADAFACTOR] = &rp_optim_adafactor, [RP_OPT_SHAMPOO] = &rp_optim_shampoo,
    [RP_OPT_SOAP] = &rp_optim_soap,
};
_Static_assert(sizeof rp_optim_table / sizeof rp_optim_table[0] == RP_OPT_NKINDS, "one entry per kind");

const char *rp_optim_kind_name(rp_optim_kind kind)
{
    return (unsigned)kind < RP_OPT_NKINDS ? rp_optim_table[kind]->name : "?";
}

int rp_optim_kind_from_name(const char *name)
{
    for (int k = 0; name && k < RP_OPT_NKINDS; k++)
        if (strcmp(name, rp_optim_table[k]->name) == 0) return k;
    return -1;
}

const char *rp_optim_kind_names(void)
{
    static char buf[256];
    if (!buf[0]) {
        size_t off = 0;
        for (int k = 0; k < RP_OPT_NKINDS; k++)
            off += (size_t)snprintf(buf + off, sizeof buf - off, "%s%s", k ? ", " : "", rp_optim_table[k]->name);
    }
    return buf;
}

const rp_optim_opt *rp_optim_find_opt(rp_optim_kind kind, const char *name)
{
    if ((unsigned)kind >= RP_OPT_NKINDS || !name) return NULL;
    for (const rp_optim_opt *o = rp_optim_table[kind]->opts; o->name; o++)
        if (strcmp(o->name, name) == 0) return o;
    return NULL;
}

#define FIELD_(c, o, T) (*(T *)(void *)((char *)(c) + (o)->off))

void rp_optim_defaults(rp_optim_config *c, rp_optim_kind kind)
{
    memset(c, 0, sizeof *c);
    c->kind = kind;
    /* fields an optimizer does not take keep these neutral values */
    c->m_format = c->v_format = RP_MOM_F32;
    c->shampoo_beta = -1;
    c->max_precond_dim = 10000;
    c->correct_bias = true;
    if ((unsigned)kind >= RP_OPT_NKINDS) return;
    for (const rp_optim_opt *o = rp_optim_table[kind]->opts; o->name; o++) {
        switch (o->type) {
        case RP_OPTV_NUM: FIELD_(c, o, double) = o->def; break;
        case RP_OPTV_INT: FIELD_(c, o, int) = (int)o->def; break;
        case RP_OPTV_I64: FIELD_(c, o, int64_t) = (int64_t)o->def; break;
        case RP_OPTV_BOOL: FIELD_(c, o, bool) = o->def != 0; break;
        case RP_OPTV_FMT: FIELD_(c, o, rp_moment_format) = (rp_moment_format)o->def; break;
        case RP_OPTV_BETAS: c->beta1 = o->def; c->beta2 = o->def2; break;
        }
    }
}

static bool in_range(const rp_optim_opt *o, double x)
{
    if (isnan(x)) return false;
    if ((o->range & RP_RANGE_OR_MINUS1) && x == -1) return true;
    if ((o->range & RP_RANGE_FINITE) && !isfinite(x)) return false;
    if (o->range & RP_RANGE_LO_OPEN ? !(x > o->lo) : !(x >= o->lo)) return false;
    if (o->range & RP_RANGE_HI_OPEN ? !(x < o->hi) : !(x <= o->hi)) return false;
    return true;
}

int rp_optim_check_opt(const rp_optim_config *c, const rp_optim_opt *o)
{
    const char *k = rp_optim_kind_name(c->kind);
    double x;
    switch (o->type) {
    case RP_OPTV_BOOL: return 0;
    case RP_OPTV_FMT:
        return rp_moment_format_valid(FIELD_(c, o, rp_moment_format)) ? 0 : rp_seterr("%s: bad moment format", k);
    case RP_OPTV_BETAS:
        for (int i = 1; i <= 2; i++) {
            x = i == 1 ? c->beta1 : c->beta2;
            if (!in_range(o, x)) return rp_seterr("%s: betas[%d] must be %s, got %g", k, i, o->valid, x);
        }
        return 0;
    case RP_OPTV_NUM: x = FIELD_(c, o, double); break;
    case RP_OPTV_INT: x = FIELD_(c, o, int); break;
    case RP_OPTV_I64: x = (double)FIELD_(c, o, int64_t); break;
    default: return 0;
    }
    return in_range(o, x) ? 0 : rp_seterr("%s: %s must be %s, got %g", k, o->name, o->valid, x);
}

int rp_optim_check_config(const rp_optim_config *c)
{
    if ((unsigned)c->kind >= RP_OPT_NKINDS) return rp_seterr("optim: unknown optimizer kind %d", (int)c->kind);
    const rp_optim_entry *e = rp_optim_table[c->kind];
    for (const rp_optim_opt *o = e->opts; o->name; o++)
        if (rp_optim_check_opt(c, o)) return -1;
    if (e->check && e->check(c)) return -1;
    if (!rp_moment_format_valid(c->m_format) || !rp_moment_format_valid(c->v_format))
        return rp_seterr("%s: bad moment format", e->name);
    if ((c->m_format != RP_MOM_F32 || c->v_format != RP_MOM_F32) && !rp_optim_find_opt(c->kind, "m_format"))
        return rp_seterr("%s: low-precision moments (m_format/v_format) are supported by adamw and soap only", e->name);
    return 0;
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
    if (rp_optim_table[c->kind]->init(st, c, p)) { rp_optim_state_free(st); return NULL; }
    return st;
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
    if ((unsigned)c->kind >= RP_OPT_NKINDS) return rp_seterr("optim: unknown kind %d", (int)c->kind);
    if (st->kind != c->kind)
        return rp_seterr("%s: state belongs to a %s optimizer", k, rp_optim_kind_name(st->kind));
    if (p->dtype != RP_F32 || g->dtype != RP_F32 || !rp_is_contiguous(p) || !rp_is_contiguous(g))
        return rp_seterr("%s: parameter and gradient must be contiguous f32 tensors", k);
    if (!rp_same_shape(p, g))
        return rp_seterr("%s: gradient shape %s does not match parameter shape %s", k,
                         rp_shape_str(g, s1, sizeof s1), rp_shape_str(p, s2, sizeof s2));
    int rc = rp_optim_table[c->kind]->step(p, g, st, c);
    rp_bump_version(p);
    return rc;
}
