/* l_optim.c: repro.core.optim (placeholder until its module lands). */
#include "l_common.h"

int l_open_optim(lua_State *L)
{
    lua_newtable(L);
    return 1;
}
