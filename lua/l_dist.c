/* l_dist.c: repro.core.dist: the processes of a data-parallel job (core/dist.h).
 * Thin: check arguments, call the core, raise its errors. repro.dist
 * (lua/repro/dist.lua) builds the user-facing functions on these.
 *
 *   available() launched() active() rank() size() barrier() abort(code)
 *   bcast_tensor(t [, root])          t (contiguous) overwritten by root's, in place
 *   bcast_string(s | nil [, root])    -> root's string on every rank
 *   allgather_numbers(list)           -> every rank's list, concatenated in rank order
 *   max_int(n)                        -> the largest n over the ranks
 *   pack(buf, row, grads)             copy the tensors of grads (false: zeros) into row `row` of buf (k, P)
 *   unpack(flat, grads)               copy flat (P) back into the tensors of grads
 *   fold(out, buf, divisor, bucket)   out (P) = fold of every rank's rows of buf (k, P) in rank order / divisor
 *                                     (all-gather of every row: the reference transport)
 *   reduce(out, buf, divisor, bucket) the same bits by reduce-scatter + all-gather (the traffic of an all-reduce)
 *   allreduce_sum(t)                  t = sum over ranks by MPI_Allreduce (order MPI's: benchmarks only)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "l_common.h"
#include "dist.h"

static int d_available(lua_State *L) { lua_pushboolean(L, rp_dist_available()); return 1; }
static int d_launched(lua_State *L) { lua_pushboolean(L, rp_dist_launched()); return 1; }
static int d_active(lua_State *L) { lua_pushboolean(L, rp_dist_active()); return 1; }
static int d_rank(lua_State *L) { lua_pushinteger(L, rp_dist_rank()); return 1; }
static int d_size(lua_State *L) { lua_pushinteger(L, rp_dist_size()); return 1; }

static int d_barrier(lua_State *L)
{
    if (rp_dist_barrier() != 0) return l_corerror(L);
    return 0;
}

static int d_abort(lua_State *L)
{
    int code = (int)luaL_optinteger(L, 1, 1);
    fflush(stdout);
    fflush(stderr);
    rp_dist_abort(code);
    return luaL_error(L, "dist.abort(%d): not running under MPI", code);
}

static int check_root(lua_State *L, int idx, const char *fn)
{
    lua_Integer root = luaL_optinteger(L, idx, 0);
    if (root < 0 || root >= rp_dist_size())
        return luaL_error(L, "%s: root must be a rank from 0 to %d, got %d", fn, rp_dist_size() - 1, (int)root);
    return (int)root;
}

static int d_bcast_tensor(lua_State *L)
{
    rp_tensor *t = l_checktensor(L, 1);
    int root = check_root(L, 2, "dist.bcast_tensor");
    if (!rp_is_contiguous(t)) return luaL_error(L, "dist.bcast_tensor: the tensor must be contiguous");
    /* the shapes must agree, or the bytes would not */
    double mine = (double)rp_numel(t) * (double)rp_dtype_info[t->dtype].size;
    int n = rp_dist_size();
    double *all = malloc((size_t)n * sizeof *all);
    if (!all) return luaL_error(L, "dist.bcast_tensor: out of memory");
    if (rp_dist_allgather_f64(all, &mine, 1) != 0) { free(all); return l_corerror(L); }
    double want = all[root];
    free(all);
    if (want != mine)
        return luaL_error(L, "dist.bcast_tensor: rank %d has %I bytes, rank %d (the root) %I",
                          rp_dist_rank(), (lua_Integer)mine, root, (lua_Integer)want);
    if (rp_dist_bcast(rp_data(t), (size_t)mine, root) != 0) return l_corerror(L);
    rp_bump_version(t);
    return 0;
}

static int d_bcast_string(lua_State *L)
{
    int root = check_root(L, 2, "dist.bcast_string");
    int me = rp_dist_rank() == root;
    size_t len = 0;
    const char *s = me ? luaL_checklstring(L, 1, &len) : NULL;
    uint64_t n = len;
    if (rp_dist_bcast(&n, sizeof n, root) != 0) return l_corerror(L);
    if (me) {
        if (rp_dist_bcast((void *)s, len, root) != 0) return l_corerror(L);
        lua_pushvalue(L, 1);
        return 1;
    }
    luaL_Buffer b;
    char *p = luaL_buffinitsize(L, &b, (size_t)n);
    if (rp_dist_bcast(p, (size_t)n, root) != 0) return l_corerror(L);
    luaL_pushresultsize(&b, (size_t)n);
    return 1;
}

static int d_allgather_numbers(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    int n = (int)lua_rawlen(L, 1), size = rp_dist_size();
    double count = n, *counts = malloc((size_t)size * sizeof *counts);
    if (!counts) return luaL_error(L, "dist.allgather_numbers: out of memory");
    if (rp_dist_allgather_f64(counts, &count, 1) != 0) { free(counts); return l_corerror(L); }
    for (int r = 0; r < size; r++)
        if (counts[r] != count) {
            double c = counts[r];
            free(counts);
            return luaL_error(L, "dist.allgather_numbers: rank %d gives %d numbers, rank %d gives %d",
                              rp_dist_rank(), n, r, (int)c);
        }
    free(counts);
    double *in = malloc(((size_t)n + 1) * sizeof *in), *out = malloc(((size_t)n * size + 1) * sizeof *out);
    if (!in || !out) { free(in); free(out); return luaL_error(L, "dist.allgather_numbers: out of memory"); }
    for (int i = 0; i < n; i++) {
        lua_rawgeti(L, 1, i + 1);
        int ok;
        in[i] = lua_tonumberx(L, -1, &ok);
        lua_pop(L, 1);
        if (!ok) { free(in); free(out); return luaL_error(L, "dist.allgather_numbers: entry %d is not a number", i + 1); }
    }
    if (rp_dist_allgather_f64(out, in, n) != 0) { free(in); free(out); return l_corerror(L); }
    lua_createtable(L, n * size, 0);
    for (int i = 0; i < n * size; i++) {
        lua_pushnumber(L, out[i]);
        lua_rawseti(L, -2, i + 1);
    }
    free(in);
    free(out);
    return 1;
}

static int d_max_int(lua_State *L)
{
    lua_Integer v = luaL_checkinteger(L, 1);
    if (v < -2147483647 || v > 2147483647) return luaL_error(L, "dist.max_int: %d is out of the int range", (int)v);
    int out;
    if (rp_dist_allreduce_max_int(&out, (int)v) != 0) return l_corerror(L);
    lua_pushinteger(L, out);
    return 1;
}

static rp_tensor *check_f32_contig(lua_State *L, int idx, const char *fn, const char *what)
{
    rp_tensor *t = l_checktensor(L, idx);
    if (t->dtype != RP_F32 || !rp_is_contiguous(t))
        luaL_error(L, "%s: %s must be a contiguous f32 tensor", fn, what);
    return t;
}

/* Walk the list at idx: total numel of its tensors (false entries need `sizes`). */
static int64_t list_numel(lua_State *L, int idx, const char *fn)
{
    luaL_checktype(L, idx, LUA_TTABLE);
    int64_t total = 0;
    int n = (int)lua_rawlen(L, idx);
    for (int i = 1; i <= n; i++) {
        lua_rawgeti(L, idx, i);
        rp_tensor *g = l_totensor(L, -1);
        if (!g) luaL_error(L, "%s: entry %d of the list is not a tensor", fn, i);
        if (g->dtype != RP_F32) luaL_error(L, "%s: entry %d is %s, expected f32", fn, i, rp_dtype_info[g->dtype].name);
        total += rp_numel(g);
        lua_pop(L, 1);
    }
    return total;
}

/* Copy between the list's tensors and the P floats of flat at element offset
 * base: to_flat = 1 packs, 0 unpacks. */
static int transfer(lua_State *L, rp_tensor *flat, int64_t base, int list, int to_flat, const char *fn)
{
    int n = (int)lua_rawlen(L, list);
    int64_t off = base;
    for (int i = 1; i <= n; i++) {
        lua_rawgeti(L, list, i);
        rp_tensor *g = l_totensor(L, -1);
        int64_t stride[RP_MAXDIM];
        rp_contiguous_strides(g->ndim, g->shape, stride);
        rp_tensor *view = rp_alias(flat, g->ndim, g->shape, stride, flat->offset + off);
        if (!view) return l_corerror(L);
        int rc = to_flat ? rp_copy_into(view, g) : rp_copy_into(g, view);
        rp_tensor_release(view);
        if (rc != 0) return luaL_error(L, "%s: %s", fn, rp_errmsg());
        if (!to_flat) rp_bump_version(g);
        off += rp_numel(g);
        lua_pop(L, 1);
    }
    return 0;
}

static int d_pack(lua_State *L)
{
    rp_tensor *buf = check_f32_contig(L, 1, "dist.pack", "buf");
    lua_Integer row = luaL_checkinteger(L, 2);
    if (buf->ndim != 2) return luaL_error(L, "dist.pack: buf must be (k, P)");
    if (row < 1 || row > buf->shape[0])
        return luaL_error(L, "dist.pack: row %d is outside 1..%d", (int)row, (int)buf->shape[0]);
    int64_t P = list_numel(L, 3, "dist.pack");
    if (P != buf->shape[1])
        return luaL_error(L, "dist.pack: the tensors hold %I numbers, buf rows %I", (lua_Integer)P, (lua_Integer)buf->shape[1]);
    transfer(L, buf, (row - 1) * P, 3, 1, "dist.pack");
    rp_bump_version(buf);
    return 0;
}

static int d_unpack(lua_State *L)
{
    rp_tensor *flat = check_f32_contig(L, 1, "dist.unpack", "flat");
    int64_t P = list_numel(L, 2, "dist.unpack");
    if (P != rp_numel(flat))
        return luaL_error(L, "dist.unpack: the tensors hold %I numbers, flat %I", (lua_Integer)P, (lua_Integer)rp_numel(flat));
    transfer(L, flat, 0, 2, 0, "dist.unpack");
    return 0;
}

/* fold and reduce: the same arguments and result, two transports. */
static int fold_or_reduce(lua_State *L, int reduce)
{
    const char *fn = reduce ? "dist.reduce" : "dist.fold";
    rp_tensor *out = check_f32_contig(L, 1, fn, "out");
    rp_tensor *buf = check_f32_contig(L, 2, fn, "buf");
    lua_Number divisor = luaL_checknumber(L, 3);
    lua_Integer bucket = luaL_optinteger(L, 4, 1 << 20);
    if (buf->ndim != 2 || rp_numel(out) != buf->shape[1])
        return luaL_error(L, "%s: buf must be (k, P) and out hold P numbers", fn);
    if (!(divisor > 0)) return luaL_error(L, "%s: divisor must be > 0", fn);
    if (bucket < 1) return luaL_error(L, "%s: bucket must be >= 1, got %I", fn, bucket);
    if (out->storage == buf->storage) return luaL_error(L, "%s: out and buf must not share storage", fn);
    int rc = (reduce ? rp_dist_reduce_fold : rp_dist_allgather_fold)(RP_F32P(out), RP_F32P(buf), buf->shape[0],
                                                                      buf->shape[1], bucket, (float)divisor);
    if (rc != 0) return l_corerror(L);
    rp_bump_version(out);
    return 0;
}

static int d_fold(lua_State *L) { return fold_or_reduce(L, 0); }
static int d_reduce(lua_State *L) { return fold_or_reduce(L, 1); }

static int d_allreduce_sum(lua_State *L)
{
    rp_tensor *t = check_f32_contig(L, 1, "dist.allreduce_sum", "the tensor");
    if (rp_dist_allreduce_sum_f32(RP_F32P(t), rp_numel(t)) != 0) return l_corerror(L);
    rp_bump_version(t);
    return 0;
}

int l_open_dist(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"available", d_available}, {"launched", d_launched}, {"active", d_active},
        {"rank", d_rank}, {"size", d_size}, {"barrier", d_barrier}, {"abort", d_abort},
        {"bcast_tensor", d_bcast_tensor}, {"bcast_string", d_bcast_string},
        {"allgather_numbers", d_allgather_numbers}, {"max_int", d_max_int},
        {"pack", d_pack}, {"unpack", d_unpack}, {"fold", d_fold}, {"reduce", d_reduce},
        {"allreduce_sum", d_allreduce_sum},
        {NULL, NULL},
    };
    luaL_newlib(L, fns);
    return 1;
}
