/* l_linalg.c: repro.core.linalg, thin bindings over core/linalg.h. */
#include "l_common.h"
#include "linalg.h"

/* eigh(A) -> w (ascending), V (eigenvectors in columns) */
static int l_eigh(lua_State *L)
{
    rp_tensor *a = l_checktensor(L, 1), *w, *V;
    if (rp_linalg_eigh(&w, &V, a) != 0) return l_corerror(L);
    l_pushtensor(L, w);
    l_pushtensor(L, V);
    return 2;
}

/* qr(A) -> Q (m,k), R (k,n), the reduced factorisation */
static int l_qr(lua_State *L)
{
    rp_tensor *a = l_checktensor(L, 1), *Q, *R;
    if (rp_linalg_qr(&Q, &R, a) != 0) return l_corerror(L);
    l_pushtensor(L, Q);
    l_pushtensor(L, R);
    return 2;
}

/* matrix_power(A, p [, {eps = 0}]) for symmetric A */
static int l_matrix_power(lua_State *L)
{
    static const char *const opts[] = {"eps", NULL};
    rp_tensor *a = l_checktensor(L, 1);
    double p = luaL_checknumber(L, 2), eps = 0;
    l_checkoptions(L, 3, "matrix_power", opts);
    if (lua_istable(L, 3)) {
        lua_getfield(L, 3, "eps");
        if (!lua_isnil(L, -1)) {
            if (!lua_isnumber(L, -1)) return luaL_error(L, "matrix_power: eps must be a number");
            eps = lua_tonumber(L, -1);
        }
        lua_pop(L, 1);
    }
    l_pushtensor(L, rp_linalg_matrix_power(a, p, eps));
    return 1;
}

static const luaL_Reg fns[] = {
    {"eigh", l_eigh},
    {"qr", l_qr},
    {"matrix_power", l_matrix_power},
    {NULL, NULL},
};

int l_open_linalg(lua_State *L)
{
    luaL_newlib(L, fns);
    return 1;
}
