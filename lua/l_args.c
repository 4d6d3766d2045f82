/* l_args.c: argument checking shared by every binding file: shapes, dims
 * and indices (1-based or negative from Lua, 0-based after), integers,
 * option tables, and raising the core's error. Each raises a Lua error that
 * names the function and the offending value. */
#include "l_common.h"
#include "l_tensor_internal.h"

#include <string.h>

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
            if (v < 0) luaL_error(L, "%s: negative size %I in dimension %d", fn, v, i);
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
        if (v < 0) luaL_error(L, "%s: negative size %I in dimension %d", fn, v, ndim + 1);
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

void l_add_methods(lua_State *L, const luaL_Reg *methods)
{
    lua_getfield(L, LUA_REGISTRYINDEX, L_TENSOR_METHODS);
    luaL_setfuncs(L, methods, 0);
    lua_pop(L, 1);
}

/* Push the result, or raise the core's error (callers free temporaries first). */
int l_push1(lua_State *L, rp_tensor *r) { l_pushtensor(L, r); return 1; }

int64_t l_check_int(lua_State *L, int idx, const char *fn, const char *what)
{
    int ok;
    lua_Integer v = lua_tointegerx(L, idx, &ok);
    if (!ok) {
        if (lua_type(L, idx) == LUA_TNUMBER)
            luaL_error(L, "%s: %s %s is not an integer", fn, what, lua_tostring(L, idx));
        luaL_error(L, "%s: %s must be an integer (got %s)", fn, what, luaL_typename(L, idx));
    }
    return (int64_t)v;
}

/* 1-based (or negative) dim at idx -> 0-based in [0, ndim + extra). */
int l_check_dim(lua_State *L, int idx, int ndim, int extra, const char *fn)
{
    int64_t d = l_check_int(L, idx, fn, "dimension");
    int n = ndim + extra;
    if (d < 0) d += n + 1;
    if (d < 1 || d > n) {
        lua_Integer given = (lua_Integer)l_check_int(L, idx, fn, "dimension");
        luaL_error(L, "%s: dimension %I out of range for a tensor of %d dimensions%s", fn, given, ndim,
                   given == 0 ? " (dimensions are 1-based; -1 is the last)" : "");
    }
    return (int)d - 1;
}

int l_opt_dim(lua_State *L, int idx, int ndim, int def, const char *fn)
{
    return lua_isnoneornil(L, idx) ? def : l_check_dim(L, idx, ndim, 0, fn);
}

/* 1-based (or negative) index into a size -> 0-based. */
int64_t l_check_index(lua_State *L, int idx, int64_t size, const char *fn)
{
    int64_t i = l_check_int(L, idx, fn, "index"), i0 = i;
    if (i < 0) i += size + 1;
    if (i < 1 || i > size)
        luaL_error(L, "%s: index %I out of range 1..%I%s", fn, (lua_Integer)i0, (lua_Integer)size,
                   i0 == 0 ? " (indices are 1-based; -1 is the last)" : "");
    return i - 1;
}

/* A shape from a table at idx or from the numbers starting at idx; -1
 * allowed when allow_infer. *next gets the first argument after the shape. */
int l_shape_args(lua_State *L, int idx, const char *fn, int64_t *shape, bool allow_infer, int *next)
{
    int nd = 0;
    if (lua_type(L, idx) == LUA_TTABLE && !l_totensor(L, idx)) {
        lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
        if (n > RP_MAXDIM) luaL_error(L, "%s: %I dimensions (at most %d)", fn, n, RP_MAXDIM);
        for (int i = 1; i <= n; i++) {
            lua_rawgeti(L, idx, i);
            shape[nd++] = l_check_int(L, -1, fn, "size");
            lua_pop(L, 1);
        }
        *next = idx + 1;
    } else {
        int top = lua_gettop(L), i;
        for (i = idx; i <= top && lua_type(L, i) == LUA_TNUMBER; i++) {
            if (nd == RP_MAXDIM) luaL_error(L, "%s: more than %d dimensions", fn, RP_MAXDIM);
            shape[nd++] = l_check_int(L, i, fn, "size");
        }
        *next = i;
    }
    for (int d = 0; d < nd; d++)
        if (shape[d] < (allow_infer ? -1 : 0))
            luaL_error(L, "%s: negative size %I in dimension %d", fn, (lua_Integer)shape[d], d + 1);
    return nd;
}
