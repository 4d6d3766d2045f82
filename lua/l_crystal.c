/* l_crystal.c: repro.core.crystal, thin bindings over core/crystal.h, cif.h,
 * symmetry.h and match.h. A Structure is a userdata holding an rp_structure
 * (metatable "repro.Structure"); lua/repro/crystal.lua adds the Lua-side
 * methods to its method table (core.crystal.methods). Indices are 1-based
 * here and 0-based in the core.
 *
 *   new(lattice9, frac3n, z) -> Structure    (flat Lua arrays; doubles)
 *   read_cif(text) -> Structure              read_gz(path) -> string
 *   lattice_from_params(a,b,c,al,be,ga) -> 9 numbers (row-major)
 *   match(s1, s2, ltol, stol, angle_tol, anonymous, use_rms, primitive, scale)
 *       -> rms, max_dist of the best mapping, or nil, nil
 *   s:lattice() s:frac() s:cart() s:numbers() (tensors), s:lattice_table(),
 *   s:frac_table(), s:natoms(), s:volume(), s:lattice_params(), s:wrap(),
 *   s:min_distance([self_images]), s:neighbors(cutoff) / s:knn(k, max_cutoff),
 *   s:_to_cif(name, formula_structural, formula_sum, units),
 *   s:spacegroup(symprec, angle_tol) -> symbol, number,
 *   s:niggli(eps) / s:standardize(to_primitive, symprec) -> Structure
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "l_common.h"
#include "cif.h"
#include "crystal.h"
#include "gzfile.h"
#include "match.h"
#include "symmetry.h"

#define L_STRUCT_MT "repro.Structure"

typedef struct {
    rp_structure *s;
} l_struct;

static rp_structure *check_struct(lua_State *L, int idx)
{
    l_struct *u = luaL_testudata(L, idx, L_STRUCT_MT);
    if (!u) luaL_error(L, "bad argument #%d (Structure expected, got %s)", idx, luaL_typename(L, idx));
    if (!u->s) luaL_error(L, "Structure used after close");
    return u->s;
}

/* Push s as a new Structure (takes ownership); NULL raises the core error. */
static void push_struct(lua_State *L, rp_structure *s)
{
    if (!s) { l_corerror(L); return; }
    l_struct *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->s = NULL;
    luaL_setmetatable(L, L_STRUCT_MT);
    u->s = s;
}

static int s_gc(lua_State *L)
{
    l_struct *u = luaL_checkudata(L, 1, L_STRUCT_MT);
    rp_structure_free(u->s);
    u->s = NULL;
    return 0;
}

/* Read a flat array of numbers at idx into a GC-owned buffer (left on the stack). */
static double *check_numbers(lua_State *L, int idx, lua_Integer *n, const char *fn, const char *what)
{
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_Integer m = (lua_Integer)lua_rawlen(L, idx);
    if (m > 3 * (lua_Integer)RP_CRYSTAL_MAXATOMS) luaL_error(L, "%s: %s has %I entries (too many)", fn, what, m);
    double *buf = lua_newuserdatauv(L, sizeof(double) * (size_t)(m ? m : 1), 0);
    for (lua_Integer i = 1; i <= m; i++) {
        lua_rawgeti(L, idx, i);
        int ok;
        buf[i - 1] = lua_tonumberx(L, -1, &ok);
        if (!ok) luaL_error(L, "%s: %s entry %I is not a number (got %s)", fn, what, i, luaL_typename(L, -1));
        lua_pop(L, 1);
    }
    *n = m;
    return buf;
}

static int c_new(lua_State *L)
{
    lua_Integer nl, nf, nz;
    double *lat = check_numbers(L, 1, &nl, "Structure", "lattice");
    if (nl != 9) return luaL_error(L, "Structure: lattice must have 9 entries, got %I", nl);
    double *frac = check_numbers(L, 2, &nf, "Structure", "frac");
    double *zd = check_numbers(L, 3, &nz, "Structure", "numbers");
    if (nf != 3 * nz)
        return luaL_error(L, "Structure: %I atomic numbers but %I fractional coordinates (need 3 per atom)", nz, nf);
    int32_t *z = lua_newuserdatauv(L, sizeof(int32_t) * (size_t)(nz ? nz : 1), 0);
    for (lua_Integer i = 0; i < nz; i++) {
        if (zd[i] != floor(zd[i]) || zd[i] < 1 || zd[i] > 118)
            return luaL_error(L, "Structure: atomic number %I is %f (must be an integer 1..118)", i + 1, zd[i]);
        z[i] = (int32_t)zd[i];
    }
    push_struct(L, rp_structure_new(lat, (int)nz, frac, z));
    return 1;
}

static int c_read_cif(lua_State *L)
{
    size_t n;
    const char *text = luaL_checklstring(L, 1, &n);
    push_struct(L, rp_read_cif(text, n));
    return 1;
}

static int c_read_gz(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    char *buf;
    size_t n;
    if (rp_read_gzip(&buf, &n, path)) return l_corerror(L);
    lua_pushlstring(L, buf, n);
    free(buf);
    return 1;
}

static int c_lattice_from_params(lua_State *L)
{
    double p[6], m[9];
    for (int i = 0; i < 6; i++) p[i] = luaL_checknumber(L, i + 1);
    if (rp_lattice_from_params(m, p)) return l_corerror(L);
    for (int i = 0; i < 9; i++) lua_pushnumber(L, m[i]);
    return 9;
}

static rp_tensor *new2(rp_dtype dt, int64_t r, int64_t c)
{
    int64_t shape[2] = {r, c};
    return rp_empty(dt, 2, shape);
}

static int s_lattice(lua_State *L)
{
    rp_structure *s = check_struct(L, 1);
    rp_tensor *t = new2(RP_F32, 3, 3);
    if (t) for (int i = 0; i < 9; i++) RP_F32P(t)[i] = (float)s->lattice[i];
    l_pushtensor(L, t);
    return 1;
}

static int s_frac(lua_State *L)
{
    rp_structure *s = check_struct(L, 1);
    rp_tensor *t = new2(RP_F32, s->n, 3);
    if (t) for (int i = 0; i < 3 * s->n; i++) RP_F32P(t)[i] = (float)s->frac[i];
    l_pushtensor(L, t);
    return 1;
}

static int s_cart(lua_State *L)
{
    rp_structure *s = check_struct(L, 1);
    rp_tensor *t = new2(RP_F32, s->n, 3);
    if (t) {
        for (int i = 0; i < s->n; i++) {
            double c[3];
            rp_frac_to_cart(c, s->frac + 3 * i, s->lattice, 1);
            for (int k = 0; k < 3; k++) RP_F32P(t)[3 * i + k] = (float)c[k];
        }
    }
    l_pushtensor(L, t);
    return 1;
}

static int s_numbers(lua_State *L)
{
    rp_structure *s = check_struct(L, 1);
    int64_t shape[1] = {s->n};
    rp_tensor *t = rp_empty(RP_I32, 1, shape);
    if (t) for (int i = 0; i < s->n; i++) RP_I32P(t)[i] = s->z[i];
    l_pushtensor(L, t);
    return 1;
}

static void push_rows(lua_State *L, const double *v, int rows)
{
    lua_createtable(L, rows, 0);
    for (int i = 0; i < rows; i++) {
        lua_createtable(L, 3, 0);
        for (int k = 0; k < 3; k++) {
            lua_pushnumber(L, v[3 * i + k]);
            lua_rawseti(L, -2, k + 1);
        }
        lua_rawseti(L, -2, i + 1);
    }
}

static int s_lattice_table(lua_State *L)
{
    push_rows(L, check_struct(L, 1)->lattice, 3);
    return 1;
}

static int s_frac_table(lua_State *L)
{
    rp_structure *s = check_struct(L, 1);
    push_rows(L, s->frac, s->n);
    return 1;
}

static int s_numbers_table(lua_State *L)
{
    rp_structure *s = check_struct(L, 1);
    lua_createtable(L, s->n, 0);
    for (int i = 0; i < s->n; i++) {
        lua_pushinteger(L, s->z[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int s_natoms(lua_State *L)
{
    lua_pushinteger(L, check_struct(L, 1)->n);
    return 1;
}

static int s_volume(lua_State *L)
{
    lua_pushnumber(L, rp_lattice_volume(check_struct(L, 1)->lattice));
    return 1;
}

static int s_lattice_params(lua_State *L)
{
    double p[6];
    rp_lattice_params(p, check_struct(L, 1)->lattice);
    for (int i = 0; i < 6; i++) lua_pushnumber(L, p[i]);
    return 6;
}

static int s_wrap(lua_State *L)
{
    rp_structure *c = rp_structure_copy(check_struct(L, 1));
    if (c) rp_structure_wrap(c);
    push_struct(L, c);
    return 1;
}

static int s_min_distance(lua_State *L)
{
    rp_structure *s = check_struct(L, 1);
    int self = lua_toboolean(L, 2);
    double d = rp_structure_min_distance(s, self);
    if (d < 0) return l_corerror(L);
    lua_pushnumber(L, d);
    return 1;
}

/* Push the edges as four tensors (src, dst 1-based i32; dist f32; image i32 E x 3). */
static int push_edges(lua_State *L, rp_neighbors *nb)
{
    int64_t m = nb->m, s1[1] = {m};
    rp_tensor *src = rp_empty(RP_I32, 1, s1), *dst = rp_empty(RP_I32, 1, s1);
    rp_tensor *dist = rp_empty(RP_F32, 1, s1), *img = new2(RP_I32, m, 3);
    if (!src || !dst || !dist || !img) {
        rp_tensor_release(src); rp_tensor_release(dst); rp_tensor_release(dist); rp_tensor_release(img);
        rp_neighbors_free(nb);
        return l_corerror(L);
    }
    for (int64_t e = 0; e < m; e++) {
        RP_I32P(src)[e] = nb->src[e] + 1;
        RP_I32P(dst)[e] = nb->dst[e] + 1;
        RP_F32P(dist)[e] = (float)nb->dist[e];
        for (int k = 0; k < 3; k++) RP_I32P(img)[3 * e + k] = nb->image[3 * e + k];
    }
    rp_neighbors_free(nb);
    l_pushtensor(L, src);
    l_pushtensor(L, dst);
    l_pushtensor(L, dist);
    l_pushtensor(L, img);
    return 4;
}

static int s_neighbors(lua_State *L)
{
    rp_structure *s = check_struct(L, 1);
    double cutoff = luaL_checknumber(L, 2);
    rp_neighbors nb;
    if (rp_structure_neighbors(&nb, s, cutoff)) return l_corerror(L);
    return push_edges(L, &nb);
}

static int s_knn(lua_State *L)
{
    rp_structure *s = check_struct(L, 1);
    lua_Integer k = luaL_checkinteger(L, 2);
    double cutoff = luaL_optnumber(L, 3, 0);
    if (k < 1 || k > 100000) return luaL_error(L, "neighbors: k must be in 1..100000, got %I", k);
    rp_neighbors nb;
    if (rp_structure_knn(&nb, s, (int)k, cutoff)) return l_corerror(L);
    return push_edges(L, &nb);
}

static int s_to_cif(lua_State *L)
{
    rp_structure *s = check_struct(L, 1);
    const char *name = luaL_optstring(L, 2, "structure");
    const char *fs = luaL_optstring(L, 3, NULL), *fsum = luaL_optstring(L, 4, NULL);
    int units = (int)luaL_optinteger(L, 5, 0);
    char *out;
    size_t n;
    if (rp_write_cif(&out, &n, s, name, fs, fsum, units)) return l_corerror(L);
    lua_pushlstring(L, out, n);
    free(out);
    return 1;
}

static int s_spacegroup(lua_State *L)
{
    rp_structure *s = check_struct(L, 1);
    double symprec = luaL_optnumber(L, 2, 0.01), angle_tol = luaL_optnumber(L, 3, -1);
    char symbol[32];
    int number;
    if (rp_spacegroup(symbol, &number, s, symprec, angle_tol)) return l_corerror(L);
    lua_pushstring(L, symbol);
    lua_pushinteger(L, number);
    return 2;
}

static int s_niggli(lua_State *L)
{
    rp_structure *s = check_struct(L, 1);
    double eps = luaL_optnumber(L, 2, 1e-5);
    push_struct(L, rp_niggli_structure(s, eps));
    return 1;
}

static int s_standardize(lua_State *L)
{
    rp_structure *s = check_struct(L, 1);
    int prim = lua_toboolean(L, 2);
    double symprec = luaL_optnumber(L, 3, 0.01);
    int no_idealize = lua_toboolean(L, 4);
    push_struct(L, rp_standardize(s, prim, no_idealize, symprec));
    return 1;
}

static int c_match(lua_State *L)
{
    rp_structure *a = check_struct(L, 1), *b = check_struct(L, 2);
    rp_match_opts o = {
        .ltol = luaL_checknumber(L, 3),
        .stol = luaL_checknumber(L, 4),
        .angle_tol = luaL_checknumber(L, 5),
        .anonymous = lua_toboolean(L, 6),
        .use_rms = lua_isnoneornil(L, 7) ? 1 : lua_toboolean(L, 7),
        .primitive_cell = lua_isnoneornil(L, 8) ? 1 : lua_toboolean(L, 8),
        .scale = lua_isnoneornil(L, 9) ? 1 : lua_toboolean(L, 9),
    };
    rp_match_result r;
    if (rp_match(&r, a, b, &o)) return l_corerror(L);
    if (!r.matched) {
        lua_pushnil(L);
        lua_pushnil(L);
        return 2;
    }
    lua_pushnumber(L, r.rms);
    lua_pushnumber(L, r.max_dist);
    return 2;
}

static int s_tostring(lua_State *L)
{
    l_struct *u = luaL_checkudata(L, 1, L_STRUCT_MT);
    if (!u->s) { lua_pushliteral(L, "Structure (closed)"); return 1; }
    double p[6];
    rp_lattice_params(p, u->s->lattice);
    lua_pushfstring(L, "Structure(%d atoms, abc = %f %f %f, angles = %f %f %f)", u->s->n, p[0], p[1], p[2],
                    p[3], p[4], p[5]);
    return 1;
}

int l_open_crystal(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"lattice", s_lattice}, {"frac", s_frac}, {"cart", s_cart}, {"numbers", s_numbers},
        {"lattice_table", s_lattice_table}, {"frac_table", s_frac_table}, {"numbers_table", s_numbers_table},
        {"natoms", s_natoms}, {"volume", s_volume}, {"lattice_params", s_lattice_params}, {"wrap", s_wrap},
        {"_min_distance", s_min_distance}, {"_neighbors", s_neighbors}, {"_knn", s_knn}, {"_to_cif", s_to_cif},
        {"_spacegroup", s_spacegroup}, {"_niggli", s_niggli}, {"_standardize", s_standardize},
        {NULL, NULL},
    };
    static const luaL_Reg meta[] = {
        {"__gc", s_gc}, {"__close", s_gc}, {"__tostring", s_tostring}, {NULL, NULL},
    };
    static const luaL_Reg fns[] = {
        {"new", c_new}, {"read_cif", c_read_cif}, {"read_gz", c_read_gz},
        {"lattice_from_params", c_lattice_from_params}, {"match", c_match}, {NULL, NULL},
    };
    luaL_newlib(L, fns);
    luaL_newmetatable(L, L_STRUCT_MT);
    luaL_setfuncs(L, meta, 0);
    luaL_newlib(L, methods);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, "__index");
    lua_setfield(L, -3, "methods");   /* core.crystal.methods: Lua adds methods here */
    lua_setfield(L, -2, "metatable"); /* core.crystal.metatable */
    return 1;
}
