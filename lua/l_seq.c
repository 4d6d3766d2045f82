/* l_seq.c: repro.core.seq, the generation and policy-gradient ops of
 * ops_seq.h: sample, token_logprobs, kl_categorical. They are also added as
 * tensor methods, so repro.tensor exposes them as T.sample(logits, opts) and
 * logits:sample(opts). Ids are 1-based here and 0-based in the core. */
#include "l_common.h"
#include "ops_seq.h"
#include "rng.h"

#include <math.h>
#include <string.h>

/* sample(logits (..., V), {temperature = 1, top_k = 0, top_p = 1,
 * generator = g | seed = n}) -> i32 (...) 1-based ids */
static int l_sample(lua_State *L)
{
    static const char *const opts[] = {"temperature", "top_k", "top_p", "generator", "seed", NULL};
    rp_tensor *x = l_checktensor(L, 1);
    l_checkoptions(L, 2, "sample", opts);
    double temperature = 1, top_p = 1;
    lua_Integer top_k = 0;
    rp_generator local, *g = rp_default_generator();
    if (lua_istable(L, 2)) {
        int isnum;
        lua_getfield(L, 2, "temperature");
        if (!lua_isnil(L, -1)) {
            temperature = lua_tonumberx(L, -1, &isnum);
            if (!isnum) luaL_error(L, "sample: temperature must be a number, got %s", luaL_typename(L, -1));
        }
        lua_getfield(L, 2, "top_k");
        if (!lua_isnil(L, -1)) {
            top_k = lua_tointegerx(L, -1, &isnum);
            if (!isnum) luaL_error(L, "sample: top_k must be an integer, got %s", luaL_tolstring(L, -1, NULL));
        }
        lua_getfield(L, 2, "top_p");
        if (!lua_isnil(L, -1)) {
            top_p = lua_tonumberx(L, -1, &isnum);
            if (!isnum) luaL_error(L, "sample: top_p must be a number, got %s", luaL_typename(L, -1));
        }
        lua_getfield(L, 2, "seed");
        if (!lua_isnil(L, -1)) {
            lua_Integer s = lua_tointegerx(L, -1, &isnum);
            if (!isnum) luaL_error(L, "sample: seed must be an integer");
            rp_generator_seed(&local, (uint64_t)s);
            g = &local;
        }
        lua_getfield(L, 2, "generator");
        if (!lua_isnil(L, -1)) {
            g = l_togenerator(L, -1);
            if (!g) luaL_error(L, "sample: option 'generator' must be a Generator (got %s)",
                               luaL_typename(L, -1));
        }
        lua_pop(L, 5);
    }
    if (x->dtype != RP_F32 || x->ndim < 1) {
        char s[RP_SHAPE_STRLEN];
        luaL_error(L, "sample: logits must be f32 of shape (..., V), got %s %s",
                   rp_dtype_info[x->dtype].name, rp_shape_str(x, s, sizeof s));
    }
    rp_tensor *ids = rp_sample(x, temperature, (int64_t)top_k, top_p, g);
    if (!ids) return l_corerror(L);
    int32_t *p = RP_I32P(ids);
    for (int64_t i = 0, n = rp_numel(ids); i < n; i++) p[i] += 1;
    l_pushtensor(L, ids);
    return 1;
}

/* The mask at idx (nil: none): a tensor of shape `like`'s. */
static rp_tensor *opt_mask(lua_State *L, int idx, const char *fn, const rp_tensor *like,
                           const char *what)
{
    if (lua_isnoneornil(L, idx)) return NULL;
    rp_tensor *m = l_checktensor(L, idx);
    if (!rp_same_shape(m, like)) {
        char a[RP_SHAPE_STRLEN], b[RP_SHAPE_STRLEN];
        luaL_error(L, "%s: mask %s must have the shape of %s %s", fn, rp_shape_str(m, a, sizeof a),
                   what, rp_shape_str(like, b, sizeof b));
    }
    return m;
}

/* token_logprobs(logits (..., V), ids (...) i32 1-based [, mask]) -> f32 (...) */
static int l_token_logprobs(lua_State *L)
{
    rp_tensor *x = l_checktensor(L, 1), *ids = l_checktensor(L, 2);
    if (x->dtype != RP_F32 || x->ndim < 1)
        luaL_error(L, "token_logprobs: logits must be f32 (..., V), got %s with %d dims",
                   rp_dtype_info[x->dtype].name, x->ndim);
    if (ids->dtype != RP_I32)
        luaL_error(L, "token_logprobs: ids must be an i32 tensor, got %s", rp_dtype_info[ids->dtype].name);
    bool ok = ids->ndim == x->ndim - 1;
    for (int d = 0; ok && d < ids->ndim; d++) ok = ids->shape[d] == x->shape[d];
    if (!ok) {
        char a[RP_SHAPE_STRLEN], b[RP_SHAPE_STRLEN];
        luaL_error(L, "token_logprobs: ids %s must have the shape of logits %s without the last dim",
                   rp_shape_str(ids, a, sizeof a), rp_shape_str(x, b, sizeof b));
    }
    rp_tensor *mask = opt_mask(L, 3, "token_logprobs", ids, "ids");
    const int64_t V = x->shape[x->ndim - 1], n = rp_numel(ids);
    for (int64_t i = 0; i < n; i++) {
        if (mask && rp_get_flat(mask, i) == 0) continue;
        int64_t v = (int64_t)rp_get_flat(ids, i);
        if (v < 1 || v > V)
            luaL_error(L, "token_logprobs: id %d at position %d out of range [1, %d]", (int)v,
                       (int)(i + 1), (int)V);
    }
    rp_tensor *c = rp_copy_contiguous(ids);
    if (!c) return l_corerror(L);
    int32_t *p = RP_I32P(c);
    for (int64_t i = 0; i < n; i++) p[i] -= 1; /* masked-out ids are never read */
    rp_tensor *r = rp_token_logprobs(x, c, mask);
    rp_tensor_release(c);
    l_pushtensor(L, r);
    return 1;
}

/* kl_categorical(logits_p, logits_q [, mask]) -> f32 (...) */
static int l_kl_categorical(lua_State *L)
{
    rp_tensor *p = l_checktensor(L, 1), *q = l_checktensor(L, 2), *mask = NULL;
    if (!lua_isnoneornil(L, 3)) {
        mask = l_checktensor(L, 3);
        bool ok = p->ndim >= 1 && mask->ndim == p->ndim - 1;
        for (int d = 0; ok && d < mask->ndim; d++) ok = mask->shape[d] == p->shape[d];
        if (!ok) {
            char a[RP_SHAPE_STRLEN], b[RP_SHAPE_STRLEN];
            luaL_error(L, "kl_categorical: mask %s must have the shape of logits %s without the last dim",
                       rp_shape_str(mask, a, sizeof a), rp_shape_str(p, b, sizeof b));
        }
    }
    l_pushtensor(L, rp_kl_categorical(p, q, mask));
    return 1;
}

int l_open_seq(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"sample", l_sample},
        {"token_logprobs", l_token_logprobs},
        {"kl_categorical", l_kl_categorical},
        {NULL, NULL},
    };
    l_add_methods(L, fns);
    luaL_newlib(L, fns);
    return 1;
}
