/* l_nnops.c: repro.core.nnops (placeholder until its module lands). */
#include "l_common.h"

int l_open_nnops(lua_State *L)
{
    lua_newtable(L);
    return 1;
}
