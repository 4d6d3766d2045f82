/* l_core.c: repro.core, the table of all C bindings. Each binding file
 * contributes one field, so binding files never edit each other. */
#include "l_common.h"

typedef struct { const char *name; lua_CFunction open; } core_part;

static const core_part parts[] = {
    {"tensor", l_open_tensor},
    {"nnops", l_open_nnops},
    {"fp8", l_open_fp8},
    {"linalg", l_open_linalg},
    {"optim", l_open_optim},
    {"sys", l_open_sys},
    {"signal", l_open_signal},
    {"io", l_open_io},
    {"seq", l_open_seq},
    {"crystal", l_open_crystal},
};

int luaopen_repro_core(lua_State *L)
{
    lua_newtable(L);
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        parts[i].open(L);
        lua_setfield(L, -2, parts[i].name);
    }
    return 1;
}
