/* l_tensor.c: the tensor userdata and repro.core.tensor (creation, views,
 * ops, autograd entry points). */
#include "l_common.h"
#include "autograd.h"
#include "rng.h"

#include <string.h>

typedef struct { rp_tensor *t; } l_tensor;

/* Lua's GC sees only the small userdata; step it in proportion to the tensor
 * memory allocated so big temporaries are collected promptly (house rule 8). */
static size_t bytes_since_step;

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
    if (bytes_since_step > ((size_t)64 << 20)) {
        bytes_since_step = 0;
        lua_gc(L, LUA_GCSTEP, 64 << 10);
    }
}

int l_corerror(lua_State *L) { return luaL_error(L, "%s", rp_errmsg()); }

int l_checkshape(lua_State *L, int idx, const char *fn, int64_t *shape)
{
    int ndim = 0;
    if (lua_istable(L, idx)) {
        lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
        if (n > RP_MAXDIM) luaL_error(L, "%s: %d dimensions (at most %d)", fn, (int)n, RP_MAXDIM);
        for (int i = 1; i <= n; i++) {
            lua_rawgeti(L, idx, i);
            int isnum;
            lua_Integer v = lua_tointegerx(L, -1, &isnum);
            if (!isnum) luaL_error(L, "%s: shape entry %d is not an integer", fn, i);
            if (v < 0) luaL_error(L, "%s: negative size %d in dimension %d", fn, (int)v, i);
            shape[ndim++] = v;
            lua_pop(L, 1);
        }
        return ndim;
    }
    int top = lua_gettop(L);
    for (int i = idx; i <= top && lua_type(L, i) == LUA_TNUMBER; i++) {
        if (ndim == RP_MAXDIM) luaL_error(L, "%s: more than %d dimensions", fn, RP_MAXDIM);
        int isnum;
        lua_Integer v = lua_tointegerx(L, i, &isnum);
        if (!isnum) luaL_error(L, "%s: size %s is not an integer", fn, lua_tostring(L, i));
        if (v < 0) luaL_error(L, "%s: negative size %d in dimension %d", fn, (int)v, ndim + 1);
        shape[ndim++] = v;
    }
    return ndim;
}

void l_checkoptions(lua_State *L, int idx, const char *fn, const char *const *valid)
{
    if (lua_isnoneornil(L, idx)) return;
    luaL_checktype(L, idx, LUA_TTABLE);
    idx = lua_absindex(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        bool ok = false;
        for (int i = 0; k && valid[i]; i++)
            if (strcmp(k, valid[i]) == 0) ok = true;
        if (!ok) {
            luaL_Buffer b;
            luaL_buffinit(L, &b);
            for (int i = 0; valid[i]; i++) {
                if (i) luaL_addstring(&b, ", ");
                luaL_addstring(&b, valid[i]);
            }
            luaL_pushresult(&b);
            luaL_error(L, "%s: unknown option '%s' (valid: %s)", fn,
                       k ? k : luaL_typename(L, -2), lua_tostring(L, -1));
        }
    }
}

/* ---- metamethods ---- */

static int t_gc(lua_State *L)
{
    l_tensor *u = luaL_checkudata(L, 1, L_TENSOR_MT);
    rp_tensor_release(u->t);
    u->t = NULL;
    return 0;
}

static int t_tostring_brief(lua_State *L)
{
    rp_tensor *t = l_checktensor(L, 1);
    char s[RP_SHAPE_STRLEN];
    lua_pushfstring(L, "tensor(shape=%s, dtype=%s)", rp_shape_str(t, s, sizeof s),
                    rp_dtype_info[t->dtype].name);
    return 1;
}

static int t_shape(lua_State *L)
{
    rp_tensor *t = l_checktensor(L, 1);
    lua_createtable(L, t->ndim, 0);
    for (int d = 0; d < t->ndim; d++) {
        lua_pushinteger(L, t->shape[d]);
        lua_rawseti(L, -2, d + 1);
    }
    return 1;
}

static int t_zeros(lua_State *L)
{
    int64_t shape[RP_MAXDIM];
    int nd = l_checkshape(L, 1, "zeros", shape);
    l_pushtensor(L, rp_zeros(RP_F32, nd, shape));
    return 1;
}

static int t_randn(lua_State *L)
{
    int64_t shape[RP_MAXDIM];
    int nd = l_checkshape(L, 1, "randn", shape);
    rp_tensor *t = rp_empty(RP_F32, nd, shape);
    if (!t) return l_corerror(L);
    rp_fill_normal(t, rp_default_generator(), 0, 1);
    l_pushtensor(L, t);
    return 1;
}

static int l_manual_seed(lua_State *L)
{
    rp_generator_seed(rp_default_generator(), (uint64_t)luaL_checkinteger(L, 1));
    return 0;
}

static const luaL_Reg tensor_methods[] = {
    {"shape", t_shape},
    {NULL, NULL},
};

static const luaL_Reg tensor_functions[] = {
    {"zeros", t_zeros},
    {"randn", t_randn},
    {"manual_seed", l_manual_seed},
    {NULL, NULL},
};

void l_add_methods(lua_State *L, const luaL_Reg *methods)
{
    lua_getfield(L, LUA_REGISTRYINDEX, L_TENSOR_METHODS);
    luaL_setfuncs(L, methods, 0);
    lua_pop(L, 1);
}

int l_open_tensor(lua_State *L)
{
    luaL_newmetatable(L, L_TENSOR_MT);
    luaL_newlib(L, tensor_methods);
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, L_TENSOR_METHODS);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, t_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, t_gc);
    lua_setfield(L, -2, "__close");
    lua_pushcfunction(L, t_tostring_brief);
    lua_setfield(L, -2, "__tostring");
    lua_pop(L, 1);
    luaL_newlib(L, tensor_functions);
    return 1;
}
