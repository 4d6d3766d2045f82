/* l_fp8.c: repro.core.fp8 (placeholder until its module lands). */
#include "l_common.h"

int l_open_fp8(lua_State *L)
{
    lua_newtable(L);
    return 1;
}
