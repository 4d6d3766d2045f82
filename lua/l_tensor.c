/* l_tensor.c: the tensor userdata and repro.core.tensor (creation, info,
 * RNG generators, autograd entry points; the op bindings and safetensors
 * I/O live in l_tensor_ops.c, argument checking in l_args.c).
 * 1-based dims and indices become 0-based in the bindings and nowhere else;
 * negative dims and indices count from the end (-1 is the last). */
#include "l_common.h"
#include "l_tensor_internal.h"
#include "autograd.h"
#include "ops.h"
#include "rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct { rp_tensor *t; } l_tensor;


/* Lua's GC sees only the small userdata, not the megabytes behind it
 * (house rule 8). A young collection every 64 MB of new tensors frees the
 * short-lived temporaries, but activations that live through a forward and
 * backward pass grow old and would wait for a major collection that Lua's own
 * accounting rarely starts: they lingered for several steps, and every fresh
 * buffer cost its page faults (65k faults, ~260 MB, per large-model training
 * step, measured). So a full collection also runs whenever live tensor memory
 * has doubled since the last one, as Lua's own pause does for its heap. */
#define GC_YOUNG_BYTES ((size_t)64 << 20)
#define GC_FULL_FLOOR ((size_t)128 << 20)
static size_t bytes_since_step;
static size_t full_gc_at = GC_FULL_FLOOR;

rp_tensor *l_totensor(lua_State *L, int idx)
{
    l_tensor *u = luaL_testudata(L, idx, L_TENSOR_MT);
    return u ? u->t : NULL;
}

rp_tensor *l_checktensor(lua_State *L, int idx)
{
    l_tensor *u = luaL_testudata(L, idx, L_TENSOR_MT);
    if (!u) {
        luaL_typeerror(L, idx, "tensor");
        return NULL;
    }
    if (!u->t) luaL_error(L, "bad argument #%d: tensor used after it was closed", idx);
    return u->t;
}

void l_pushtensor(lua_State *L, rp_tensor *t)
{
    if (!t) { l_corerror(L); return; }
    l_tensor *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->t = t;
    luaL_setmetatable(L, L_TENSOR_MT);
    bytes_since_step += (size_t)rp_numel(t) * rp_dtype_info[t->dtype].size;
    if (rp_live_bytes() > full_gc_at) {
        lua_gc(L, LUA_GCCOLLECT);
        size_t live = rp_live_bytes();
        full_gc_at = live > GC_FULL_FLOOR / 2 ? 2 * live : GC_FULL_FLOOR;
        bytes_since_step = 0;
    } else if (bytes_since_step > GC_YOUNG_BYTES) {
        bytes_since_step = 0;
        lua_gc(L, LUA_GCSTEP, (int)(GC_YOUNG_BYTES >> 10));
    }
}

#define CHK(L, i) l_checktensor(L, i)

typedef struct { int dtype; bool requires_grad; rp_generator *gen; } create_opts;

static create_opts read_opts(lua_State *L, int idx, const char *fn, int def_dtype)
{
    static const char *const valid[] = {"dtype", "requires_grad", "generator", NULL};
    create_opts o = {def_dtype, false, rp_default_generator()};
    if (lua_isnoneornil(L, idx)) return o;
    if (!lua_istable(L, idx) || l_totensor(L, idx))
        luaL_error(L, "%s: bad argument #%d (options table expected, got %s)", fn, idx, luaL_typename(L, idx));
    l_checkoptions(L, idx, fn, valid);
    lua_getfield(L, idx, "dtype");
    if (!lua_isnil(L, -1)) {
        const char *s = lua_tostring(L, -1);
        o.dtype = s && lua_type(L, -1) == LUA_TSTRING ? rp_dtype_from_name(s) : -1;
        if (o.dtype < 0) luaL_error(L, "%s: unknown dtype '%s' (f32, i32, u8)", fn, luaL_tolstring(L, -1, NULL));
    }
    lua_getfield(L, idx, "requires_grad");
    o.requires_grad = lua_toboolean(L, -1);
    lua_getfield(L, idx, "generator");
    if (!lua_isnil(L, -1)) {
        o.gen = l_togenerator(L, -1);
        if (!o.gen) luaL_error(L, "%s: option 'generator' must be a Generator (got %s)", fn, luaL_typename(L, -1));
    }
    lua_pop(L, 3);
    if (o.requires_grad && o.dtype != RP_F32)
        luaL_error(L, "%s: only f32 tensors can require grad (dtype %s)", fn, rp_dtype_info[o.dtype].name);
    return o;
}

static int push_created(lua_State *L, rp_tensor *t, const create_opts *o)
{
    if (t) t->requires_grad = o->requires_grad;
    return l_push1(L, t);
}

/* ---- creation ---- */

static int creator(lua_State *L, const char *fn, double fill, int kind)
{
    int64_t shape[RP_MAXDIM];
    int next;
    int nd = l_shape_args(L, 1, fn, shape, false, &next);
    if (!lua_isnoneornil(L, next + 1)) luaL_error(L, "%s: unexpected argument #%d", fn, next + 1);
    create_opts o = read_opts(L, next, fn, kind == 3 ? RP_F32 : RP_F32);
    rp_tensor *t = rp_empty(o.dtype, nd, shape);
    if (!t) return l_corerror(L);
    int rc = 0;
    if (kind == 1) rc = rp_fill(t, fill);
    else if (kind == 2) rc = o.dtype == RP_F32 ? rp_fill_uniform(t, o.gen, 0, 1) : rp_seterr("rand: dtype must be f32");
    else if (kind == 3) rc = o.dtype == RP_F32 ? rp_fill_normal(t, o.gen, 0, 1) : rp_seterr("randn: dtype must be f32");
    if (rc) { rp_tensor_release(t); return l_corerror(L); }
    return push_created(L, t, &o);
}

static int t_zeros(lua_State *L) { return creator(L, "zeros", 0, 0); }
static int t_empty(lua_State *L) { return creator(L, "empty", 0, 0); }
static int t_ones(lua_State *L) { return creator(L, "ones", 1, 1); }
static int t_rand(lua_State *L) { return creator(L, "rand", 0, 2); }
static int t_randn(lua_State *L) { return creator(L, "randn", 0, 3); }

static int t_full(lua_State *L)
{
    int64_t shape[RP_MAXDIM];
    int next;
    int nd = l_shape_args(L, 1, "full", shape, false, &next);
    double v = luaL_checknumber(L, next);
    create_opts o = read_opts(L, next + 1, "full", RP_F32);
    rp_tensor *t = rp_empty(o.dtype, nd, shape);
    if (t) rp_fill(t, v);
    return push_created(L, t, &o);
}

static int like(lua_State *L, double v, int kind)
{
    rp_tensor *x = CHK(L, 1);
    create_opts o = read_opts(L, 2, "like", x->dtype);
    rp_tensor *t = rp_empty(o.dtype, x->ndim, x->shape);
    if (!t) return l_corerror(L);
    int rc = kind == 1 ? rp_fill(t, v) : kind == 2 ? rp_fill_uniform(t, o.gen, 0, 1)
           : kind == 3 ? rp_fill_normal(t, o.gen, 0, 1) : 0;
    if (rc) { rp_tensor_release(t); return l_corerror(L); }
    return push_created(L, t, &o);
}
static int t_zeros_like(lua_State *L) { return like(L, 0, 0); }
static int t_ones_like(lua_State *L) { return like(L, 1, 1); }
static int t_rand_like(lua_State *L) { return like(L, 0, 2); }
static int t_randn_like(lua_State *L) { return like(L, 0, 3); }

static int t_randint(lua_State *L)
{
    int64_t lo = 0, hi, shape[RP_MAXDIM];
    int sidx = 2;
    if (lua_type(L, 2) == LUA_TNUMBER) {
        lo = l_check_int(L, 1, "randint", "low");
        hi = l_check_int(L, 2, "randint", "high");
        sidx = 3;
    } else {
        hi = l_check_int(L, 1, "randint", "high");
    }
    if (!lua_istable(L, sidx)) luaL_error(L, "randint: shape must be a table (randint([low,] high, shape [, options]))");
    int next;
    int nd = l_shape_args(L, sidx, "randint", shape, false, &next);
    create_opts o = read_opts(L, next, "randint", RP_I32);
    if (hi <= lo) luaL_error(L, "randint: empty range [%I, %I)", (lua_Integer)lo, (lua_Integer)hi);
    rp_tensor *t = rp_empty(o.dtype, nd, shape);
    if (!t) return l_corerror(L);
    if (rp_fill_randint(t, o.gen, lo, hi)) { rp_tensor_release(t); return l_corerror(L); }
    return push_created(L, t, &o);
}

static int t_arange(lua_State *L)
{
    int nnum = 0;
    while (nnum < 3 && lua_type(L, nnum + 1) == LUA_TNUMBER) nnum++;
    if (nnum == 0) luaL_error(L, "arange: expected arange(stop), arange(start, stop [, step])");
    double a = 0, b, s = 1;
    if (nnum == 1) b = lua_tonumber(L, 1);
    else { a = lua_tonumber(L, 1); b = lua_tonumber(L, 2); if (nnum == 3) s = lua_tonumber(L, 3); }
    create_opts o = read_opts(L, nnum + 1, "arange", RP_F32);
    if (!isfinite(a) || !isfinite(b) || !isfinite(s) || s == 0)
        luaL_error(L, "arange: start %f, stop %f, step %f (need finite values and step ~= 0)", a, b, s);
    double cnt = ceil((b - a) / s);
    if (cnt < 0) cnt = 0;
    if (cnt > 1e15) luaL_error(L, "arange: %f elements is too many", cnt);
    int64_t n = (int64_t)cnt;
    rp_tensor *t = rp_empty(o.dtype, 1, &n);
    if (t) for (int64_t i = 0; i < n; i++) rp_set_flat(t, i, a + (double)i * s);
    return push_created(L, t, &o);
}

static int t_linspace(lua_State *L)
{
    double a = luaL_checknumber(L, 1), b = luaL_checknumber(L, 2);
    int64_t n = l_check_int(L, 3, "linspace", "steps");
    create_opts o = read_opts(L, 4, "linspace", RP_F32);
    if (n < 0) luaL_error(L, "linspace: negative steps %I", (lua_Integer)n);
    rp_tensor *t = rp_empty(o.dtype, 1, &n);
    if (t) for (int64_t i = 0; i < n; i++) rp_set_flat(t, i, n == 1 ? a : a + (b - a) * (double)i / (double)(n - 1));
    return push_created(L, t, &o);
}

static int t_eye(lua_State *L)
{
    int64_t n = l_check_int(L, 1, "eye", "n"), m = n;
    int oi = 2;
    if (lua_type(L, 2) == LUA_TNUMBER) { m = l_check_int(L, 2, "eye", "m"); oi = 3; }
    create_opts o = read_opts(L, oi, "eye", RP_F32);
    int64_t shape[2] = {n, m};
    rp_tensor *t = rp_empty(o.dtype, 2, shape);
    if (t) for (int64_t i = 0; i < n && i < m; i++) rp_set_flat(t, i * m + i, 1);
    return push_created(L, t, &o);
}

/* T.tensor: infer the shape from the first elements, then check every row. */
static void nested_shape(lua_State *L, int idx, int depth, int64_t *shape, int *nd)
{
    if (lua_type(L, idx) == LUA_TNUMBER) { *nd = depth; return; }
    if (lua_type(L, idx) != LUA_TTABLE || l_totensor(L, idx))
        luaL_error(L, "tensor: element is a %s (numbers or nested tables expected)", luaL_typename(L, idx));
    if (depth == RP_MAXDIM) luaL_error(L, "tensor: more than %d levels of nesting", RP_MAXDIM);
    shape[depth] = (int64_t)lua_rawlen(L, idx);
    if (shape[depth] == 0) { *nd = depth + 1; return; }
    lua_rawgeti(L, idx, 1);
    nested_shape(L, lua_gettop(L), depth + 1, shape, nd);
    lua_pop(L, 1);
}

static void nested_fill(lua_State *L, int idx, int depth, const int64_t *shape, int nd,
                        rp_tensor *t, int64_t *pos, int64_t *bad)
{
    if (depth == nd) {
        int isnum;
        lua_Number v = lua_tonumberx(L, idx, &isnum);
        if (!isnum || lua_type(L, idx) != LUA_TNUMBER) { *bad = 1; return; }
        if (t->dtype != RP_F32 && (v != floor(v) || v < (t->dtype == RP_U8 ? 0 : -2147483648.0) ||
                                   v > (t->dtype == RP_U8 ? 255 : 2147483647.0))) { *bad = 2; return; }
        rp_set_flat(t, (*pos)++, v);
        return;
    }
    if (lua_type(L, idx) != LUA_TTABLE || (int64_t)lua_rawlen(L, idx) != shape[depth] || l_totensor(L, idx)) {
        *bad = 3; return;
    }
    for (int64_t i = 1; i <= shape[depth] && !*bad; i++) {
        lua_rawgeti(L, idx, (lua_Integer)i);
        nested_fill(L, lua_gettop(L), depth + 1, shape, nd, t, pos, bad);
        if (*bad && !bad[1]) bad[1] = i, bad[2] = depth;
        lua_pop(L, 1);
    }
}

static int t_tensor(lua_State *L)
{
    int64_t shape[RP_MAXDIM];
    int nd = 0;
    luaL_checkany(L, 1);
    nested_shape(L, 1, 0, shape, &nd);
    create_opts o = read_opts(L, 2, "tensor", RP_F32);
    rp_tensor *t = rp_empty(o.dtype, nd, shape);
    if (!t) return l_corerror(L);
    int64_t pos = 0, bad[3] = {0, 0, 0};
    nested_fill(L, 1, 0, shape, nd, t, &pos, bad);
    if (bad[0]) {
        rp_tensor_release(t);
        static const char *const why[] = {"", "is not a number", "does not fit the integer dtype",
                                          "is ragged (rows of different lengths) or not a table"};
        luaL_error(L, "tensor: element %I at nesting level %I %s", (lua_Integer)bad[1],
                   (lua_Integer)bad[2] + 1, why[bad[0]]);
    }
    return push_created(L, t, &o);
}

/* T.tensor as a C function for the other half of the binding. */
int l_tensor_literal(lua_State *L) { return t_tensor(L); }

static int t_from_bytes(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    const char *dn = luaL_checkstring(L, 2);
    int dt = rp_dtype_from_name(dn);
    if (dt < 0) luaL_error(L, "from_bytes: unknown dtype '%s'", dn);
    int64_t shape[RP_MAXDIM];
    int next;
    if (!lua_istable(L, 3)) luaL_error(L, "from_bytes: shape must be a table");
    int nd = l_shape_args(L, 3, "from_bytes", shape, false, &next);
    int64_t n = rp_contiguous_strides(nd, shape, NULL);
    size_t es = rp_dtype_info[dt].size;
    if (n < 0 || (uint64_t)n > SIZE_MAX / es || (size_t)n * es != len)
        luaL_error(L, "from_bytes: %d bytes do not make %I %s elements", (int)len, (lua_Integer)n, dn);
    rp_tensor *t = rp_empty_uninit(dt, nd, shape);
    if (t) memcpy(rp_data(t), s, len);
    return l_push1(L, t);
}

/* ---- RNG ---- */

static int t_manual_seed(lua_State *L)
{
    rp_generator_seed(rp_default_generator(), (uint64_t)l_check_int(L, 1, "manual_seed", "seed"));
    return 0;
}

static rp_generator *check_gen(lua_State *L, int idx) { return luaL_checkudata(L, idx, L_GEN_MT); }

static int push_state(lua_State *L, const rp_generator *g)
{
    lua_createtable(L, 0, 2);
    lua_pushinteger(L, (lua_Integer)g->seed);
    lua_setfield(L, -2, "seed");
    lua_pushinteger(L, (lua_Integer)g->offset);
    lua_setfield(L, -2, "offset");
    return 1;
}

static void read_state(lua_State *L, int idx, rp_generator *g, const char *fn)
{
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_getfield(L, idx, "seed");
    lua_getfield(L, idx, "offset");
    int64_t s = l_check_int(L, -2, fn, "state.seed"), o = l_check_int(L, -1, fn, "state.offset");
    lua_pop(L, 2);
    g->seed = (uint64_t)s;
    g->offset = (uint64_t)o;
}

static int t_Generator(lua_State *L)
{
    uint64_t seed = lua_isnoneornil(L, 1) ? 0x5eed : (uint64_t)l_check_int(L, 1, "Generator", "seed");
    rp_generator *g = lua_newuserdatauv(L, sizeof *g, 0);
    rp_generator_seed(g, seed);
    luaL_setmetatable(L, L_GEN_MT);
    return 1;
}
static int g_manual_seed(lua_State *L)
{
    rp_generator_seed(check_gen(L, 1), (uint64_t)l_check_int(L, 2, "manual_seed", "seed"));
    lua_settop(L, 1);
    return 1;
}
static int g_get_state(lua_State *L) { return push_state(L, check_gen(L, 1)); }
static int g_set_state(lua_State *L) { read_state(L, 2, check_gen(L, 1), "set_state"); return 0; }
static int g_initial_seed(lua_State *L) { lua_pushinteger(L, (lua_Integer)check_gen(L, 1)->seed); return 1; }
static int g_tostring(lua_State *L)
{
    rp_generator *g = check_gen(L, 1);
    lua_pushfstring(L, "Generator(seed=%I, offset=%I)", (lua_Integer)g->seed, (lua_Integer)g->offset);
    return 1;
}
static int t_get_rng_state(lua_State *L) { return push_state(L, rp_default_generator()); }
static int t_set_rng_state(lua_State *L) { read_state(L, 1, rp_default_generator(), "set_rng_state"); return 0; }

/* ---- metamethods and fields ---- */

static int t_gc(lua_State *L)
{
    l_tensor *u = luaL_checkudata(L, 1, L_TENSOR_MT);
    rp_tensor_release(u->t);
    u->t = NULL;
    return 0;
}

static int t_is_closed(lua_State *L)
{
    l_tensor *u = luaL_checkudata(L, 1, L_TENSOR_MT);
    lua_pushboolean(L, u->t == NULL);
    return 1;
}

static int t_tostring_brief(lua_State *L)
{
    l_tensor *u = luaL_checkudata(L, 1, L_TENSOR_MT);
    if (!u->t) { lua_pushliteral(L, "tensor(closed)"); return 1; }
    char s[RP_SHAPE_STRLEN];
    lua_pushfstring(L, "tensor(shape=%s, dtype=%s)", rp_shape_str(u->t, s, sizeof s),
                    rp_dtype_info[u->t->dtype].name);
    return 1;
}

static void push_number_of(lua_State *L, const rp_tensor *t, int64_t flat)
{
    double v = rp_get_flat(t, flat);
    if (t->dtype == RP_F32) lua_pushnumber(L, v);
    else lua_pushinteger(L, (lua_Integer)v);
}

static void check_inplace(lua_State *L, const rp_tensor *t, const char *fn)
{
    if (t->requires_grad && rp_grad_enabled())
        luaL_error(L, "%s: in-place write to a tensor that requires grad (use T.no_grad or detach)", fn);
}

static int t_index(lua_State *L)
{
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) return 1; /* a method */
    lua_pop(L, 1);
    rp_tensor *t = CHK(L, 1);
    if (lua_type(L, 2) == LUA_TNUMBER) {
        if (t->ndim == 0) luaL_error(L, "index: cannot index a 0-d tensor");
        int64_t i = l_check_index(L, 2, t->shape[0], "index");
        if (t->ndim == 1) { push_number_of(L, t, i); return 1; }
        return l_push1(L, rp_select(t, 0, i));
    }
    const char *k = lua_tostring(L, 2);
    if (!k || lua_type(L, 2) != LUA_TSTRING) return 0;
    if (strcmp(k, "grad") == 0) {
        if (!t->grad) return 0;
        rp_tensor_retain(t->grad);
        return l_push1(L, t->grad);
    }
    if (strcmp(k, "requires_grad") == 0) { lua_pushboolean(L, t->requires_grad); return 1; }
    if (strcmp(k, "is_leaf") == 0) { lua_pushboolean(L, t->grad_fn == NULL); return 1; }
    if (strcmp(k, "grad_fn") == 0) {
        if (!t->grad_fn) return 0;
        lua_pushstring(L, t->grad_fn->name);
        return 1;
    }
    return 0;
}

static void set_requires_grad(lua_State *L, rp_tensor *t, bool on, const char *fn)
{
    if (on && t->dtype != RP_F32) luaL_error(L, "%s: only f32 tensors can require grad (dtype %s)", fn, rp_dtype_info[t->dtype].name);
    if (!on && t->grad_fn) luaL_error(L, "%s: cannot turn off requires_grad on a non-leaf (use detach)", fn);
    t->requires_grad = on;
}

static int t_newindex(lua_State *L)
{
    rp_tensor *t = CHK(L, 1);
    if (lua_type(L, 2) == LUA_TNUMBER) {
        if (t->ndim == 0) luaL_error(L, "index: cannot index a 0-d tensor");
        int64_t i = l_check_index(L, 2, t->shape[0], "index");
        check_inplace(L, t, "index assignment");
        rp_tensor *src = NULL;
        if (luaL_testudata(L, 3, L_TENSOR_MT)) src = CHK(L, 3);
        else if (lua_type(L, 3) != LUA_TNUMBER)
            luaL_error(L, "index assignment: value must be a number or a tensor (got %s)", luaL_typename(L, 3));
        rp_tensor *row = rp_select(t, 0, i);
        int rc = !row ? -1 : src ? rp_assign(row, src) : rp_fill(row, lua_tonumber(L, 3));
        if (rc == 0) rp_bump_version(t);
        rp_tensor_release(row);
        if (rc) return l_corerror(L);
        return 0;
    }
    const char *k = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : NULL;
    if (k && strcmp(k, "requires_grad") == 0) {
        set_requires_grad(L, t, lua_toboolean(L, 3), "requires_grad");
        return 0;
    }
    if (k && strcmp(k, "grad") == 0) {
        if (lua_isnil(L, 3)) { rp_tensor_release(t->grad); t->grad = NULL; return 0; }
        rp_tensor *g = CHK(L, 3);
        if (!rp_same_shape(g, t) || g->dtype != RP_F32) {
            char a[RP_SHAPE_STRLEN], b[RP_SHAPE_STRLEN];
            luaL_error(L, "grad: a %s gradient of shape %s for a tensor of shape %s", rp_dtype_info[g->dtype].name,
                       rp_shape_str(g, a, sizeof a), rp_shape_str(t, b, sizeof b));
        }
        rp_tensor *d = rp_detach(g);
        if (!d) return l_corerror(L);
        rp_tensor_release(t->grad);
        t->grad = d;
        return 0;
    }
    return luaL_error(L, "tensor: cannot set field '%s'", k ? k : luaL_typename(L, 2));
}

static int t_len(lua_State *L)
{
    rp_tensor *t = CHK(L, 1);
    if (t->ndim == 0) luaL_error(L, "len: a 0-d tensor has no length");
    lua_pushinteger(L, t->shape[0]);
    return 1;
}

/* ---- info ---- */

static int t_shape(lua_State *L)
{
    rp_tensor *t = CHK(L, 1);
    lua_createtable(L, t->ndim, 0);
    for (int d = 0; d < t->ndim; d++) {
        lua_pushinteger(L, t->shape[d]);
        lua_rawseti(L, -2, d + 1);
    }
    return 1;
}

static int t_stride(lua_State *L)
{
    rp_tensor *t = CHK(L, 1);
    lua_createtable(L, t->ndim, 0);
    for (int d = 0; d < t->ndim; d++) {
        lua_pushinteger(L, t->stride[d]);
        lua_rawseti(L, -2, d + 1);
    }
    return 1;
}

static int t_size(lua_State *L)
{
    rp_tensor *t = CHK(L, 1);
    if (lua_isnoneornil(L, 2)) return t_shape(L);
    lua_pushinteger(L, t->shape[l_check_dim(L, 2, t->ndim, 0, "size")]);
    return 1;
}
static int t_numel(lua_State *L) { lua_pushinteger(L, rp_numel(CHK(L, 1))); return 1; }
static int t_dim(lua_State *L) { lua_pushinteger(L, CHK(L, 1)->ndim); return 1; }
static int t_dtype(lua_State *L) { lua_pushstring(L, rp_dtype_info[CHK(L, 1)->dtype].name); return 1; }
static int t_is_contiguous(lua_State *L) { lua_pushboolean(L, rp_is_contiguous(CHK(L, 1))); return 1; }
static int t_is_tensor(lua_State *L) { lua_pushboolean(L, luaL_testudata(L, 1, L_TENSOR_MT) != NULL); return 1; }

static int t_item(lua_State *L)
{
    rp_tensor *t = CHK(L, 1);
    if (rp_numel(t) != 1) {
        char s[RP_SHAPE_STRLEN];
        luaL_error(L, "item: the tensor has shape %s (%I elements), not one", rp_shape_str(t, s, sizeof s), (lua_Integer)rp_numel(t));
    }
    push_number_of(L, t, 0);
    return 1;
}

static void totable_rec(lua_State *L, const rp_tensor *c, int d, int64_t *pos)
{
    if (d == c->ndim) {
        switch (c->dtype) {
        case RP_F32: lua_pushnumber(L, RP_F32P(c)[(*pos)++]); break;
        case RP_I32: lua_pushinteger(L, RP_I32P(c)[(*pos)++]); break;
        default: lua_pushinteger(L, RP_U8P(c)[(*pos)++]); break;
        }
        return;
    }
    luaL_checkstack(L, 4, "totable");
    lua_createtable(L, (int)(c->shape[d] < (1 << 24) ? c->shape[d] : 0), 0);
    for (int64_t i = 0; i < c->shape[d]; i++) {
        totable_rec(L, c, d + 1, pos);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

static int t_totable(lua_State *L)
{
    rp_tensor *c = rp_copy_contiguous(CHK(L, 1));
    if (!c) return l_corerror(L);
    int64_t pos = 0;
    totable_rec(L, c, 0, &pos);
    rp_tensor_release(c);
    return 1;
}

static int t_bytes(lua_State *L)
{
    rp_tensor *c = rp_copy_contiguous(CHK(L, 1));
    if (!c) return l_corerror(L);
    luaL_Buffer b;
    size_t n = (size_t)rp_numel(c) * rp_dtype_info[c->dtype].size;
    char *p = luaL_buffinitsize(L, &b, n);
    memcpy(p, rp_data(c), n);
    rp_tensor_release(c);
    luaL_pushresultsize(&b, n);
    return 1;
}

static int t_getflat(lua_State *L)
{
    rp_tensor *t = CHK(L, 1);
    push_number_of(L, t, l_check_index(L, 2, rp_numel(t), "_getflat"));
    return 1;
}

static int t_setflat(lua_State *L)
{
    rp_tensor *t = CHK(L, 1);
    int64_t i = l_check_index(L, 2, rp_numel(t), "_setflat");
    rp_set_flat(t, i, luaL_checknumber(L, 3));
    rp_bump_version(t);
    return 0;
}

static int t_close(lua_State *L) { return t_gc(L); }


/* ---- in place ---- */

static int t_fill_(lua_State *L)
{
    rp_tensor *t = CHK(L, 1);
    double v = luaL_checknumber(L, 2);
    check_inplace(L, t, "fill_");
    rp_fill(t, v);
    rp_bump_version(t);
    lua_settop(L, 1);
    return 1;
}

static int t_zero_(lua_State *L) { lua_settop(L, 1); lua_pushinteger(L, 0); return t_fill_(L); }

static int t_copy_(lua_State *L)
{
    rp_tensor *t = CHK(L, 1), *s = CHK(L, 2);
    check_inplace(L, t, "copy_");
    if (rp_assign(t, s)) return l_corerror(L);
    lua_settop(L, 1);
    return 1;
}

/* ---- autograd ---- */

static int t_backward(lua_State *L)
{
    rp_tensor *t = CHK(L, 1);
    rp_tensor *g = NULL;
    int oi = 2;
    if (luaL_testudata(L, 2, L_TENSOR_MT)) { g = CHK(L, 2); oi = 3; }
    else if (lua_isnil(L, 2) && !lua_isnone(L, 3)) oi = 3;
    static const char *const valid[] = {"retain_graph", NULL};
    l_checkoptions(L, oi, "backward", valid);
    bool retain = false;
    if (lua_istable(L, oi)) { lua_getfield(L, oi, "retain_graph"); retain = lua_toboolean(L, -1); lua_pop(L, 1); }
    if (rp_backward(t, g, retain)) return l_corerror(L);
    return 0;
}

static int t_zero_grad(lua_State *L)
{
    rp_tensor *t = CHK(L, 1);
    rp_tensor_release(t->grad);
    t->grad = NULL;
    return 0;
}

static int t_detach(lua_State *L) { return l_push1(L, rp_detach(CHK(L, 1))); }

static int t_requires_grad_(lua_State *L)
{
    rp_tensor *t = CHK(L, 1);
    set_requires_grad(L, t, lua_isnoneornil(L, 2) ? true : lua_toboolean(L, 2), "requires_grad_");
    lua_settop(L, 1);
    return 1;
}

static int t_set_grad_enabled(lua_State *L)
{
    luaL_checkany(L, 1);
    lua_pushboolean(L, rp_set_grad_enabled(lua_toboolean(L, 1)));
    return 1;
}
static int t_is_grad_enabled(lua_State *L) { lua_pushboolean(L, rp_grad_enabled()); return 1; }

/* ---- registration ---- */

static int t_unm(lua_State *L) { return l_push1(L, rp_unary(RP_NEG, CHK(L, 1))); }

static const luaL_Reg tensor_methods[] = {
    {"shape", t_shape}, {"size", t_size}, {"stride", t_stride}, {"numel", t_numel},
    {"dim", t_dim}, {"dtype", t_dtype}, {"item", t_item}, {"totable", t_totable},
    {"bytes", t_bytes}, {"is_contiguous", t_is_contiguous}, {"is_closed", t_is_closed},
    {"close", t_close}, {"_getflat", t_getflat}, {"_setflat", t_setflat}, {"fill_", t_fill_},
    {"zero_", t_zero_}, {"copy_", t_copy_}, {"backward", t_backward}, {"zero_grad", t_zero_grad},
    {"detach", t_detach}, {"requires_grad_", t_requires_grad_},
    {NULL, NULL},
};

static const luaL_Reg tensor_functions[] = {
    {"tensor", t_tensor}, {"zeros", t_zeros}, {"ones", t_ones}, {"full", t_full},
    {"empty", t_empty}, {"arange", t_arange}, {"linspace", t_linspace}, {"eye", t_eye},
    {"rand", t_rand}, {"randn", t_randn}, {"randint", t_randint}, {"from_bytes", t_from_bytes},
    {"zeros_like", t_zeros_like}, {"ones_like", t_ones_like}, {"rand_like", t_rand_like},
    {"randn_like", t_randn_like}, {"manual_seed", t_manual_seed}, {"Generator", t_Generator},
    {"get_rng_state", t_get_rng_state}, {"set_rng_state", t_set_rng_state},
    {"is_tensor", t_is_tensor},
    {"set_grad_enabled", t_set_grad_enabled}, {"is_grad_enabled", t_is_grad_enabled},
    {NULL, NULL},
};

static const luaL_Reg gen_methods[] = {
    {"manual_seed", g_manual_seed}, {"get_state", g_get_state}, {"set_state", g_set_state},
    {"initial_seed", g_initial_seed}, {NULL, NULL},
};

int l_open_tensor(lua_State *L)
{
    luaL_newmetatable(L, L_TENSOR_MT);
    int mt = lua_gettop(L);
    luaL_newlib(L, tensor_methods);
    int methods = lua_gettop(L);
    l_tensor_ops_methods(L, methods);
    lua_pushvalue(L, methods);
    lua_setfield(L, LUA_REGISTRYINDEX, L_TENSOR_METHODS);
    lua_pushvalue(L, methods);
    lua_pushcclosure(L, t_index, 1);
    lua_setfield(L, mt, "__index");
    l_tensor_ops_metamethods(L, mt);
    static const luaL_Reg meta[] = {
        {"__newindex", t_newindex}, {"__gc", t_gc}, {"__close", t_gc}, {"__tostring", t_tostring_brief},
        {"__unm", t_unm}, {"__len", t_len}, {NULL, NULL},
    };
    lua_settop(L, mt);
    luaL_setfuncs(L, meta, 0);
    luaL_newmetatable(L, L_GEN_MT);
    luaL_newlib(L, gen_methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, g_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_settop(L, mt);
    luaL_newlib(L, tensor_functions);
    l_tensor_ops_functions(L, lua_gettop(L));
    lua_pushvalue(L, mt);
    lua_setfield(L, -2, "_metatable");
    lua_remove(L, mt);
    return 1;
}
