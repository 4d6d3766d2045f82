/* l_nnops.c: repro.core.nnops, the neural-network ops (merged into
 * repro.tensor by lua/repro/tensor.lua, and added as tensor methods).
 * Index conversion happens here: class ids, token ids and dims are 1-based
 * in Lua and 0-based in the core. */
#include "l_common.h"
#include "ops_nn.h"
#include "ops_seq.h"
#include "rng.h"

#include <math.h>
#include <string.h>


/* Push the core result or raise its error; callers free temporaries first. */
static int push_result(lua_State *L, rp_tensor *t)
{
    l_pushtensor(L, t);
    return 1;
}

/* 1-based Lua dim (negative counts from the end, default -1) -> 0-based core
 * dim; out of range is an error naming the Lua value. */
static int lua_dim(lua_State *L, int idx, const rp_tensor *x, const char *fn)
{
    lua_Integer d = luaL_optinteger(L, idx, -1);
    if (d == 0 || d > x->ndim || d < -(lua_Integer)x->ndim)
        return luaL_error(L, "%s: dimension %d out of range for a %d-d tensor%s", fn, (int)d,
                          x->ndim, d == 0 ? " (dimensions are 1-based; -1 is the last)" : "");
    return d > 0 ? (int)d - 1 : (int)d;
}

/* A 0-based copy of the 1-based i32 ids at idx. Values must lie in [1, n],
 * except `skip` (pass LUA_MININTEGER for none), which maps to skip - 1.
 * Raises before allocating anything, so no temporary leaks. */
static rp_tensor *ids_from_lua(lua_State *L, int idx, const char *fn, const char *what,
                               int64_t n, lua_Integer skip)
{
    rp_tensor *ids = l_checktensor(L, idx);
    if (ids->dtype != RP_I32)
        luaL_error(L, "%s: %s must be an i32 tensor, got %s", fn, what,
                   rp_dtype_info[ids->dtype].name);
    int64_t k = rp_numel(ids);
    for (int64_t i = 0; i < k; i++) {
        int64_t v = (int64_t)rp_get_flat(ids, i);
        if (v != skip && (v < 1 || v > n))
            luaL_error(L, "%s: %s %d at position %d out of range [1, %d]%s", fn, what, (int)v,
                       (int)(i + 1), (int)n, v == 0 ? " (ids are 1-based: add 1 to 0-based ids)" : "");
    }
    rp_tensor *c = rp_copy_contiguous(ids);
    if (!c) l_corerror(L);
    int32_t *p = RP_I32P(c);
    for (int64_t i = 0; i < k; i++) p[i] -= 1; /* skip - 1 stays distinct from [0, n) */
    return c;
}

static int l_matmul(lua_State *L)
{
    return push_result(L, rp_matmul(l_checktensor(L, 1), l_checktensor(L, 2)));
}

static int l_outer(lua_State *L)
{
    return push_result(L, rp_outer(l_checktensor(L, 1), l_checktensor(L, 2)));
}

static int l_softmax(lua_State *L)
{
    rp_tensor *x = l_checktensor(L, 1);
    return push_result(L, rp_softmax(x, lua_dim(L, 2, x, "softmax")));
}

static int l_log_softmax(lua_State *L)
{
    rp_tensor *x = l_checktensor(L, 1);
    return push_result(L, rp_log_softmax(x, lua_dim(L, 2, x, "log_softmax")));
}

/* cross_entropy(logits (N, C) | (B, T, C), targets i32 1-based, {ignore_index =,
 * weight = f32 of the targets' shape}): with weights, Σ w nll / Σ w. */
static int l_cross_entropy(lua_State *L)
{
    static const char *const opts[] = {"ignore_index", "reduction", "weight", NULL};
    rp_tensor *logits = l_checktensor(L, 1), *weight = NULL;
    l_checkoptions(L, 3, "cross_entropy", opts);
    lua_Integer ignore = LUA_MININTEGER;
    if (lua_istable(L, 3)) {
        lua_getfield(L, 3, "ignore_index");
        if (!lua_isnil(L, -1)) {
            int isnum;
            ignore = lua_tointegerx(L, -1, &isnum);
            if (!isnum || ignore <= INT32_MIN || ignore > INT32_MAX)
                luaL_error(L, "cross_entropy: ignore_index must be an integer in the i32 range");
        }
        lua_getfield(L, 3, "reduction");
        if (!lua_isnil(L, -1) && strcmp(lua_tostring(L, -1) ? lua_tostring(L, -1) : "", "mean") != 0)
            luaL_error(L, "cross_entropy: reduction '%s' not supported (only 'mean')",
                       luaL_tolstring(L, -1, NULL));
        lua_getfield(L, 3, "weight");
        if (!lua_isnil(L, -1)) {
            weight = l_totensor(L, -1);
            if (!weight)
                luaL_error(L, "cross_entropy: weight must be a tensor, got %s", luaL_typename(L, -1));
        }
        lua_pop(L, 3);
    }
    if (logits->ndim < 2)
        luaL_error(L, "cross_entropy: logits must be (N, C) or (B, T, C), got %d-d", logits->ndim);
    int64_t C = logits->shape[logits->ndim - 1];
    rp_tensor *t = ids_from_lua(L, 2, "cross_entropy", "target", C, ignore);
    int64_t ig = ignore == LUA_MININTEGER ? RP_NO_IGNORE : (int64_t)ignore - 1;
    rp_tensor *r = weight ? rp_cross_entropy_weighted(logits, t, ig, weight)
                          : rp_cross_entropy(logits, t, ig);
    rp_tensor_release(t);
    return push_result(L, r);
}

/* rms_norm(x, weight | nil, eps = 1e-5) */
static int l_rms_norm(lua_State *L)
{
    rp_tensor *x = l_checktensor(L, 1);
    rp_tensor *w = lua_isnoneornil(L, 2) ? NULL : l_checktensor(L, 2);
    double eps = luaL_optnumber(L, 3, 1e-5);
    if (!(eps >= 0)) luaL_error(L, "rms_norm: eps %f must be non-negative", eps);
    return push_result(L, rp_rms_norm(x, w, eps));
}

/* silu_mul(a, b) = silu(a) * b, one fused op (same shapes) */
static int l_silu_mul(lua_State *L)
{
    rp_tensor *a = l_checktensor(L, 1), *b = l_checktensor(L, 2);
    return push_result(L, rp_silu_mul(a, b));
}

/* embedding(weight (V, C), ids i32 1-based) -> (ids..., C) */
static int l_embedding(lua_State *L)
{
    rp_tensor *w = l_checktensor(L, 1);
    if (w->ndim != 2) {
        char s[RP_SHAPE_STRLEN];
        luaL_error(L, "embedding: weight must be (V, C), got %s", rp_shape_str(w, s, sizeof s));
    }
    rp_tensor *ids = ids_from_lua(L, 2, "embedding", "id", w->shape[0], LUA_MININTEGER);
    rp_tensor *r = rp_embedding(w, ids);
    rp_tensor_release(ids);
    return push_result(L, r);
}

/* attention(q, k, v [, {causal = true, key_mask = (B, Tk), impl = "blocked"}]):
 * without options (or causal with no mask and Tq == Tk) the training
 * kernels; impl "fused" (causal, no mask only) the fused kernel. */
static int l_attention(lua_State *L)
{
    static const char *const opts[] = {"causal", "key_mask", "impl", NULL};
    rp_tensor *q = l_checktensor(L, 1), *k = l_checktensor(L, 2), *v = l_checktensor(L, 3);
    if (lua_isnoneornil(L, 4)) return push_result(L, rp_attention(q, k, v));
    l_checkoptions(L, 4, "attention", opts);
    lua_getfield(L, 4, "impl");
    if (!lua_isnil(L, -1)) {
        static const char *const impls[] = {"blocked", "fused", NULL};
        const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        int which = -1;
        for (int i = 0; s && impls[i]; i++)
            if (strcmp(s, impls[i]) == 0) which = i;
        if (which < 0)
            luaL_error(L, "attention: impl must be 'blocked' or 'fused', got %s",
                       s ? s : luaL_typename(L, -1));
        if (which == 1) {
            lua_getfield(L, 4, "causal");
            lua_getfield(L, 4, "key_mask");
            if (lua_toboolean(L, -1) || (!lua_isnil(L, -2) && !(lua_isboolean(L, -2) && lua_toboolean(L, -2))))
                luaL_error(L, "attention: impl 'fused' is causal attention without key_mask");
            lua_pop(L, 3);
            return push_result(L, rp_attention_fused(q, k, v));
        }
    }
    lua_pop(L, 1);
    bool causal = true;
    rp_tensor *km = NULL;
    lua_getfield(L, 4, "causal");
    if (!lua_isnil(L, -1)) {
        if (!lua_isboolean(L, -1))
            luaL_error(L, "attention: causal must be a boolean, got %s", luaL_typename(L, -1));
        causal = lua_toboolean(L, -1);
    }
    lua_getfield(L, 4, "key_mask");
    if (!lua_isnil(L, -1)) {
        km = l_totensor(L, -1);
        if (!km) luaL_error(L, "attention: key_mask must be a tensor, got %s", luaL_typename(L, -1));
    }
    rp_tensor *r = rp_attention_masked(q, k, v, km, causal);
    lua_pop(L, 2);
    return push_result(L, r);
}

/* rope(x (..., T, D), {offset = 0, base = 10000}); offset counts positions
 * already seen (a length, not an index: no 1-based shift). */
static int l_rope(lua_State *L)
{
    static const char *const opts[] = {"offset", "base", NULL};
    rp_tensor *x = l_checktensor(L, 1);
    l_checkoptions(L, 2, "rope", opts);
    lua_Integer offset = 0;
    double base = 10000;
    if (lua_istable(L, 2)) {
        lua_getfield(L, 2, "offset");
        if (!lua_isnil(L, -1)) {
            int isnum;
            offset = lua_tointegerx(L, -1, &isnum);
            if (!isnum) luaL_error(L, "rope: offset must be an integer");
        }
        lua_getfield(L, 2, "base");
        if (!lua_isnil(L, -1)) base = luaL_checknumber(L, -1);
        lua_pop(L, 2);
    }
    return push_result(L, rp_rope(x, (int64_t)offset, base));
}

/* dropout(x, p = 0.5, {training = true, generator = g | seed = n}): the mask
 * comes from g, or from a fresh stream of `seed`, or else from the default
 * generator (repro.manual_seed). */
static int l_dropout(lua_State *L)
{
    static const char *const opts[] = {"training", "generator", "seed", NULL};
    rp_tensor *x = l_checktensor(L, 1);
    double p = luaL_optnumber(L, 2, 0.5);
    l_checkoptions(L, 3, "dropout", opts);
    bool training = true;
    rp_generator local, *g = rp_default_generator();
    if (lua_istable(L, 3)) {
        lua_getfield(L, 3, "training");
        if (!lua_isnil(L, -1)) training = lua_toboolean(L, -1);
        lua_getfield(L, 3, "seed");
        if (!lua_isnil(L, -1)) {
            int isnum;
            lua_Integer s = lua_tointegerx(L, -1, &isnum);
            if (!isnum) luaL_error(L, "dropout: seed must be an integer");
            rp_generator_seed(&local, (uint64_t)s);
            g = &local;
        }
        lua_getfield(L, 3, "generator");
        if (!lua_isnil(L, -1)) {
            g = l_togenerator(L, -1);
            if (!g) luaL_error(L, "dropout: option 'generator' must be a Generator (got %s)",
                               luaL_typename(L, -1));
        }
        lua_pop(L, 3);
    }
    return push_result(L, rp_dropout(x, p, training, g));
}

/* one_hot(ids i32 1-based, n) -> f32 (ids..., n) */
static int l_one_hot(lua_State *L)
{
    lua_Integer n = luaL_checkinteger(L, 2);
    if (n < 0 || n > INT32_MAX) luaL_error(L, "one_hot: number of classes %d out of range", (int)n);
    rp_tensor *ids = ids_from_lua(L, 1, "one_hot", "id", (int64_t)n, LUA_MININTEGER);
    rp_tensor *r = rp_one_hot(ids, (int64_t)n);
    rp_tensor_release(ids);
    return push_result(L, r);
}

static const luaL_Reg nn_functions[] = {
    {"matmul", l_matmul},
    {"outer", l_outer},
    {"softmax", l_softmax},
    {"log_softmax", l_log_softmax},
    {"cross_entropy", l_cross_entropy},
    {"rms_norm", l_rms_norm},
    {"silu_mul", l_silu_mul},
    {"embedding", l_embedding},
    {"attention", l_attention},
    {"scaled_dot_product_attention", l_attention},
    {"rope", l_rope},
    {"dropout", l_dropout},
    {"one_hot", l_one_hot},
    {NULL, NULL},
};

/* x:matmul(w), x:softmax(dim), logits:cross_entropy(targets), ... */
static const luaL_Reg nn_methods[] = {
    {"matmul", l_matmul},
    {"outer", l_outer},
    {"softmax", l_softmax},
    {"log_softmax", l_log_softmax},
    {"cross_entropy", l_cross_entropy},
    {"rms_norm", l_rms_norm},
    {"silu_mul", l_silu_mul},
    {"rope", l_rope},
    {"dropout", l_dropout},
    {"one_hot", l_one_hot},
    {NULL, NULL},
};

int l_open_nnops(lua_State *L)
{
    l_add_methods(L, nn_methods);
    luaL_newlib(L, nn_functions);
    return 1;
}
