/* l_optim.c: repro.core.optim, the C half of repro.optim. Two userdata:
 * a validated configuration (one per parameter group) and a per-parameter
 * state. repro/optim.lua builds the optimizer object on top. */
#include "l_common.h"
#include "optim.h"

#include <math.h>
#include <string.h>

#define CFG_MT "repro.OptimConfig"
#define STATE_MT "repro.OptimState"

typedef struct { rp_optim_state *st; } l_state;

static int kind_from_name(lua_State *L, int idx)
{
    const char *name = luaL_checkstring(L, idx);
    int k = rp_optim_kind_from_name(name);
    if (k < 0)
        return luaL_error(L, "optim: unknown optimizer '%s' (valid: %s)", name, rp_optim_kind_names());
    return k;
}

static bool get_num(lua_State *L, int t, const char *fn, const char *key, double *out)
{
    lua_getfield(L, t, key);
    bool set = !lua_isnil(L, -1);
    if (set) {
        if (!lua_isnumber(L, -1))
            luaL_error(L, "%s: option %s must be a number, got %s", fn, key, luaL_typename(L, -1));
        *out = lua_tonumber(L, -1);
    }
    lua_pop(L, 1);
    return set;
}

static void get_bool(lua_State *L, int t, const char *fn, const char *key, bool *out)
{
    lua_getfield(L, t, key);
    if (!lua_isnil(L, -1)) {
        if (!lua_isboolean(L, -1))
            luaL_error(L, "%s: option %s must be a boolean, got %s", fn, key, luaL_typename(L, -1));
        *out = lua_toboolean(L, -1);
    }
    lua_pop(L, 1);
}

static void get_format(lua_State *L, int t, const char *fn, const char *key, rp_moment_format *out)
{
    lua_getfield(L, t, key);
    if (!lua_isnil(L, -1)) {
        const char *s = lua_tostring(L, -1);
        int f = s ? rp_moment_format_from_name(s) : -1;
        if (f < 0)
            luaL_error(L, "%s: %s must be fp32, bf16 or a format with codes (%s), got %s", fn, key,
                       rp_fp8_format_names(), s ? s : luaL_typename(L, -1));
        *out = (rp_moment_format)f;
    }
    lua_pop(L, 1);
}

#define FIELD_(c, o, T) (*(T *)(void *)((char *)(c) + (o)->off))

/* Read cfg table at t into c (defaults already in c), driven by the kind's
 * option descriptors (core/optim.h): the names an unknown key is checked
 * against and listed in the message, the types, the fields. Ranges are
 * checked after, by rp_optim_check_config, from the same descriptors. */
static void read_config(lua_State *L, int t, rp_optim_config *c)
{
    const char *fn = rp_optim_kind_name(c->kind);
    const rp_optim_opt *opts = rp_optim_table[c->kind]->opts;
    const char *valid[40];
    int nv = 0;
    for (const rp_optim_opt *o = opts; o->name && nv < 39; o++) valid[nv++] = o->name;
    valid[nv] = NULL;
    l_checkoptions(L, t, fn, valid);
    if (lua_isnoneornil(L, t)) return;
    double x;
    for (const rp_optim_opt *d = opts; d->name; d++) {
        switch (d->type) {
        case RP_OPTV_NUM: get_num(L, t, fn, d->name, &FIELD_(c, d, double)); break;
        case RP_OPTV_BOOL: get_bool(L, t, fn, d->name, &FIELD_(c, d, bool)); break;
        case RP_OPTV_FMT: get_format(L, t, fn, d->name, &FIELD_(c, d, rp_moment_format)); break;
        case RP_OPTV_INT:
            if (get_num(L, t, fn, d->name, &x)) {
                if (x != (double)(int)x) luaL_error(L, "%s: %s must be an integer, got %g", fn, d->name, x);
                FIELD_(c, d, int) = (int)x;
            }
            break;
        case RP_OPTV_I64:
            if (get_num(L, t, fn, d->name, &x)) {
                if (!(x >= -1e15 && x <= 1e15) || x != (double)(int64_t)x)
                    luaL_error(L, "%s: %s must be an integer, got %g", fn, d->name, x);
                FIELD_(c, d, int64_t) = (int64_t)x;
            }
            break;
        case RP_OPTV_BETAS:
            lua_getfield(L, t, d->name);
            if (!lua_isnil(L, -1)) {
                if (!lua_istable(L, -1) || lua_rawlen(L, -1) != 2)
                    luaL_error(L, "%s: betas must be a table of two numbers", fn);
                for (int i = 1; i <= 2; i++) {
                    lua_rawgeti(L, -1, i);
                    if (!lua_isnumber(L, -1)) luaL_error(L, "%s: betas[%d] must be a number", fn, i);
                    *(i == 1 ? &c->beta1 : &c->beta2) = lua_tonumber(L, -1);
                    lua_pop(L, 1);
                }
            }
            lua_pop(L, 1);
            break;
        }
    }
}

/* config(kind, tbl) -> validated configuration userdata */
static int l_config(lua_State *L)
{
    int kind = kind_from_name(L, 1);
    rp_optim_config *c = lua_newuserdatauv(L, sizeof *c, 0);
    rp_optim_defaults(c, (rp_optim_kind)kind);
    luaL_setmetatable(L, CFG_MT);
    read_config(L, 2, c);
    if (rp_optim_check_config(c) != 0) return l_corerror(L);
    return 1;
}

static rp_optim_config *checkcfg(lua_State *L, int i) { return luaL_checkudata(L, i, CFG_MT); }

/* cfg:set(tbl): change options (validated; unchanged on error) */
static int cfg_set(lua_State *L)
{
    rp_optim_config *c = checkcfg(L, 1), tmp = *c;
    luaL_checktype(L, 2, LUA_TTABLE);
    read_config(L, 2, &tmp);
    if (rp_optim_check_config(&tmp) != 0) return l_corerror(L);
    *c = tmp;
    return 0;
}

/* cfg:get() -> table of the hyper-parameters this kind uses */
static int cfg_get(lua_State *L)
{
    rp_optim_config *c = checkcfg(L, 1);
    lua_newtable(L);
    for (const rp_optim_opt *d = rp_optim_table[c->kind]->opts; d->name; d++) {
        switch (d->type) {
        case RP_OPTV_NUM: lua_pushnumber(L, FIELD_(c, d, double)); break;
        case RP_OPTV_INT: lua_pushinteger(L, FIELD_(c, d, int)); break;
        case RP_OPTV_I64: lua_pushinteger(L, FIELD_(c, d, int64_t)); break;
        case RP_OPTV_BOOL: lua_pushboolean(L, FIELD_(c, d, bool)); break;
        case RP_OPTV_FMT: lua_pushstring(L, rp_moment_format_name(FIELD_(c, d, rp_moment_format))); break;
        case RP_OPTV_BETAS:
            lua_createtable(L, 2, 0);
            lua_pushnumber(L, c->beta1); lua_rawseti(L, -2, 1);
            lua_pushnumber(L, c->beta2); lua_rawseti(L, -2, 2);
            break;
        }
        lua_setfield(L, -2, d->name);
    }
    lua_pushstring(L, rp_optim_kind_name(c->kind));
    lua_setfield(L, -2, "kind");
    return 1;
}

/* ---- per-parameter state ---- */

static l_state *checkstate(lua_State *L, int i)
{
    l_state *u = luaL_checkudata(L, i, STATE_MT);
    if (!u->st) luaL_error(L, "optimizer state used after it was closed");
    return u;
}

/* state(cfg, param) -> new zeroed state for param */
static int l_state_new(lua_State *L)
{
    rp_optim_config *c = checkcfg(L, 1);
    rp_tensor *p = l_checktensor(L, 2);
    l_state *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->st = NULL;
    luaL_setmetatable(L, STATE_MT);
    u->st = rp_optim_state_new(c, p);
    if (!u->st) return l_corerror(L);
    return 1;
}

static int state_gc(lua_State *L)
{
    l_state *u = luaL_checkudata(L, 1, STATE_MT);
    rp_optim_state_free(u->st);
    u->st = NULL;
    return 0;
}

/* step(cfg, state, param [, checked]) -> true if stepped, false if param has
 * no .grad. The config userdata was validated when made (l_config, cfg_set),
 * so it is not validated again; checked = true: the caller has scanned the
 * gradient for NaN/Inf this step (Optimizer:step does, over all parameters). */
static int l_step(lua_State *L)
{
    rp_optim_config *c = checkcfg(L, 1);
    l_state *u = checkstate(L, 2);
    rp_tensor *p = l_checktensor(L, 3);
    bool checked = lua_toboolean(L, 4);
    if (!p->grad) { lua_pushboolean(L, 0); return 1; }
    rp_tensor *g = p->grad;
    if (g->dtype != RP_F32) return luaL_error(L, "optim: gradient must be f32, got %s", rp_dtype_info[g->dtype].name);
    if (rp_is_contiguous(g)) rp_tensor_retain(g);
    else if (!(g = rp_copy_contiguous(g))) return l_corerror(L);
    int rc;
    if (checked) {
        rc = rp_optim_step_checked(p, g, u->st, c);
    } else {
        int64_t bad = rp_first_nonfinite_f32(RP_F32P(g), rp_numel(g));
        rc = bad >= 0 ? rp_seterr("%s: non-finite gradient (element %lld is %g); step refused, nothing changed",
                                  rp_optim_kind_name(c->kind), (long long)bad, (double)RP_F32P(g)[bad])
                      : rp_optim_step_checked(p, g, u->st, c);
    }
    rp_tensor_release(g);
    if (rc != 0) return l_corerror(L);
    lua_pushboolean(L, 1);
    return 1;
}

/* grad_is_finite(param) -> true if param has no .grad or a finite one */
static int l_grad_is_finite(lua_State *L)
{
    rp_tensor *p = l_checktensor(L, 1);
    bool ok = true;
    if (p->grad) {
        rp_tensor *g = p->grad;
        if (g->dtype != RP_F32) return luaL_error(L, "optim: gradient must be f32, got %s", rp_dtype_info[g->dtype].name);
        if (rp_is_contiguous(g)) ok = rp_first_nonfinite_f32(RP_F32P(g), rp_numel(g)) < 0;
        else
            for (int64_t i = 0, n = rp_numel(g); ok && i < n; i++) ok = isfinite(rp_get_flat(g, i));
    }
    lua_pushboolean(L, ok);
    return 1;
}

/* zero_grad(param): drop the accumulated gradient (set_to_none semantics) */
static int l_zero_grad(lua_State *L)
{
    rp_tensor *p = l_checktensor(L, 1);
    rp_tensor_release(p->grad);
    p->grad = NULL;
    return 0;
}

/* state:buffers() -> {name = copy of tensor}, step, started */
static int state_buffers(lua_State *L)
{
    l_state *u = checkstate(L, 1);
    lua_newtable(L);
    for (int i = 0; i < u->st->nbuf; i++) {
        l_pushtensor(L, rp_copy_contiguous(u->st->buf[i]));
        lua_setfield(L, -2, u->st->names[i]);
    }
    lua_pushinteger(L, u->st->step);
    lua_pushinteger(L, u->st->started);
    return 3;
}

/* state:load(buffers, step, started): every buffer must be present with its
 * shape and dtype; nothing changes unless all match. */
static int state_load(lua_State *L)
{
    l_state *u = checkstate(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_Integer step = luaL_checkinteger(L, 3), started = luaL_checkinteger(L, 4);
    if (step < 0 || started < 0) return luaL_error(L, "load_state_dict: negative step counter");
    rp_optim_state *st = u->st;
    rp_tensor *src[RP_OPTIM_MAXBUF];
    for (int i = 0; i < st->nbuf; i++) {
        lua_getfield(L, 2, st->names[i]);
        src[i] = l_totensor(L, -1);
        lua_pop(L, 1); /* the table keeps the tensor alive */
        char s1[RP_SHAPE_STRLEN], s2[RP_SHAPE_STRLEN];
        if (!src[i]) return luaL_error(L, "load_state_dict: missing state tensor '%s'", st->names[i]);
        if (!rp_same_shape(src[i], st->buf[i]) || src[i]->dtype != st->buf[i]->dtype)
            return luaL_error(L, "load_state_dict: state tensor '%s' has shape %s dtype %s, expected %s %s",
                              st->names[i], rp_shape_str(src[i], s1, sizeof s1),
                              rp_dtype_info[src[i]->dtype].name, rp_shape_str(st->buf[i], s2, sizeof s2),
                              rp_dtype_info[st->buf[i]->dtype].name);
    }
    for (int i = 0; i < st->nbuf; i++)
        if (rp_copy_into(st->buf[i], src[i]) != 0) return l_corerror(L);
    st->step = step;
    st->started = started;
    return 0;
}

static int state_bytes(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)rp_optim_state_bytes(checkstate(L, 1)->st));
    return 1;
}

/* kinds() -> {"sgd", "adamw", ...}: the optimizer table's names in order
 * (the index is the id a state_dict stores). */
static int l_kinds(lua_State *L)
{
    lua_createtable(L, RP_OPT_NKINDS, 0);
    for (int k = 0; k < RP_OPT_NKINDS; k++) {
        lua_pushstring(L, rp_optim_kind_name((rp_optim_kind)k));
        lua_rawseti(L, -2, k + 1);
    }
    return 1;
}

static const luaL_Reg cfg_methods[] = {{"set", cfg_set}, {"get", cfg_get}, {NULL, NULL}};
static const luaL_Reg state_methods[] = {
    {"buffers", state_buffers}, {"load", state_load}, {"bytes", state_bytes}, {NULL, NULL}};
static const luaL_Reg fns[] = {
    {"config", l_config}, {"state", l_state_new}, {"step", l_step}, {"zero_grad", l_zero_grad},
    {"grad_is_finite", l_grad_is_finite}, {"kinds", l_kinds}, {NULL, NULL}};

int l_open_optim(lua_State *L)
{
    luaL_newmetatable(L, CFG_MT);
    luaL_newlib(L, cfg_methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    luaL_newmetatable(L, STATE_MT);
    luaL_newlib(L, state_methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, state_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, state_gc);
    lua_setfield(L, -2, "__close");
    lua_pop(L, 1);
    luaL_newlib(L, fns);
    return 1;
}
