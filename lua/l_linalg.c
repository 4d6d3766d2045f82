/* l_linalg.c: repro.core.linalg (placeholder until its module lands). */
#include "l_common.h"

int l_open_linalg(lua_State *L)
{
    lua_newtable(L);
    return 1;
}
