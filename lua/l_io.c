/* l_io.c: repro.core.io: the file plumbing checkpoints need and Lua lacks:
 * a checksum of tensor bytes, fsync, and a directory listing.
 *
 *   io.fnv1a64(tensor | string) -> 16 hex digits (FNV-1a 64 over the bytes;
 *       a tensor is hashed in contiguous order, little-endian element bytes)
 *   io.fsync(path)   -> true, or nil + message (files and directories)
 *   io.listdir(path) -> sorted array of entry names, or nil + message
 *   io.isdir(path)   -> boolean
 *   io.save_safetensors(path, names, tensors, dtypes, meta)
 *       names, tensors: arrays of the same length (names unique); dtypes: nil
 *       or an array of file dtypes ("F32", "BF16", "F8_E4M3", ...; false =
 *       the tensor's own); meta: nil or a string -> string table. Entries are
 *       written in the order given (repro.safetensors sorts the names).
 *   io.load_safetensors(path) -> tensors, meta, dtypes (name -> file dtype);
 *       F8 entries come back as their u8 codes.
 *   io.json_decode(text) -> value: objects -> tables, arrays -> sequences,
 *       null -> io.json_null (a sentinel), numbers -> integers or floats;
 *       nil + message on malformed text (jansson, Debian libjansson-dev).
 *   io.json_encode(value, indent) -> text: a table with keys 1..n (or the
 *       empty table) is an array, one with string keys an object (keys
 *       sorted); strings, numbers (finite), booleans, io.json_null.
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>
#include <math.h>
#include "l_common.h"
#include "io.h"

/* FNV-1a 64: tiny, dependency-free, and enough to catch torn or flipped
 * bytes (it is not a defence against deliberate tampering). */
static uint64_t fnv1a64(uint64_t h, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}
#define FNV_OFFSET 0xcbf29ce484222325ull

static int io_fnv1a64(lua_State *L)
{
    uint64_t h = FNV_OFFSET;
    if (lua_type(L, 1) == LUA_TSTRING) {
        size_t n;
        const char *s = lua_tolstring(L, 1, &n);
        h = fnv1a64(h, (const unsigned char *)s, n);
    } else {
        rp_tensor *t = l_checktensor(L, 1);
        rp_tensor *c = rp_copy_contiguous(t);
        if (!c) return l_corerror(L);
        size_t nb = (size_t)rp_numel(c) * rp_dtype_info[c->dtype].size;
        h = fnv1a64(h, nb ? rp_data(c) : (const unsigned char *)"", nb);
        rp_tensor_release(c);
    }
    char hex[17];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)h);
    lua_pushstring(L, hex);
    return 1;
}

static int fail(lua_State *L, const char *what, const char *path, int err)
{
    lua_pushnil(L);
    lua_pushfstring(L, "%s '%s': %s", what, path, strerror(err));
    return 2;
}

static int io_fsync(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return fail(L, "fsync: cannot open", path, errno);
    if (fsync(fd) != 0 && errno != EINVAL) { /* EINVAL: the file system cannot sync (fine) */
        int e = errno;
        close(fd);
        return fail(L, "fsync: cannot sync", path, e);
    }
    close(fd);
    lua_pushboolean(L, 1);
    return 1;
}

static int io_listdir(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    lua_settop(L, 1);
    DIR *d = opendir(path);
    if (!d) return fail(L, "listdir: cannot open", path, errno);
    lua_newtable(L);
    int n = 0;
    struct dirent *e;
    /* readdir may not raise while the DIR is open: pushes can only fail on
     * memory exhaustion, which Lua reports after we return anyway */
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        lua_pushstring(L, e->d_name);
        lua_rawseti(L, 2, ++n);
    }
    closedir(d);
    lua_getglobal(L, "table");
    if (lua_istable(L, -1)) {
        lua_getfield(L, -1, "sort");
        if (lua_isfunction(L, -1)) {
            lua_pushvalue(L, 2);
            lua_call(L, 1, 0);
        }
    }
    lua_settop(L, 2);
    return 1;
}

static int io_isdir(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    struct stat st;
    lua_pushboolean(L, stat(path, &st) == 0 && S_ISDIR(st.st_mode));
    return 1;
}

/* ---- safetensors (core/io.c) ---- */

static int io_save_safetensors(lua_State *L)
{
    const char *fn = "save";
    const char *path = luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    luaL_checktype(L, 3, LUA_TTABLE);
    if (!lua_isnoneornil(L, 4)) luaL_checktype(L, 4, LUA_TTABLE);
    if (!lua_isnoneornil(L, 5)) luaL_checktype(L, 5, LUA_TTABLE);
    lua_Integer n = luaL_len(L, 2);
    if (n != luaL_len(L, 3)) return luaL_error(L, "%s: %d names but %d tensors", fn, (int)n, (int)luaL_len(L, 3));
    if (n < 0 || n > 1000000) return luaL_error(L, "%s: too many tensors (%d)", fn, (int)n);
    /* arrays as userdata: freed by the GC even when a check below raises */
    const char **nm = lua_newuserdatauv(L, sizeof(char *) * (size_t)(n + 1), 0);
    const rp_tensor **ts = lua_newuserdatauv(L, sizeof(rp_tensor *) * (size_t)(n + 1), 0);
    rp_st_dtype *as = lua_newuserdatauv(L, sizeof(rp_st_dtype) * (size_t)(n + 1), 0);
    for (lua_Integer i = 0; i < n; i++) {
        if (lua_rawgeti(L, 2, i + 1) != LUA_TSTRING)
            return luaL_error(L, "%s: tensor names must be strings (got %s)", fn, luaL_typename(L, -1));
        nm[i] = lua_tostring(L, -1); /* anchored by the names table */
        lua_pop(L, 1);
        lua_rawgeti(L, 3, i + 1);
        ts[i] = l_totensor(L, -1);
        if (!ts[i]) return luaL_error(L, "%s: '%s' is a %s, not a tensor", fn, nm[i], luaL_typename(L, -1));
        l_checktensor(L, -1); /* raises if closed */
        lua_pop(L, 1);
        as[i] = ts[i]->dtype == RP_F32 ? RP_ST_F32 : ts[i]->dtype == RP_I32 ? RP_ST_I32 : RP_ST_U8;
        if (lua_istable(L, 4)) {
            int ty = lua_rawgeti(L, 4, i + 1);
            if (ty == LUA_TSTRING) {
                int d = rp_st_dtype_from_name(lua_tostring(L, -1));
                if (d < 0) return luaL_error(L, "%s: '%s': unknown safetensors dtype '%s'", fn, nm[i], lua_tostring(L, -1));
                as[i] = (rp_st_dtype)d;
            } else if (ty != LUA_TNIL && !(ty == LUA_TBOOLEAN && !lua_toboolean(L, -1))) {
                return luaL_error(L, "%s: '%s': dtype must be a string, got %s", fn, nm[i], luaL_typename(L, -1));
            }
            lua_pop(L, 1);
        }
    }
    int nmeta = 0;
    const char **mk = NULL, **mv = NULL;
    if (lua_istable(L, 5)) {
        lua_pushnil(L);
        while (lua_next(L, 5)) {
            if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
                return luaL_error(L, "%s: metadata must map strings to strings (got %s = %s)", fn,
                                  luaL_typename(L, -2), luaL_typename(L, -1));
            lua_pop(L, 1);
            nmeta++;
        }
        mk = lua_newuserdatauv(L, sizeof(char *) * (size_t)(nmeta + 1), 0);
        mv = lua_newuserdatauv(L, sizeof(char *) * (size_t)(nmeta + 1), 0);
        int k = 0;
        lua_pushnil(L);
        while (lua_next(L, 5)) {
            mk[k] = lua_tostring(L, -2);
            mv[k++] = lua_tostring(L, -1);
            lua_pop(L, 1);
        }
        /* sorted keys: the same table gives the same bytes, whatever its hash order */
        for (int i = 1; i < nmeta; i++)
            for (int j = i; j > 0 && strcmp(mk[j - 1], mk[j]) > 0; j--) {
                const char *t = mk[j]; mk[j] = mk[j - 1]; mk[j - 1] = t;
                t = mv[j]; mv[j] = mv[j - 1]; mv[j - 1] = t;
            }
    }
    if (rp_save_safetensors_as(path, (int)n, nm, ts, as, nmeta, mk, mv)) return l_corerror(L);
    return 0;
}

static int io_load_safetensors(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    rp_safetensors *s = rp_load_safetensors(path);
    if (!s) return l_corerror(L);
    /* tensors, meta, dtypes (only memory exhaustion could raise below) */
    lua_createtable(L, 0, s->n);
    lua_createtable(L, 0, s->nmeta);
    lua_createtable(L, 0, s->n);
    for (int i = 0; i < s->n; i++) {
        rp_tensor_retain(s->tensors[i]);
        l_pushtensor(L, s->tensors[i]);
        lua_setfield(L, -4, s->names[i]);
        lua_pushstring(L, rp_st_dtype_name(s->dtypes[i]));
        lua_setfield(L, -2, s->names[i]);
    }
    for (int i = 0; i < s->nmeta; i++) {
        lua_pushstring(L, s->meta_vals[i]);
        lua_setfield(L, -3, s->meta_keys[i]);
    }
    rp_safetensors_free(s);
    return 3;
}

/* ---- JSON (config.json of exported models) ---- */

static char json_null_tag; /* io.json_null is a light userdata to this */

/* Push the Lua value of j. Raises only on nesting or memory exhaustion. */
static void push_json(lua_State *L, json_t *j, int depth)
{
    if (depth > 200) luaL_error(L, "json_decode: nesting deeper than 200");
    luaL_checkstack(L, 4, "json_decode: nesting too deep");
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        lua_createtable(L, 0, (int)json_object_size(j));
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v) {
            push_json(L, v, depth + 1);
            lua_setfield(L, -2, k);
        }
        break;
    }
    case JSON_ARRAY:
        lua_createtable(L, (int)json_array_size(j), 0);
        for (size_t i = 0; i < json_array_size(j); i++) {
            push_json(L, json_array_get(j, i), depth + 1);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        break;
    case JSON_STRING: lua_pushlstring(L, json_string_value(j), json_string_length(j)); break;
    case JSON_INTEGER: lua_pushinteger(L, (lua_Integer)json_integer_value(j)); break;
    case JSON_REAL: lua_pushnumber(L, json_real_value(j)); break;
    case JSON_TRUE: lua_pushboolean(L, 1); break;
    case JSON_FALSE: lua_pushboolean(L, 0); break;
    default: lua_pushlightuserdata(L, &json_null_tag); break;
    }
}

static int push_json_k(lua_State *L)
{
    push_json(L, lua_touserdata(L, 1), 0);
    return 1;
}

static int io_json_decode(lua_State *L)
{
    size_t n;
    const char *text = luaL_checklstring(L, 1, &n);
    json_error_t err;
    json_t *j = json_loadb(text, n, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &err);
    if (!j) {
        lua_pushnil(L);
        lua_pushfstring(L, "json_decode: line %d column %d: %s", err.line, err.column, err.text);
        return 2;
    }
    /* convert under a protected call so that a raise cannot leak j */
    lua_pushcfunction(L, push_json_k);
    lua_pushlightuserdata(L, j);
    int st = lua_pcall(L, 1, 1, 0);
    json_decref(j);
    if (st != LUA_OK) return lua_error(L);
    return 1;
}

/* Encoding builds the jansson tree inside a "box" userdata whose __gc frees
 * it, so a raise half-way (bad value, no memory) leaks nothing. */
#define JSON_BOX_MT "repro.io.json_box"

static int json_box_gc(lua_State *L)
{
    json_t **box = luaL_checkudata(L, 1, JSON_BOX_MT);
    json_decref(*box);
    *box = NULL;
    return 0;
}

/* Append/set the JSON value of the Lua value at idx into parent under key
 * (key NULL: append to the array parent). */
static void put_json(lua_State *L, int idx, json_t *parent, const char *key, int depth, int *prec);

/* Fewest significant digits (15..17) that read back as x. */
static int digits_for(double x)
{
    char buf[40];
    for (int p = 15; p < 17; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, x);
        if (strtod(buf, NULL) == x) return p;
    }
    return 17;
}

static void put_new(lua_State *L, json_t *parent, const char *key, json_t *v)
{
    if (!v) luaL_error(L, "json_encode: out of memory or a string that is not UTF-8");
    int rc = key ? json_object_set_new(parent, key, v) : json_array_append_new(parent, v);
    if (rc) luaL_error(L, "json_encode: out of memory or a key that is not UTF-8");
}

static void put_json(lua_State *L, int idx, json_t *parent, const char *key, int depth, int *prec)
{
    if (depth > 100) luaL_error(L, "json_encode: nesting deeper than 100 (a cycle?)");
    luaL_checkstack(L, 6, "json_encode: nesting too deep");
    idx = lua_absindex(L, idx);
    switch (lua_type(L, idx)) {
    case LUA_TSTRING: {
        size_t n;
        const char *str = lua_tolstring(L, idx, &n);
        put_new(L, parent, key, json_stringn(str, n));
        return;
    }
    case LUA_TBOOLEAN: put_new(L, parent, key, json_boolean(lua_toboolean(L, idx))); return;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) { put_new(L, parent, key, json_integer((json_int_t)lua_tointeger(L, idx))); return; }
        if (!isfinite(lua_tonumber(L, idx))) luaL_error(L, "json_encode: %f is not a JSON number", lua_tonumber(L, idx));
        if (digits_for(lua_tonumber(L, idx)) > *prec) *prec = digits_for(lua_tonumber(L, idx));
        put_new(L, parent, key, json_real(lua_tonumber(L, idx)));
        return;
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) == &json_null_tag) { put_new(L, parent, key, json_null()); return; }
        break;
    case LUA_TTABLE: {
        lua_Integer n = (lua_Integer)lua_rawlen(L, idx), count = 0, strings = 0;
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            count++;
            if (lua_type(L, -2) == LUA_TSTRING) strings++;
            lua_pop(L, 1);
        }
        bool object = count > 0 && count == strings;
        if (!object && count != n)
            luaL_error(L, "json_encode: a table must have only the keys 1..n (an array) or only string keys (an object)");
        json_t *c = object ? json_object() : json_array();
        put_new(L, parent, key, c); /* parent owns c from here */
        if (object) {
            lua_pushnil(L);
            while (lua_next(L, idx)) {
                put_json(L, -1, c, lua_tostring(L, -2), depth + 1, prec);
                lua_pop(L, 1);
            }
        } else {
            for (lua_Integer i = 1; i <= n; i++) {
                lua_rawgeti(L, idx, i);
                put_json(L, -1, c, NULL, depth + 1, prec);
                lua_pop(L, 1);
            }
        }
        return;
    }
    default: break;
    }
    luaL_error(L, "json_encode: cannot encode a %s", luaL_typename(L, idx));
}

static int io_json_encode(lua_State *L)
{
    luaL_checkany(L, 1);
    lua_Integer indent = luaL_optinteger(L, 2, 0);
    luaL_argcheck(L, indent >= 0 && indent <= 31, 2, "indent must be 0..31");
    lua_settop(L, 2);
    json_t **box = lua_newuserdatauv(L, sizeof *box, 0);
    *box = NULL;
    luaL_setmetatable(L, JSON_BOX_MT);
    *box = json_array(); /* the value is built as the single element of a wrapper array */
    if (!*box) return luaL_error(L, "json_encode: out of memory");
    int prec = 15; /* the fewest digits that keep every number exact */
    put_json(L, 1, *box, NULL, 0, &prec);
    size_t flags = JSON_ENCODE_ANY | JSON_SORT_KEYS | JSON_REAL_PRECISION(prec) |
                   (indent ? JSON_INDENT((size_t)indent) : JSON_COMPACT);
    char *text = json_dumps(json_array_get(*box, 0), flags);
    if (!text) return luaL_error(L, "json_encode: out of memory");
    lua_pushstring(L, text);
    free(text);
    return 1;
}

int l_open_io(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"fnv1a64", io_fnv1a64},
        {"fsync", io_fsync},
        {"listdir", io_listdir},
        {"isdir", io_isdir},
        {"save_safetensors", io_save_safetensors},
        {"load_safetensors", io_load_safetensors},
        {"json_decode", io_json_decode},
        {"json_encode", io_json_encode},
        {NULL, NULL},
    };
    luaL_newmetatable(L, JSON_BOX_MT);
    lua_pushcfunction(L, json_box_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    luaL_newlib(L, fns);
    lua_pushlightuserdata(L, &json_null_tag);
    lua_setfield(L, -2, "json_null");
    return 1;
}
