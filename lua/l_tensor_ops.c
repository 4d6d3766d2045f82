/* l_tensor_ops.c: the op bindings of repro.core.tensor (elementwise math,
 * reductions, views and shape, indexing), split from l_tensor.c, which keeps
 * the userdata, creation, RNG and autograd entry points (safetensors I/O is
 * lua/l_io.c, behind repro.safetensors). Same rules:
 * 1-based dims and indices become 0-based here; negative ones count from the end. */
#include "l_common.h"
#include "l_tensor_internal.h"
#include "autograd.h"
#include "ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CHK(L, i) l_checktensor(L, i)

/* ---- math ---- */

/* A tensor operand at idx: the tensor itself, or a number as a 0-d tensor. */
static rp_tensor *operand(lua_State *L, int idx, const char *fn)
{
    if (lua_type(L, idx) == LUA_TNUMBER) return NULL;
    if (!luaL_testudata(L, idx, L_TENSOR_MT))
        luaL_error(L, "%s: bad argument #%d (tensor or number expected, got %s)", fn, idx, luaL_typename(L, idx));
    return CHK(L, idx);
}

static const char *const binop_lua[RP_NBINARY] = {
    [RP_ADD] = "add", [RP_SUB] = "sub", [RP_MUL] = "mul", [RP_DIV] = "div", [RP_POW] = "pow",
    [RP_MAXIMUM] = "maximum", [RP_MINIMUM] = "minimum", [RP_LT] = "lt", [RP_LE] = "le",
    [RP_GT] = "gt", [RP_GE] = "ge", [RP_EQ] = "eq", [RP_NE] = "ne",
};

static int l_binary(lua_State *L)
{
    rp_binop op = (rp_binop)lua_tointeger(L, lua_upvalueindex(1));
    const char *fn = binop_lua[op];
    rp_tensor *a = operand(L, 1, fn), *b = operand(L, 2, fn);
    if (!a && !b) luaL_error(L, "%s: needs at least one tensor", fn);
    if (a && b) return l_push1(L, rp_binary(op, a, b));
    if (a) {
        double s = lua_tonumber(L, 2);
        if (op == RP_POW) return l_push1(L, rp_pow_scalar(a, s));
        return l_push1(L, rp_binary_scalar(op, a, s));
    }
    return l_push1(L, rp_scalar_binary(op, lua_tonumber(L, 1), b));
}

static int l_unary(lua_State *L)
{
    rp_unop op = (rp_unop)lua_tointeger(L, lua_upvalueindex(1));
    return l_push1(L, rp_unary(op, CHK(L, 1)));
}


static int t_clamp(lua_State *L)
{
    rp_tensor *t = CHK(L, 1);
    double lo = luaL_optnumber(L, 2, -INFINITY), hi = luaL_optnumber(L, 3, INFINITY);
    if (isnan(lo) || isnan(hi)) luaL_error(L, "clamp: bounds must not be NaN");
    return l_push1(L, rp_clamp(t, lo, hi));
}

static int t_isnan(lua_State *L) { return l_push1(L, rp_isnan(CHK(L, 1))); }
static int t_isinf(lua_State *L) { return l_push1(L, rp_isinf(CHK(L, 1))); }
static int t_all(lua_State *L) { return l_push1(L, rp_all(CHK(L, 1))); }
static int t_any(lua_State *L) { return l_push1(L, rp_any(CHK(L, 1))); }

/* where(cond, a, b): a and b may be numbers */
static int where_impl(lua_State *L, int ci, int ai, int bi)
{
    rp_tensor *c = CHK(L, ci), *a = operand(L, ai, "where"), *b = operand(L, bi, "where");
    rp_tensor *ta = a ? NULL : rp_scalar((float)lua_tonumber(L, ai));
    rp_tensor *tb = b ? NULL : rp_scalar((float)lua_tonumber(L, bi));
    rp_tensor *r = (a || ta) && (b || tb) ? rp_where(c, a ? a : ta, b ? b : tb) : NULL;
    rp_tensor_release(ta);
    rp_tensor_release(tb);
    return l_push1(L, r);
}
static int t_where(lua_State *L) { return where_impl(L, 1, 2, 3); }
static int t_where_method(lua_State *L) { return where_impl(L, 2, 1, 3); } /* x:where(cond, y) */

static int to_dtype(lua_State *L, rp_dtype d) { return l_push1(L, rp_to_dtype(CHK(L, 1), d)); }
static int t_float(lua_State *L) { return to_dtype(L, RP_F32); }
static int t_int(lua_State *L) { return to_dtype(L, RP_I32); }
static int t_byte(lua_State *L) { return to_dtype(L, RP_U8); }
static int t_to(lua_State *L)
{
    CHK(L, 1);
    const char *n = luaL_checkstring(L, 2);
    int d = rp_dtype_from_name(n);
    if (d < 0) luaL_error(L, "to: unknown dtype '%s' (f32, i32, u8)", n);
    return to_dtype(L, (rp_dtype)d);
}

/* ---- reductions ---- */

static bool opt_bool(lua_State *L, int idx) { return lua_toboolean(L, idx); }

static int t_sum(lua_State *L)
{
    rp_tensor *t = CHK(L, 1);
    if (lua_isnoneornil(L, 2)) return l_push1(L, rp_sum_all(t));
    int d = l_check_dim(L, 2, t->ndim, 0, "sum");
    return l_push1(L, rp_sum_dim(t, d, opt_bool(L, 3)));
}

static int t_mean(lua_State *L)
{
    rp_tensor *t = CHK(L, 1);
    if (lua_isnoneornil(L, 2)) return l_push1(L, rp_mean_all(t));
    int d = l_check_dim(L, 2, t->ndim, 0, "mean");
    return l_push1(L, rp_mean_dim(t, d, opt_bool(L, 3)));
}

/* 0-based i32 indices -> 1-based, pushed */
static void push_index_result(lua_State *L, rp_tensor *idx)
{
    rp_tensor *one = idx ? rp_add_scalar(idx, 1) : NULL;
    rp_tensor_release(idx);
    l_push1(L, one);
}

static int extreme(lua_State *L, bool is_max, bool with_idx, const char *fn)
{
    rp_tensor *t = CHK(L, 1);
    int d = lua_isnoneornil(L, 2) ? -1 : l_check_dim(L, 2, t->ndim, 0, fn);
    bool keep = opt_bool(L, 3);
    rp_tensor *idx = NULL;
    rp_tensor *v = is_max ? rp_max_dim(t, d, keep, &idx) : rp_min_dim(t, d, keep, &idx);
    if (!v) return l_corerror(L);
    l_push1(L, v);
    if (!with_idx || d < 0) { rp_tensor_release(idx); return 1; }
    push_index_result(L, idx);
    return 2;
}
static int t_max(lua_State *L) { return extreme(L, true, true, "max"); }
static int t_min(lua_State *L) { return extreme(L, false, true, "min"); }
static int t_amax(lua_State *L) { return extreme(L, true, false, "amax"); }
static int t_amin(lua_State *L) { return extreme(L, false, false, "amin"); }

static int argext(lua_State *L, bool is_max)
{
    rp_tensor *t = CHK(L, 1);
    int d = lua_isnoneornil(L, 2) ? -1 : l_check_dim(L, 2, t->ndim, 0, is_max ? "argmax" : "argmin");
    rp_tensor *i = is_max ? rp_argmax(t, d, opt_bool(L, 3)) : rp_argmin(t, d, opt_bool(L, 3));
    if (!i) return l_corerror(L);
    push_index_result(L, i);
    return 1;
}
static int t_argmax(lua_State *L) { return argext(L, true); }
static int t_argmin(lua_State *L) { return argext(L, false); }

static int t_var(lua_State *L)
{
    rp_tensor *t = CHK(L, 1);
    int d = lua_isnoneornil(L, 2) ? -1 : l_check_dim(L, 2, t->ndim, 0, "var");
    int64_t corr = lua_isnoneornil(L, 4) ? 1 : l_check_int(L, 4, "var", "correction");
    if (corr < 0 || corr > 1000000) luaL_error(L, "var: correction %I out of range", (lua_Integer)corr);
    return l_push1(L, rp_var(t, d, opt_bool(L, 3), (int)corr));
}

static int t_norm(lua_State *L)
{
    rp_tensor *t = CHK(L, 1);
    double p = luaL_optnumber(L, 2, 2.0);
    int d = lua_isnoneornil(L, 3) ? -1 : l_check_dim(L, 3, t->ndim, 0, "norm");
    return l_push1(L, rp_norm(t, p, d, opt_bool(L, 4)));
}

static int t_cumsum(lua_State *L)
{
    rp_tensor *t = CHK(L, 1);
    return l_push1(L, rp_cumsum(t, l_check_dim(L, 2, t->ndim, 0, "cumsum")));
}

/* ---- views and shape ---- */

static int t_view_or_reshape(lua_State *L, bool view)
{
    rp_tensor *t = CHK(L, 1);
    int64_t shape[RP_MAXDIM];
    int next;
    int nd = l_shape_args(L, 2, view ? "view" : "reshape", shape, true, &next);
    return l_push1(L, view ? rp_view(t, nd, shape) : rp_reshape(t, nd, shape));
}
static int t_view(lua_State *L) { return t_view_or_reshape(L, true); }
static int t_reshape(lua_State *L) { return t_view_or_reshape(L, false); }

static int t_narrow(lua_State *L)
{
    rp_tensor *t = CHK(L, 1);
    int d = l_check_dim(L, 2, t->ndim, 0, "narrow");
    int64_t start = l_check_int(L, 3, "narrow", "start"), len = l_check_int(L, 4, "narrow", "length");
    if (start < 0) start += t->shape[d] + 1;
    if (start < 1 || start > t->shape[d] + 1 || len < 0 || len > t->shape[d] - start + 1)
        luaL_error(L, "narrow: start %I, length %I out of range for size %I of dimension %d%s",
                   (lua_Integer)l_check_int(L, 3, "narrow", "start"), (lua_Integer)len, (lua_Integer)t->shape[d], d + 1,
                   l_check_int(L, 3, "narrow", "start") == 0 ? " (start is 1-based)" : "");
    return l_push1(L, rp_narrow(t, d, start - 1, len));
}

static int t_select(lua_State *L)
{
    rp_tensor *t = CHK(L, 1);
    int d = l_check_dim(L, 2, t->ndim, 0, "select");
    return l_push1(L, rp_select(t, d, l_check_index(L, 3, t->shape[d], "select")));
}

static int t_transpose(lua_State *L)
{
    rp_tensor *t = CHK(L, 1);
    if (t->ndim < 2 && lua_isnoneornil(L, 2)) return l_push1(L, rp_reshape(t, t->ndim, t->shape));
    int a = lua_isnoneornil(L, 2) ? t->ndim - 2 : l_check_dim(L, 2, t->ndim, 0, "transpose");
    int b = lua_isnoneornil(L, 3) ? t->ndim - 1 : l_check_dim(L, 3, t->ndim, 0, "transpose");
    return l_push1(L, rp_transpose(t, a, b));
}

static int t_t(lua_State *L)
{
    rp_tensor *t = CHK(L, 1);
    if (t->ndim > 2) luaL_error(L, "t: expects a tensor of at most 2 dimensions (got %d; use transpose)", t->ndim);
    if (t->ndim < 2) return l_push1(L, rp_reshape(t, t->ndim, t->shape));
    return l_push1(L, rp_transpose(t, 0, 1));
}

static int t_permute(lua_State *L)
{
    rp_tensor *t = CHK(L, 1);
    int perm[RP_MAXDIM];
    bool tab = lua_istable(L, 2);
    int n = tab ? (int)lua_rawlen(L, 2) : lua_gettop(L) - 1;
    if (n != t->ndim) luaL_error(L, "permute: %d entries for a tensor of %d dimensions", n, t->ndim);
    for (int i = 0; i < n; i++) {
        if (tab) lua_rawgeti(L, 2, i + 1); else lua_pushvalue(L, i + 2);
        perm[i] = l_check_dim(L, -1, t->ndim, 0, "permute");
        lua_pop(L, 1);
    }
    return l_push1(L, rp_permute(t, perm));
}

static int t_unsqueeze(lua_State *L)
{
    rp_tensor *t = CHK(L, 1);
    return l_push1(L, rp_unsqueeze(t, l_check_dim(L, 2, t->ndim, 1, "unsqueeze")));
}

static int t_squeeze(lua_State *L)
{
    rp_tensor *t = CHK(L, 1);
    return l_push1(L, rp_squeeze(t, lua_isnoneornil(L, 2) ? -1 : l_check_dim(L, 2, t->ndim, 0, "squeeze")));
}

static int t_expand(lua_State *L)
{
    rp_tensor *t = CHK(L, 1);
    int64_t shape[RP_MAXDIM];
    int next;
    int nd;
    rp_tensor *o = l_totensor(L, 2);
    if (o) { nd = o->ndim; memcpy(shape, o->shape, sizeof shape); }
    else nd = l_shape_args(L, 2, "expand", shape, true, &next);
    return l_push1(L, rp_expand(t, nd, shape));
}

static int t_contiguous(lua_State *L) { return l_push1(L, rp_contiguous(CHK(L, 1))); }
static int t_clone(lua_State *L) { return l_push1(L, rp_clone(CHK(L, 1))); }

/* A Lua array of tensors at idx -> malloc'd array (borrowed refs). */
static rp_tensor **tensor_list(lua_State *L, int idx, const char *fn, int *n)
{
    if (!lua_istable(L, idx) || l_totensor(L, idx))
        luaL_error(L, "%s: bad argument #%d (table of tensors expected, got %s)", fn, idx, luaL_typename(L, idx));
    lua_Integer len = (lua_Integer)lua_rawlen(L, idx);
    if (len < 1 || len > 1000000) luaL_error(L, "%s: needs 1 to 1000000 tensors (got %I)", fn, len);
    for (lua_Integer i = 1; i <= len; i++) {
        lua_rawgeti(L, idx, i);
        if (!luaL_testudata(L, -1, L_TENSOR_MT)) luaL_error(L, "%s: entry %I is a %s, not a tensor", fn, i, luaL_typename(L, -1));
        if (!l_totensor(L, -1)) luaL_error(L, "%s: entry %I: tensor used after it was closed", fn, i);
        lua_pop(L, 1);
    }
    rp_tensor **xs = lua_newuserdatauv(L, sizeof(rp_tensor *) * (size_t)len, 0); /* freed by the GC */
    for (lua_Integer i = 1; i <= len; i++) {
        lua_rawgeti(L, idx, i);
        xs[i - 1] = l_totensor(L, -1);
        lua_pop(L, 1);
    }
    *n = (int)len;
    return xs;
}

static int t_cat(lua_State *L)
{
    int n;
    lua_settop(L, 2);
    rp_tensor **xs = tensor_list(L, 1, "cat", &n);
    int d = l_opt_dim(L, 2, xs[0]->ndim, 0, "cat");
    return l_push1(L, rp_cat(n, xs, d));
}

static int t_stack(lua_State *L)
{
    int n;
    lua_settop(L, 2);
    rp_tensor **xs = tensor_list(L, 1, "stack", &n);
    int d = lua_isnoneornil(L, 2) ? 0 : l_check_dim(L, 2, xs[0]->ndim, 1, "stack");
    return l_push1(L, rp_stack(n, xs, d));
}

/* split(size or {sizes}, dim) and chunk(n, dim): a table of narrow views */
static int split_impl(lua_State *L, bool chunk)
{
    const char *fn = chunk ? "chunk" : "split";
    rp_tensor *t = CHK(L, 1);
    if (t->ndim == 0) luaL_error(L, "%s: cannot split a 0-d tensor", fn);
    int d = l_opt_dim(L, 3, t->ndim, 0, fn);
    int64_t size = t->shape[d];
    lua_newtable(L);
    int out = lua_gettop(L);
    if (!chunk && lua_istable(L, 2)) {
        lua_Integer n = (lua_Integer)lua_rawlen(L, 2);
        int64_t total = 0, start = 0;
        for (lua_Integer i = 1; i <= n; i++) {
            lua_rawgeti(L, 2, i);
            int64_t s = l_check_int(L, -1, fn, "size");
            lua_pop(L, 1);
            if (s < 0 || s > size - total) luaL_error(L, "split: sizes do not sum to %I (entry %I = %I)", (lua_Integer)size, i, (lua_Integer)s);
            total += s;
        }
        if (total != size) luaL_error(L, "split: sizes sum to %I, dimension %d has size %I", (lua_Integer)total, d + 1, (lua_Integer)size);
        for (lua_Integer i = 1; i <= n; i++) {
            lua_rawgeti(L, 2, i);
            int64_t s = lua_tointeger(L, -1);
            lua_pop(L, 1);
            l_push1(L, rp_narrow(t, d, start, s));
            lua_rawseti(L, out, i);
            start += s;
        }
        return 1;
    }
    int64_t k = l_check_int(L, 2, fn, chunk ? "chunks" : "size");
    if (k < 1) luaL_error(L, "%s: %s must be positive (got %I)", fn, chunk ? "chunks" : "size", (lua_Integer)k);
    int64_t step = chunk ? (size + k - 1) / k : k;
    if (step < 1) step = 1;
    lua_Integer i = 1;
    for (int64_t s = 0; s < size; s += step, i++) {
        l_push1(L, rp_narrow(t, d, s, size - s < step ? size - s : step));
        lua_rawseti(L, out, i);
    }
    return 1;
}
static int t_split(lua_State *L) { return split_impl(L, false); }
static int t_chunk(lua_State *L) { return split_impl(L, true); }

/* ---- indexing ---- */

/* 1-based index operand (tensor or table of integers) -> 0-based tensor. */
static rp_tensor *index_arg(lua_State *L, int idx, const char *fn)
{
    rp_tensor *src = NULL, *tmp = NULL;
    if (luaL_testudata(L, idx, L_TENSOR_MT)) src = CHK(L, idx);
    else if (lua_istable(L, idx)) {
        lua_pushcfunction(L, l_tensor_literal);
        lua_pushvalue(L, idx);
        lua_createtable(L, 0, 1);
        lua_pushliteral(L, "i32");
        lua_setfield(L, -2, "dtype");
        lua_call(L, 2, 1);
        src = CHK(L, -1);
        tmp = src;
    } else luaL_error(L, "%s: bad argument #%d (index tensor or table expected, got %s)", fn, idx, luaL_typename(L, idx));
    (void)tmp;
    bool prev = rp_set_grad_enabled(false);
    rp_tensor *r = rp_binary_scalar(RP_SUB, src, 1);
    rp_set_grad_enabled(prev);
    if (!r) l_corerror(L);
    return r;
}

static int t_index_select(lua_State *L)
{
    rp_tensor *t = CHK(L, 1);
    int d = l_check_dim(L, 2, t->ndim, 0, "index_select");
    rp_tensor *i = index_arg(L, 3, "index_select");
    rp_tensor *r = rp_index_select(t, d, i);
    rp_tensor_release(i);
    return l_push1(L, r);
}

static int t_gather(lua_State *L)
{
    rp_tensor *t = CHK(L, 1);
    int d = l_check_dim(L, 2, t->ndim, 0, "gather");
    rp_tensor *i = index_arg(L, 3, "gather");
    rp_tensor *r = rp_gather(t, d, i);
    rp_tensor_release(i);
    return l_push1(L, r);
}

static int t_scatter_add(lua_State *L)
{
    rp_tensor *t = CHK(L, 1);
    int d = l_check_dim(L, 2, t->ndim, 0, "scatter_add");
    rp_tensor *src = CHK(L, 4);
    rp_tensor *i = index_arg(L, 3, "scatter_add");
    rp_tensor *r = rp_scatter_add(t, d, i, src);
    rp_tensor_release(i);
    return l_push1(L, r);
}

static int t_sort(lua_State *L)
{
    rp_tensor *t = CHK(L, 1);
    if (t->ndim == 0) luaL_error(L, "sort: cannot sort a 0-d tensor");
    int d = l_opt_dim(L, 2, t->ndim, t->ndim - 1, "sort");
    rp_tensor *idx = NULL, *v = rp_sort(t, d, opt_bool(L, 3), &idx);
    if (!v) return l_corerror(L);
    l_push1(L, v);
    push_index_result(L, idx);
    return 2;
}

static int t_topk(lua_State *L)
{
    rp_tensor *t = CHK(L, 1);
    if (t->ndim == 0) luaL_error(L, "topk: needs at least one dimension");
    int64_t k = l_check_int(L, 2, "topk", "k");
    int d = l_opt_dim(L, 3, t->ndim, t->ndim - 1, "topk");
    bool largest = lua_isnoneornil(L, 4) ? true : lua_toboolean(L, 4);
    rp_tensor *idx = NULL, *v = rp_topk(t, k, d, largest, &idx);
    if (!v) return l_corerror(L);
    l_push1(L, v);
    push_index_result(L, idx);
    return 2;
}

/* ---- registration ---- */

static void set_op_closure(lua_State *L, int tbl, const char *name, int op, lua_CFunction f)
{
    lua_pushinteger(L, op);
    lua_pushcclosure(L, f, 1);
    lua_setfield(L, tbl, name);
}

static const luaL_Reg op_methods[] = {
    {"float", t_float}, {"int", t_int}, {"byte", t_byte}, {"to", t_to}, {"clamp", t_clamp},
    {"isnan", t_isnan}, {"isinf", t_isinf}, {"all", t_all}, {"any", t_any},
    {"where", t_where_method}, {"sum", t_sum}, {"mean", t_mean}, {"max", t_max}, {"min", t_min},
    {"amax", t_amax}, {"amin", t_amin}, {"argmax", t_argmax}, {"argmin", t_argmin},
    {"var", t_var}, {"norm", t_norm}, {"cumsum", t_cumsum}, {"view", t_view},
    {"reshape", t_reshape}, {"narrow", t_narrow}, {"select", t_select},
    {"transpose", t_transpose}, {"t", t_t}, {"permute", t_permute}, {"unsqueeze", t_unsqueeze},
    {"squeeze", t_squeeze}, {"expand", t_expand}, {"contiguous", t_contiguous},
    {"clone", t_clone}, {"split", t_split}, {"chunk", t_chunk}, {"index_select", t_index_select},
    {"gather", t_gather}, {"scatter_add", t_scatter_add}, {"sort", t_sort}, {"topk", t_topk},
    {NULL, NULL},
};

static const luaL_Reg op_functions[] = {
    {"cat", t_cat}, {"stack", t_stack}, {"where", t_where},
    {NULL, NULL},
};

void l_tensor_ops_methods(lua_State *L, int methods)
{
    luaL_setfuncs(L, op_methods, 0);
    lua_settop(L, methods);
    for (int op = 0; op < RP_NBINARY; op++) set_op_closure(L, methods, binop_lua[op], op, l_binary);
    for (int op = 0; op < RP_NUNARY; op++) set_op_closure(L, methods, rp_unop_names[op], op, l_unary);
}

void l_tensor_ops_metamethods(lua_State *L, int mt)
{
    static const struct { const char *mm; rp_binop op; } arith[] = {
        {"__add", RP_ADD}, {"__sub", RP_SUB}, {"__mul", RP_MUL}, {"__div", RP_DIV}, {"__pow", RP_POW},
    };
    for (size_t i = 0; i < sizeof arith / sizeof arith[0]; i++) set_op_closure(L, mt, arith[i].mm, arith[i].op, l_binary);
}

void l_tensor_ops_functions(lua_State *L, int functions)
{
    lua_pushvalue(L, functions);
    luaL_setfuncs(L, op_functions, 0);
    lua_pop(L, 1);
}
