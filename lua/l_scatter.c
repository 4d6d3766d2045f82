/* l_scatter.c: repro.core.scatter, segment sums for graph networks
 * (core/ops_scatter.h). Indices arrive 1-based (i32 tensor or a table of
 * integers) and leave 0-based. */
#include "l_tensor_internal.h"
#include "ops.h"
#include "ops_scatter.h"
#include "ops_graph.h"
#include "autograd.h"

/* 1-based i32 tensor or table of integers at idx -> new 0-based i32 tensor. */
static rp_tensor *index_arg(lua_State *L, int idx, const char *fn)
{
    rp_tensor *t = l_totensor(L, idx);
    if (t) {
        if (t->dtype != RP_I32)
            luaL_error(L, "%s: index must be an i32 tensor (got %s)", fn, rp_dtype_info[t->dtype].name);
        bool prev = rp_set_grad_enabled(false);
        rp_tensor *r = rp_binary_scalar(RP_SUB, t, 1);
        rp_set_grad_enabled(prev);
        if (!r) l_corerror(L);
        return r;
    }
    if (!lua_istable(L, idx))
        luaL_error(L, "%s: bad argument #%d (index tensor or table expected, got %s)", fn, idx,
                   luaL_typename(L, idx));
    lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
    for (lua_Integer k = 1; k <= n; k++) {   /* check before allocating: errors then leak nothing */
        int isint = 0;
        lua_rawgeti(L, idx, k);
        lua_Integer v = lua_tointegerx(L, -1, &isint);
        lua_pop(L, 1);
        if (!isint || v < INT32_MIN + 1 || v > INT32_MAX)
            luaL_error(L, "%s: index entry %I is not an i32 integer", fn, k);
    }
    int64_t shape[1] = {n};
    rp_tensor *r = rp_empty_uninit(RP_I32, 1, shape);
    if (!r) l_corerror(L);
    for (lua_Integer k = 1; k <= n; k++) {
        lua_rawgeti(L, idx, k);
        RP_I32P(r)[k - 1] = (int32_t)(lua_tointeger(L, -1) - 1);
        lua_pop(L, 1);
    }
    return r;
}

/* x:index_add(dim, idx, src) */
static int t_index_add(lua_State *L)
{
    rp_tensor *x = l_checktensor(L, 1);
    int d = l_check_dim(L, 2, x->ndim, 0, "index_add");
    rp_tensor *src = l_checktensor(L, 4);
    rp_tensor *i = index_arg(L, 3, "index_add");
    rp_tensor *r = rp_index_add(x, d, i, src);
    rp_tensor_release(i);
    return l_push1(L, r);
}

static int scatter(lua_State *L, const char *fn, bool mean)
{
    rp_tensor *src = l_checktensor(L, 1);
    int64_t n = l_check_int(L, 3, fn, "number of segments");
    if (n < 0) luaL_error(L, "%s: number of segments must be >= 0 (got %I)", fn, (lua_Integer)n);
    rp_tensor *i = index_arg(L, 2, fn);
    rp_tensor *r = mean ? rp_scatter_mean(n, i, src) : rp_scatter_sum(n, i, src);
    rp_tensor_release(i);
    return l_push1(L, r);
}

/* T.scatter_sum(src, idx, n) / T.scatter_mean(src, idx, n) */
static int f_scatter_sum(lua_State *L) { return scatter(L, "scatter_sum", false); }
static int f_scatter_mean(lua_State *L) { return scatter(L, "scatter_mean", true); }

/* ---- fused kernels of the materials models (core/ops_graph.h) ---- */

static double check_number(lua_State *L, int idx, const char *fn, const char *what)
{
    int ok = 0;
    lua_Number v = lua_tonumberx(L, idx, &ok);
    if (!ok) luaL_error(L, "%s: %s must be a number (got %s)", fn, what, luaL_typename(L, idx));
    return (double)v;
}

/* x:softplus() / T.softplus(x) */
static int f_softplus(lua_State *L) { return l_push1(L, rp_softplus(l_checktensor(L, 1))); }

/* T.gaussian_expand(dist, K, cutoff) */
static int f_gaussian_expand(lua_State *L)
{
    rp_tensor *d = l_checktensor(L, 1);
    int64_t K = l_check_int(L, 2, "gaussian_expand", "number of Gaussians");
    double cutoff = check_number(L, 3, "gaussian_expand", "cutoff");
    return l_push1(L, rp_gaussian_expand(d, K, cutoff));
}

/* T.gated_conv(h, e, w, b, src, dst) */
static int f_gated_conv(lua_State *L)
{
    rp_tensor *h = l_checktensor(L, 1), *e = l_checktensor(L, 2), *w = l_checktensor(L, 3);
    rp_tensor *b = l_checktensor(L, 4);
    rp_tensor *src = index_arg(L, 5, "gated_conv");
    /* the second index may raise: keep the first in a Lua-owned slot meanwhile */
    int top = lua_gettop(L);
    if (!l_push1(L, src)) return 0;
    rp_tensor *dst = index_arg(L, 6, "gated_conv");
    rp_tensor *r = rp_gated_conv(h, e, w, b, l_checktensor(L, top + 1), dst);
    rp_tensor_release(dst);
    return l_push1(L, r);
}

/* T.linear(x, w [, b]) */
static int f_linear(lua_State *L)
{
    rp_tensor *x = l_checktensor(L, 1), *w = l_checktensor(L, 2);
    rp_tensor *b = lua_isnoneornil(L, 3) ? NULL : l_checktensor(L, 3);
    return l_push1(L, rp_linear(x, w, b));
}

/* x:layer_norm([eps = 1e-5]) / T.layer_norm(x [, eps]) */
static int f_layer_norm(lua_State *L)
{
    rp_tensor *x = l_checktensor(L, 1);
    double eps = lua_isnoneornil(L, 2) ? 1e-5 : check_number(L, 2, "layer_norm", "eps");
    return l_push1(L, rp_layer_norm(x, eps));
}

/* T.pair_silu(a, c, d, p) */
static int f_pair_silu(lua_State *L)
{
    return l_push1(L, rp_pair_silu(l_checktensor(L, 1), l_checktensor(L, 2), l_checktensor(L, 3),
                                   l_checktensor(L, 4)));
}

/* T.silu_mean(y, bias) */
static int f_silu_mean(lua_State *L) { return l_push1(L, rp_silu_mean(l_checktensor(L, 1), l_checktensor(L, 2))); }

/* T.pair_mlp_mean(a, c, d, p, w, bias) */
static int f_pair_mlp_mean(lua_State *L)
{
    return l_push1(L, rp_pair_mlp_mean(l_checktensor(L, 1), l_checktensor(L, 2), l_checktensor(L, 3),
                                       l_checktensor(L, 4), l_checktensor(L, 5), l_checktensor(L, 6)));
}

/* T.frac_fourier(frac, K) */
static int f_frac_fourier(lua_State *L)
{
    rp_tensor *f = l_checktensor(L, 1);
    return l_push1(L, rp_frac_fourier(f, l_check_int(L, 2, "frac_fourier", "number of frequencies")));
}

static const luaL_Reg scatter_methods[] = {
    {"softplus", f_softplus}, {"layer_norm", f_layer_norm},
    {"index_add", t_index_add}, {"scatter_sum", f_scatter_sum}, {"scatter_mean", f_scatter_mean},
    {NULL, NULL},
};
static const luaL_Reg scatter_functions[] = {
    {"index_add", t_index_add}, {"scatter_sum", f_scatter_sum}, {"scatter_mean", f_scatter_mean},
    {"softplus", f_softplus}, {"gaussian_expand", f_gaussian_expand}, {"gated_conv", f_gated_conv},
    {"linear", f_linear}, {"layer_norm", f_layer_norm}, {"pair_silu", f_pair_silu},
    {"silu_mean", f_silu_mean}, {"pair_mlp_mean", f_pair_mlp_mean}, {"frac_fourier", f_frac_fourier},
    {NULL, NULL},
};

int l_open_scatter(lua_State *L)
{
    l_add_methods(L, scatter_methods);
    luaL_newlib(L, scatter_functions);
    return 1;
}
