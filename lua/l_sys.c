/* l_sys.c: repro.core.sys (placeholder until its module lands). */
#include "l_common.h"

int l_open_sys(lua_State *L)
{
    lua_newtable(L);
    return 1;
}
