/* l_fp8.c: repro.core.fp8: formats, casts, quantized tensors, scaling
 * recipes, and the FP8/BF16 linear and SwiGLU ops (see lua/repro/fp8.lua for
 * the documented API). Thin: check arguments, call core/fp8*.c, wrap. */
#include "l_common.h"
#include "fp8.h"
#include "fp8_linear.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define L_QT_MT "repro.fp8.Quantized"
#define L_DS_MT "repro.fp8.DelayedScaling"
#define L_LR_MT "repro.fp8.LinearRecipe"

/* ---- argument helpers ---- */

static int check_fmt(lua_State *L, int idx, const char *fn, bool need8)
{
    const char *name = luaL_checkstring(L, idx);
    int f = rp_fp8_format_from_name(name);
    if (f < 0)
        return luaL_error(L, "%s: unknown format '%s' (valid: %s)", fn, name, rp_fp8_format_names());
    if (need8 && !rp_fp8_is_8bit(f))
        return luaL_error(L, "%s: %s is a 16-bit format with no 8-bit codes (use fp8.cast for "
                          "its values)", fn, name);
    return f;
}

static bool opt_bool(lua_State *L, int idx, const char *key, bool def)
{
    if (lua_isnoneornil(L, idx)) return def;
    lua_getfield(L, idx, key);
    bool v = lua_isnil(L, -1) ? def : lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

static double opt_num(lua_State *L, int idx, const char *fn, const char *key, double def)
{
    if (lua_isnoneornil(L, idx)) return def;
    lua_getfield(L, idx, key);
    double v = def;
    if (!lua_isnil(L, -1)) {
        if (!lua_isnumber(L, -1)) luaL_error(L, "%s: option '%s' must be a number", fn, key);
        v = lua_tonumber(L, -1);
    }
    lua_pop(L, 1);
    return v;
}

static const char *opt_str(lua_State *L, int idx, const char *key, const char *def)
{
    if (lua_isnoneornil(L, idx)) return def;
    lua_getfield(L, idx, key);
    const char *v = lua_isnil(L, -1) ? def : lua_tostring(L, -1);
    lua_pop(L, 1);
    return v ? v : def; /* the string stays alive in the options table */
}

/* Option `key` of the table at idx as an index into the NULL-terminated
 * list (luaL_checkoption's table lookup, with the house error message). */
static int opt_choice(lua_State *L, int idx, const char *fn, const char *key, const char *def,
                      const char *const *list)
{
    const char *v = opt_str(L, idx, key, def);
    for (int i = 0; list[i]; i++)
        if (strcmp(v, list[i]) == 0) return i;
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 0; list[i]; i++) {
        if (i) luaL_addstring(&b, ", ");
        luaL_addstring(&b, list[i]);
    }
    luaL_pushresult(&b);
    return luaL_error(L, "%s: unknown %s '%s' (valid: %s)", fn, key, v, lua_tostring(L, -1));
}

/* rounding option: false = nearest, true = stochastic */
static const char *const rounding_names[] = {"nearest", "stochastic", NULL};
static bool opt_rounding(lua_State *L, int idx, const char *fn)
{
    return opt_choice(L, idx, fn, "rounding", "nearest", rounding_names) == 1;
}

/* A format option with codes, by name from the format table. */
static int opt_format(lua_State *L, int idx, const char *fn, const char *key, const char *def)
{
    const char *v = opt_str(L, idx, key, def);
    int f = rp_fp8_format_from_name(v);
    if (!rp_fp8_is_8bit(f))
        return luaL_error(L, "%s: %s must be a format with codes (%s), got '%s'", fn, key,
                          rp_fp8_format_names(), v);
    return f;
}

/* Stochastic rounding draws from opts.generator (a repro.Generator, or an
 * integer seed for a fresh stream) or else from the default generator. */
static void opt_stream(lua_State *L, int idx, const char *fn, int64_t n, uint64_t *seed,
                       uint64_t *base)
{
    rp_generator *g = rp_default_generator();
    if (!lua_isnoneornil(L, idx)) {
        lua_getfield(L, idx, "generator");
        if (lua_isinteger(L, -1)) {
            *seed = (uint64_t)lua_tointeger(L, -1);
            *base = 0;
            lua_pop(L, 1);
            return;
        }
        if (!lua_isnil(L, -1)) {
            g = l_togenerator(L, -1);
            if (!g)
                luaL_error(L, "%s: option 'generator' must be a Generator or an integer seed "
                           "(got %s)", fn, luaL_typename(L, -1));
        }
        lua_pop(L, 1);
    }
    *seed = g->seed;
    *base = rp_generator_advance(g, (uint64_t)n);
}

static float check_scale(lua_State *L, double s, const char *fn)
{
    if (!(s > 0) || !isfinite(s) || !isfinite((float)s) || (float)s == 0.0f)
        luaL_error(L, "%s: scale must be positive and finite (got %f)", fn, s);
    return (float)s;
}

/* A contiguous f32 (or u8) reference to t, or a Lua error. */
static rp_tensor *contig(lua_State *L, rp_tensor *t, rp_dtype want, const char *fn)
{
    if (t->dtype != want)
        luaL_error(L, "%s: expected a %s tensor, got %s", fn, rp_dtype_info[want].name,
                   rp_dtype_info[t->dtype].name);
    if (rp_is_contiguous(t)) { rp_tensor_retain(t); return t; }
    rp_tensor *c = rp_copy_contiguous(t);
    if (!c) l_corerror(L);
    return c;
}

/* ---- formats ---- */

static int f_formats(lua_State *L)
{
    lua_createtable(L, RP_NFMT, 0);
    for (int f = 0; f < RP_NFMT; f++) {
        lua_pushstring(L, rp_fp8_info[f].name);
        lua_rawseti(L, -2, f + 1);
    }
    return 1;
}

static int f_info(lua_State *L)
{
    const rp_fp8_traits *t = &rp_fp8_info[check_fmt(L, 1, "fp8.info", false)];
    static const char *const nan_names[] = {[RP_NAN_IEEE] = "ieee", [RP_NAN_ALLONES] = "all_ones", [RP_NAN_NEGZERO] = "0x80", [RP_NAN_FF] = "0xff", [RP_NAN_NONE] = "none"};
    lua_createtable(L, 0, 12);
    lua_pushstring(L, t->name); lua_setfield(L, -2, "name");
    lua_pushinteger(L, t->bits); lua_setfield(L, -2, "bits");
    lua_pushinteger(L, t->ebits); lua_setfield(L, -2, "ebits");
    lua_pushinteger(L, t->mbits); lua_setfield(L, -2, "mbits");
    lua_pushinteger(L, t->bias); lua_setfield(L, -2, "bias");
    lua_pushnumber(L, t->max); lua_setfield(L, -2, "max");
    lua_pushnumber(L, t->min_normal); lua_setfield(L, -2, "min_normal");
    lua_pushnumber(L, t->min_subnormal); lua_setfield(L, -2, "min_subnormal");
    lua_pushboolean(L, t->has_inf); lua_setfield(L, -2, "inf");
    lua_pushboolean(L, t->has_negative_zero); lua_setfield(L, -2, "negative_zero");
    lua_pushboolean(L, t->is_signed); lua_setfield(L, -2, "signed");
    lua_pushstring(L, nan_names[t->nan]); lua_setfield(L, -2, "nan");
    return 1;
}

static const char *const cast_opts[] = {"saturate", "rounding", "generator", NULL};

static int f_cast(lua_State *L)
{
    rp_tensor *t = l_checktensor(L, 1);
    int f = check_fmt(L, 2, "fp8.cast", false);
    l_checkoptions(L, 3, "fp8.cast", cast_opts);
    bool sat = opt_bool(L, 3, "saturate", false), sr = opt_rounding(L, 3, "fp8.cast");
    int64_t n = rp_numel(t);
    uint64_t seed = 0, base = 0;
    if (sr) opt_stream(L, 3, "fp8.cast", n, &seed, &base);
    rp_tensor *c = contig(L, t, RP_F32, "fp8.cast");
    rp_tensor *o = rp_empty(RP_F32, c->ndim, c->shape);
    if (!o) { rp_tensor_release(c); return l_corerror(L); }
    if (sr) rp_fp8_cast_sr_f32(RP_F32P(o), RP_F32P(c), n, f, sat, seed, base);
    else rp_fp8_cast_f32(RP_F32P(o), RP_F32P(c), n, f, sat);
    rp_tensor_release(c);
    l_pushtensor(L, o);
    return 1;
}

static const char *const enc_opts[] = {"saturate", "rounding", "generator", "scale", NULL};

static int f_encode(lua_State *L)
{
    rp_tensor *t = l_checktensor(L, 1);
    int f = check_fmt(L, 2, "fp8.encode", true);
    l_checkoptions(L, 3, "fp8.encode", enc_opts);
    bool sat = opt_bool(L, 3, "saturate", false), sr = opt_rounding(L, 3, "fp8.encode");
    float scale = check_scale(L, opt_num(L, 3, "fp8.encode", "scale", 1.0), "fp8.encode");
    int64_t n = rp_numel(t);
    uint64_t seed = 0, base = 0;
    if (sr) opt_stream(L, 3, "fp8.encode", n, &seed, &base);
    rp_tensor *c = contig(L, t, RP_F32, "fp8.encode");
    rp_tensor *o = rp_empty(RP_U8, c->ndim, c->shape);
    if (!o) { rp_tensor_release(c); return l_corerror(L); }
    if (sr) rp_fp8_encode_sr_f32(RP_U8P(o), RP_F32P(c), n, f, scale, sat, seed, base);
    else rp_fp8_encode_f32(RP_U8P(o), RP_F32P(c), n, f, scale, sat);
    rp_tensor_release(c);
    l_pushtensor(L, o);
    return 1;
}

static const char *const dec_opts[] = {"scale", NULL};

static int f_decode(lua_State *L)
{
    rp_tensor *t = l_checktensor(L, 1);
    int f = check_fmt(L, 2, "fp8.decode", true);
    l_checkoptions(L, 3, "fp8.decode", dec_opts);
    if (t->dtype != RP_U8)
        return luaL_error(L, "fp8.decode: codes must be a u8 tensor, got %s",
                          rp_dtype_info[t->dtype].name);
    float scale = check_scale(L, opt_num(L, 3, "fp8.decode", "scale", 1.0), "fp8.decode");
    rp_tensor *c = contig(L, t, RP_U8, "fp8.decode");
    rp_tensor *o = rp_empty(RP_F32, c->ndim, c->shape);
    if (!o) { rp_tensor_release(c); return l_corerror(L); }
    rp_fp8_decode_f32(RP_F32P(o), RP_U8P(c), rp_numel(c), f, 1.0f / scale);
    rp_tensor_release(c);
    l_pushtensor(L, o);
    return 1;
}

/* ---- quantized tensors ---- */

typedef struct {
    rp_tensor *codes;      /* u8, the input's shape */
    rp_tensor *scales;     /* f32 per row/column, or NULL for one scale */
    int fmt, mode;         /* mode: 0 tensor, 1 per row (token), 2 per column (channel),
                            * 3 MX blocks (fmt: an MX format; scales: u8 e8m0fnu codes) */
    int64_t k;             /* MX: elements along the last dimension */
    rp_fp8_qstats st;
} l_quant;

static l_quant *check_q(lua_State *L, int idx)
{
    l_quant *q = luaL_checkudata(L, idx, L_QT_MT);
    if (!q->codes) luaL_error(L, "quantized tensor used after it was closed");
    return q;
}

static int q_gc(lua_State *L)
{
    l_quant *q = luaL_checkudata(L, 1, L_QT_MT);
    rp_tensor_release(q->codes);
    rp_tensor_release(q->scales);
    q->codes = q->scales = NULL;
    return 0;
}

static l_quant *new_q(lua_State *L)
{
    l_quant *q = lua_newuserdatauv(L, sizeof *q, 0);
    memset(q, 0, sizeof *q);
    luaL_setmetatable(L, L_QT_MT);
    return q;
}

static const char *const quant_opts[] = {"scale", "saturate", "rounding", "generator", NULL};

/* fp8.quantize(x, "mxfp4" | ...): blocks of 32 along the last dimension. */
static int quantize_mx(lua_State *L, int mx)
{
    const char *fn = "fp8.quantize";
    rp_tensor *t = l_checktensor(L, 1);
    static const char *const mx_opts[] = {NULL};
    l_checkoptions(L, 3, fn, mx_opts);
    if (t->ndim < 1) return luaL_error(L, "%s: %s needs a tensor with at least one dimension", fn, rp_mx_info[mx].name);
    rp_tensor *c = contig(L, t, RP_F32, fn);
    int64_t K = c->shape[c->ndim - 1], R = K ? rp_numel(c) / K : 0;
    int64_t shp[RP_MAXDIM];
    memcpy(shp, c->shape, sizeof(int64_t) * (size_t)c->ndim);
    l_quant *q = new_q(L);
    q->fmt = mx;
    q->mode = 3;
    q->k = K;
    shp[c->ndim - 1] = rp_mx_row_bytes(mx, K);
    q->codes = rp_empty(RP_U8, c->ndim, shp);
    shp[c->ndim - 1] = rp_mx_row_blocks(K);
    q->scales = q->codes ? rp_empty(RP_U8, c->ndim, shp) : NULL;
    if (!q->scales) { rp_tensor_release(c); return l_corerror(L); }
    rp_mx_quantize_f32(RP_U8P(q->codes), RP_U8P(q->scales), &q->st.amax, RP_F32P(c), R, K, mx);
    q->st.numel = rp_numel(c);
    rp_tensor_release(c);
    return 1;
}

static int f_quantize(lua_State *L)
{
    rp_tensor *t = l_checktensor(L, 1);
    if (lua_type(L, 2) == LUA_TSTRING) {
        const char *name = lua_tostring(L, 2);
        int mx = rp_mx_format_from_name(name);
        if (mx >= 0) return quantize_mx(L, mx);
        if (rp_fp8_format_from_name(name) < 0)
            return luaL_error(L, "fp8.quantize: unknown format '%s' (valid: %s, %s)", name,
                              rp_fp8_format_names(), rp_mx_format_names());
    }
    int f = check_fmt(L, 2, "fp8.quantize", true);
    l_checkoptions(L, 3, "fp8.quantize", quant_opts);
    bool sat = opt_bool(L, 3, "saturate", false), sr = opt_rounding(L, 3, "fp8.quantize");
    float scale = check_scale(L, opt_num(L, 3, "fp8.quantize", "scale", 1.0), "fp8.quantize");
    l_quant *q = new_q(L);
    int64_t n = rp_numel(t);
    uint64_t seed = 0, base = 0;
    if (sr) opt_stream(L, 3, "fp8.quantize", n, &seed, &base);
    rp_tensor *c = contig(L, t, RP_F32, "fp8.quantize");
    q->codes = rp_empty(RP_U8, c->ndim, c->shape);
    if (!q->codes) { rp_tensor_release(c); return l_corerror(L); }
    q->fmt = f;
    rp_fp8_quantize_f32(RP_U8P(q->codes), &q->st, RP_F32P(c), n, f, scale, sat, sr, seed, base);
    rp_tensor_release(c);
    return 1;
}

static const char *const rc_opts[] = {"margin", "pow2", "saturate", NULL};

/* per-token (rows of the (-1, C) view) or per-channel (columns) scaling */
static int quantize_rc(lua_State *L, bool rows)
{
    const char *fn = rows ? "fp8.quantize_per_token" : "fp8.quantize_per_channel";
    rp_tensor *t = l_checktensor(L, 1);
    int f = check_fmt(L, 2, fn, true);
    l_checkoptions(L, 3, fn, rc_opts);
    bool sat = opt_bool(L, 3, "saturate", false), pow2 = opt_bool(L, 3, "pow2", false);
    double margin = opt_num(L, 3, fn, "margin", 0.0);
    if (!isfinite(margin)) return luaL_error(L, "%s: margin must be finite", fn);
    if (t->ndim < 1) return luaL_error(L, "%s: needs at least 1 dimension", fn);
    l_quant *q = new_q(L);
    rp_tensor *c = contig(L, t, RP_F32, fn);
    int64_t C = c->shape[c->ndim - 1], R = C ? rp_numel(c) / C : 0, ns = rows ? R : C;
    q->codes = rp_empty(RP_U8, c->ndim, c->shape);
    q->scales = rp_empty(RP_F32, 1, &ns);
    if (!q->codes || !q->scales) { rp_tensor_release(c); return l_corerror(L); }
    float *s = RP_F32P(q->scales);
    if (rows) rp_amax_rows_f32(s, RP_F32P(c), R, C);
    else rp_amax_cols_f32(s, RP_F32P(c), R, C);
    for (int64_t i = 0; i < ns; i++) s[i] = rp_fp8_current_scale(s[i], f, (float)margin, pow2);
    if (rows) rp_fp8_quantize_rows_f32(RP_U8P(q->codes), &q->st, RP_F32P(c), R, C, f, s, sat);
    else rp_fp8_quantize_cols_f32(RP_U8P(q->codes), &q->st, RP_F32P(c), R, C, f, s, sat);
    q->fmt = f;
    q->mode = rows ? 1 : 2;
    rp_tensor_release(c);
    return 1;
}

static int f_quantize_per_token(lua_State *L) { return quantize_rc(L, true); }
static int f_quantize_per_channel(lua_State *L) { return quantize_rc(L, false); }

static int q_dequantize(lua_State *L)
{
    l_quant *q = check_q(L, 1);
    int64_t shp[RP_MAXDIM];
    memcpy(shp, q->codes->shape, sizeof(int64_t) * (size_t)q->codes->ndim);
    if (q->mode == 3) shp[q->codes->ndim - 1] = q->k;
    rp_tensor *o = rp_empty(RP_F32, q->codes->ndim, shp);
    if (!o) return l_corerror(L);
    int64_t n = rp_numel(o);
    if (q->mode == 0) {
        rp_fp8_decode_f32(RP_F32P(o), RP_U8P(q->codes), n, q->fmt, 1.0f / q->st.scale);
    } else if (q->mode == 3) {
        rp_mx_dequantize_f32(RP_F32P(o), RP_U8P(q->codes), RP_U8P(q->scales), q->k ? n / q->k : 0, q->k, q->fmt);
    } else {
        const float *tab = rp_fp8_table(q->fmt), *s = RP_F32P(q->scales);
        const uint8_t *c = RP_U8P(q->codes);
        int64_t C = q->codes->shape[q->codes->ndim - 1];
        float *y = RP_F32P(o);
        for (int64_t i = 0; i < n; i++) y[i] = tab[c[i]] / s[q->mode == 1 ? i / C : i % C];
    }
    l_pushtensor(L, o);
    return 1;
}

static int q_codes(lua_State *L)
{
    l_quant *q = check_q(L, 1);
    rp_tensor_retain(q->codes);
    l_pushtensor(L, q->codes);
    return 1;
}

static int q_scale(lua_State *L)
{
    l_quant *q = check_q(L, 1);
    if (q->scales) {
        rp_tensor_retain(q->scales);
        l_pushtensor(L, q->scales);
    } else {
        lua_pushnumber(L, q->st.scale);
    }
    return 1;
}

static int q_amax(lua_State *L) { lua_pushnumber(L, check_q(L, 1)->st.amax); return 1; }
static const char *q_fmtname(const l_quant *q)
{
    return q->mode == 3 ? rp_mx_info[q->fmt].name : rp_fp8_info[q->fmt].name;
}
static int q_format(lua_State *L) { lua_pushstring(L, q_fmtname(check_q(L, 1))); return 1; }

static int q_index(lua_State *L)
{
    l_quant *q = check_q(L, 1);
    const char *k = luaL_checkstring(L, 2);
    if (strcmp(k, "saturated") == 0) { lua_pushinteger(L, q->st.saturated); return 1; }
    if (strcmp(k, "flushed") == 0) { lua_pushinteger(L, q->st.flushed); return 1; }
    if (strcmp(k, "numel") == 0) { lua_pushinteger(L, q->st.numel); return 1; }
    if (strcmp(k, "granularity") == 0) { lua_pushstring(L, q->mode == 0 ? "tensor" : q->mode == 1 ? "token" : "channel"); return 1; }
    lua_getmetatable(L, 1);
    lua_getfield(L, -1, "methods");
    lua_getfield(L, -1, k);
    return 1;
}

static int q_tostring(lua_State *L)
{
    l_quant *q = check_q(L, 1);
    char s[RP_SHAPE_STRLEN];
    lua_pushfstring(L, "fp8.quantized(%s, shape=%s, amax=%f, saturated=%d, flushed=%d)",
                    q_fmtname(q), rp_shape_str(q->codes, s, sizeof s),
                    (double)q->st.amax, (int)q->st.saturated, (int)q->st.flushed);
    return 1;
}

static const luaL_Reg q_methods[] = {
    {"dequantize", q_dequantize}, {"codes", q_codes}, {"scale", q_scale},
    {"amax", q_amax}, {"format", q_format}, {NULL, NULL},
};

/* ---- scaling recipes ---- */

static const char *const cs_opts[] = {"margin", "pow2", NULL};

static int f_current_scale(lua_State *L)
{
    double amax = luaL_checknumber(L, 1);
    int f = check_fmt(L, 2, "fp8.current_scale", false);
    l_checkoptions(L, 3, "fp8.current_scale", cs_opts);
    double margin = opt_num(L, 3, "fp8.current_scale", "margin", 0.0);
    if (!isfinite(margin)) return luaL_error(L, "fp8.current_scale: margin must be finite");
    if (amax < 0) return luaL_error(L, "fp8.current_scale: amax %f is negative", amax);
    lua_pushnumber(L, rp_fp8_current_scale((float)amax, f, (float)margin,
                                           opt_bool(L, 3, "pow2", false)));
    return 1;
}

typedef struct { rp_delayed_scaling *d; } l_ds;

static rp_delayed_scaling *check_ds(lua_State *L, int idx)
{
    l_ds *u = luaL_checkudata(L, idx, L_DS_MT);
    if (!u->d) luaL_error(L, "delayed_scaling used after it was closed");
    return u->d;
}

static int ds_gc(lua_State *L)
{
    l_ds *u = luaL_checkudata(L, 1, L_DS_MT);
    free(u->d);
    u->d = NULL;
    return 0;
}

static const char *const algo_names[] = {[RP_AMAX_MAX] = "max", [RP_AMAX_MOST_RECENT] = "most_recent", NULL};
static int check_algo(lua_State *L, int idx, const char *fn)
{
    return opt_choice(L, idx, fn, "algo", "max", algo_names);
}

static int check_history(lua_State *L, int idx, const char *fn)
{
    double h = opt_num(L, idx, fn, "history", 16);
    if (!(h >= 1) || h > (1 << 20) || h != floor(h))
        return luaL_error(L, "%s: history must be an integer >= 1 (got %f)", fn, h);
    return (int)h;
}

static const char *const ds_opts[] = {"history", "margin", "algo", "fmt", NULL};

static int f_delayed_scaling(lua_State *L)
{
    const char *fn = "fp8.delayed_scaling";
    if (lua_isnoneornil(L, 1)) { lua_settop(L, 0); lua_newtable(L); }
    l_checkoptions(L, 1, fn, ds_opts);
    int hist = check_history(L, 1, fn), algo = check_algo(L, 1, fn);
    double margin = opt_num(L, 1, fn, "margin", 0);
    lua_getfield(L, 1, "fmt");
    if (lua_isnil(L, -1)) { lua_pop(L, 1); lua_pushstring(L, "e4m3fn"); }
    int f = check_fmt(L, -1, fn, false);
    lua_pop(L, 1);
    l_ds *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->d = NULL;
    luaL_setmetatable(L, L_DS_MT);
    u->d = rp_delayed_scaling_new(f, hist, (float)margin, algo);
    if (!u->d) return l_corerror(L);
    return 1;
}

static int ds_scale(lua_State *L) { lua_pushnumber(L, check_ds(L, 1)->scale); return 1; }

static int ds_update(lua_State *L)
{
    rp_delayed_scaling *d = check_ds(L, 1);
    rp_delayed_scaling_update(d, (float)luaL_checknumber(L, 2));
    lua_pushnumber(L, d->scale);
    return 1;
}

static void push_ds_state(lua_State *L, const rp_delayed_scaling *d)
{
    lua_createtable(L, 0, 2);
    lua_pushnumber(L, d->scale);
    lua_setfield(L, -2, "scale");
    lua_createtable(L, d->history_len, 0);
    for (int i = 0; i < d->history_len; i++) {
        lua_pushnumber(L, d->amax_history[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "amax_history");
}

static void load_ds_state(lua_State *L, int idx, rp_delayed_scaling *d, const char *fn)
{
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_getfield(L, idx, "scale");
    double s = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : -1;
    lua_pop(L, 1);
    if (!(s > 0) || !isfinite(s)) luaL_error(L, "%s: state.scale must be positive and finite", fn);
    lua_getfield(L, idx, "amax_history");
    if (!lua_istable(L, -1) || (int)lua_rawlen(L, -1) != d->history_len)
        luaL_error(L, "%s: state.amax_history must be a table of %d numbers", fn, d->history_len);
    for (int i = 0; i < d->history_len; i++) {
        lua_rawgeti(L, -1, i + 1);
        if (!lua_isnumber(L, -1)) luaL_error(L, "%s: amax_history[%d] is not a number", fn, i + 1);
        d->amax_history[i] = (float)lua_tonumber(L, -1);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    d->scale = (float)s;
}

static int ds_state(lua_State *L) { push_ds_state(L, check_ds(L, 1)); return 1; }
static int ds_load_state(lua_State *L)
{
    load_ds_state(L, 2, check_ds(L, 1), "delayed_scaling:load_state");
    return 0;
}

static int ds_tostring(lua_State *L)
{
    rp_delayed_scaling *d = check_ds(L, 1);
    lua_pushfstring(L, "fp8.delayed_scaling(%s, history=%d, scale=%f)", rp_fp8_info[d->fmt].name,
                    d->history_len, (double)d->scale);
    return 1;
}

static const luaL_Reg ds_methods[] = {
    {"scale", ds_scale}, {"update", ds_update}, {"state", ds_state},
    {"load_state", ds_load_state}, {NULL, NULL},
};

/* ---- linear recipes, linear and swiglu ---- */

typedef struct { rp_linear_recipe *r; } l_lr;

static rp_linear_recipe *check_lr(lua_State *L, int idx)
{
    l_lr *u = luaL_checkudata(L, idx, L_LR_MT);
    if (!u->r) luaL_error(L, "linear_recipe used after it was closed");
    return u->r;
}

static int lr_gc(lua_State *L)
{
    l_lr *u = luaL_checkudata(L, 1, L_LR_MT);
    rp_linear_recipe_release(u->r);
    u->r = NULL;
    return 0;
}

static const char *const lr_opts[] = {"numerics", "scaling", "history", "margin", "algo",
                                      "saturate", "pow2", "forward_format", "backward_format",
                                      "grad_rounding", "seed", "backward_operand_format",
                                      "input_bf16", NULL};
static const char *const numerics_names[] = {[RP_NUMERICS_FP32] = "fp32", [RP_NUMERICS_BF16] = "bf16",
                                              [RP_NUMERICS_FP8] = "fp8", NULL};
static const char *const scaling_names[] = {"delayed", "current", NULL};

static int f_linear_recipe(lua_State *L)
{
    const char *fn = "fp8.linear_recipe";
    if (lua_isnoneornil(L, 1)) { lua_settop(L, 0); lua_newtable(L); }
    l_checkoptions(L, 1, fn, lr_opts);
    int numerics = opt_choice(L, 1, fn, "numerics", "fp8", numerics_names);
    bool delayed = opt_choice(L, 1, fn, "scaling", "delayed", scaling_names) == 0;
    int hist = check_history(L, 1, fn), algo = check_algo(L, 1, fn);
    int fwd = opt_format(L, 1, fn, "forward_format", "e4m3fn");
    int bwd = opt_format(L, 1, fn, "backward_format", "e5m2");
    double margin = opt_num(L, 1, fn, "margin", 0);
    l_lr *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->r = NULL;
    luaL_setmetatable(L, L_LR_MT);
    bool sr = opt_choice(L, 1, fn, "grad_rounding", "nearest", rounding_names) == 1;
    double seed = opt_num(L, 1, fn, "seed", 0);
    if (!(seed >= 0) || seed > 9007199254740992.0 || seed != floor(seed))
        return luaL_error(L, "%s: seed must be an integer >= 0 (got %f)", fn, seed);
    int bop = -1;
    if (!lua_isnoneornil(L, 1)) {
        lua_getfield(L, 1, "backward_operand_format");
        bool given = !lua_isnil(L, -1);
        lua_pop(L, 1);
        if (given) bop = opt_format(L, 1, fn, "backward_operand_format", "e5m2");
    }
    bool in_bf16 = opt_bool(L, 1, "input_bf16", false);
    u->r = rp_linear_recipe_new(numerics, delayed, hist, (float)margin, algo,
                                opt_bool(L, 1, "saturate", true), opt_bool(L, 1, "pow2", false));
    if (!u->r || rp_linear_recipe_set_formats(u->r, fwd, bwd)) return l_corerror(L);
    u->r->sr_grad = sr;
    u->r->seed = (uint64_t)seed;
    u->r->bwd_fmt = bop;
    u->r->input_bf16 = in_bf16;
    return 1;
}

/* recipe:freeze(true): later uses record no statistics and leave the amax
 * histories alone (evaluation forwards); freeze(false) undoes it. Returns
 * the previous setting. */
static int lr_freeze(lua_State *L)
{
    rp_linear_recipe *r = check_lr(L, 1);
    bool was = r->frozen;
    r->frozen = lua_toboolean(L, 2);
    lua_pushboolean(L, was);
    return 1;
}

/* recipe:reseed(n): the stream of the stochastic gradient rounding, from its start. */
static int lr_reseed(lua_State *L)
{
    rp_linear_recipe *r = check_lr(L, 1);
    lua_Integer n = luaL_checkinteger(L, 2);
    if (n < 0) return luaL_error(L, "linear_recipe:reseed: seed must be >= 0, got %d", (int)n);
    r->seed = (uint64_t)n;
    r->sr_used = 0;
    return 0;
}

static const char *const role_names[RP_NROLES] = {"input", "weight", "grad_output"};

static int lr_stats(lua_State *L)
{
    rp_linear_recipe *r = check_lr(L, 1);
    lua_createtable(L, 0, RP_NROLES + 1);
    for (int k = 0; k < RP_NROLES; k++) {
        const rp_fp8_qstats *s = &r->last[k];
        lua_createtable(L, 0, 6);
        lua_pushnumber(L, s->amax); lua_setfield(L, -2, "amax");
        lua_pushnumber(L, s->scale); lua_setfield(L, -2, "scale");
        lua_pushinteger(L, s->saturated); lua_setfield(L, -2, "saturated");
        lua_pushinteger(L, s->flushed); lua_setfield(L, -2, "flushed");
        lua_pushinteger(L, s->numel); lua_setfield(L, -2, "numel");
        lua_pushinteger(L, r->calls[k]); lua_setfield(L, -2, "calls");
        lua_setfield(L, -2, role_names[k]);
    }
    if (r->bwd_fmt >= 0) { /* the backward copies of x and W */
        static const char *const bn[2] = {"input_bwd", "weight_bwd"};
        for (int k = 0; k < 2; k++) {
            const rp_fp8_qstats *s = &r->last_bwd[k];
            lua_createtable(L, 0, 5);
            lua_pushnumber(L, s->amax); lua_setfield(L, -2, "amax");
            lua_pushnumber(L, s->scale); lua_setfield(L, -2, "scale");
            lua_pushinteger(L, s->saturated); lua_setfield(L, -2, "saturated");
            lua_pushinteger(L, s->flushed); lua_setfield(L, -2, "flushed");
            lua_pushinteger(L, s->numel); lua_setfield(L, -2, "numel");
            lua_setfield(L, -2, bn[k]);
        }
    }
    return 1;
}

static int lr_state(lua_State *L)
{
    rp_linear_recipe *r = check_lr(L, 1);
    lua_createtable(L, 0, RP_NROLES + 1);
    for (int k = 0; k < RP_NROLES; k++) {
        if (!r->ds[k]) continue;
        push_ds_state(L, r->ds[k]);
        lua_setfield(L, -2, role_names[k]);
    }
    if (r->sr_grad) { /* where the stochastic rounding's stream stands (resume) */
        lua_pushinteger(L, (lua_Integer)r->sr_used);
        lua_setfield(L, -2, "sr_used");
    }
    return 1;
}

static int lr_load_state(lua_State *L)
{
    rp_linear_recipe *r = check_lr(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    for (int k = 0; k < RP_NROLES; k++) {
        if (!r->ds[k]) continue;
        lua_getfield(L, 2, role_names[k]);
        if (!lua_istable(L, -1))
            return luaL_error(L, "linear_recipe:load_state: missing state for role '%s'", role_names[k]);
        load_ds_state(L, lua_gettop(L), r->ds[k], "linear_recipe:load_state");
        lua_pop(L, 1);
    }
    lua_getfield(L, 2, "sr_used");
    if (lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 0) r->sr_used = (uint64_t)lua_tointeger(L, -1);
    lua_pop(L, 1);
    return 0;
}

static int lr_tostring(lua_State *L)
{
    rp_linear_recipe *r = check_lr(L, 1);
    static const char *nn[] = {"fp32", "bf16", "fp8"};
    lua_pushfstring(L, "fp8.linear_recipe(%s, %s)", nn[r->numerics],
                    r->delayed ? "delayed" : "current");
    return 1;
}

static const luaL_Reg lr_methods[] = {
    {"stats", lr_stats}, {"state", lr_state}, {"load_state", lr_load_state},
    {"freeze", lr_freeze}, {"reseed", lr_reseed}, {NULL, NULL},
};

static rp_linear_recipe *opt_lr(lua_State *L, int idx)
{
    return lua_isnoneornil(L, idx) ? NULL : check_lr(L, idx);
}

static int f_linear(lua_State *L)
{
    rp_tensor *x = l_checktensor(L, 1), *w = l_checktensor(L, 2);
    rp_linear_recipe *r = opt_lr(L, 3);
    l_pushtensor(L, rp_fp8_linear(x, w, r));
    return 1;
}

static const char *const sw_opts[] = {"recipes", "smooth", "statistic", NULL};

static int f_swiglu(lua_State *L)
{
    rp_tensor *x = l_checktensor(L, 1), *w1 = l_checktensor(L, 2), *w2 = l_checktensor(L, 3),
              *w3 = l_checktensor(L, 4);
    l_checkoptions(L, 5, "fp8.swiglu", sw_opts);
    rp_linear_recipe *rs[3] = {NULL, NULL, NULL};
    if (!lua_isnoneornil(L, 5)) {
        lua_getfield(L, 5, "recipes");
        if (!lua_isnil(L, -1)) {
            if (!lua_istable(L, -1)) return luaL_error(L, "fp8.swiglu: recipes must be a table of 3");
            for (int i = 0; i < 3; i++) {
                lua_rawgeti(L, -1, i + 1);
                rs[i] = opt_lr(L, lua_gettop(L));
                lua_pop(L, 1);
            }
        }
        lua_pop(L, 1);
    }
    static const char *const smooth_names[] = {[RP_SMOOTH_NONE] = "none", [RP_SMOOTH_CHANNEL] = "channel",
                                               [RP_SMOOTH_TOKEN] = "token", NULL};
    int smooth = opt_choice(L, 5, "fp8.swiglu", "smooth", "none", smooth_names);
    static const char *const stat_names[] = {[RP_SMOOTH_STAT_OUTPUT] = "output",
                                             [RP_SMOOTH_STAT_LINEAR] = "linear", NULL};
    int stat = opt_choice(L, 5, "fp8.swiglu", "statistic", "output", stat_names);
    rp_swiglu_stats st;
    rp_tensor *y = rp_fp8_swiglu(x, w1, w2, w3, rs, smooth, stat, &st);
    l_pushtensor(L, y);
    lua_createtable(L, 0, 1);
    lua_pushnumber(L, st.h_amax);
    lua_setfield(L, -2, "h_amax");
    return 2;
}

/* ---- module ---- */

static void new_class(lua_State *L, const char *mt, const luaL_Reg *methods, lua_CFunction gc,
                      lua_CFunction tostring, lua_CFunction index)
{
    luaL_newmetatable(L, mt);
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    if (index) {
        lua_setfield(L, -2, "methods");
        lua_pushcfunction(L, index);
    }
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, gc);
    lua_setfield(L, -2, "__close");
    lua_pushcfunction(L, tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pop(L, 1);
}

static const luaL_Reg fp8_functions[] = {
    {"formats", f_formats},
    {"info", f_info},
    {"cast", f_cast},
    {"encode", f_encode},
    {"decode", f_decode},
    {"quantize", f_quantize},
    {"quantize_per_token", f_quantize_per_token},
    {"quantize_per_channel", f_quantize_per_channel},
    {"current_scale", f_current_scale},
    {"delayed_scaling", f_delayed_scaling},
    {"linear_recipe", f_linear_recipe},
    {"linear", f_linear},
    {"swiglu", f_swiglu},
    {NULL, NULL},
};

int l_open_fp8(lua_State *L)
{
    new_class(L, L_QT_MT, q_methods, q_gc, q_tostring, q_index);
    new_class(L, L_DS_MT, ds_methods, ds_gc, ds_tostring, NULL);
    new_class(L, L_LR_MT, lr_methods, lr_gc, lr_tostring, NULL);
    luaL_newlib(L, fp8_functions);
    return 1;
}
