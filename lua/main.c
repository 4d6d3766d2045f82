/* main.c: the repro executable (minimal runner; the REPL lands with the
 * foundation work). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <lua.h>
#include <lualib.h>
#include <lauxlib.h>
#include "l_common.h"

static int setup(lua_State *L)
{
    luaL_openlibs(L);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, luaopen_repro_core);
    lua_setfield(L, -2, "repro.core");
    lua_pop(L, 1);
    const char *dir = getenv("REPRO_LUA_DIR");
    if (!dir) dir = access(REPRO_SOURCE_LUA_DIR "/repro/init.lua", R_OK) == 0
                        ? REPRO_SOURCE_LUA_DIR : REPRO_INSTALL_LUA_DIR;
    lua_getglobal(L, "package");
    lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;", dir, dir);
    lua_getfield(L, -2, "path");
    lua_concat(L, 2);
    lua_setfield(L, -2, "path");
    lua_pop(L, 1);
    return 0;
}

static int traceback(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    luaL_traceback(L, L, msg ? msg : "(error object is not a string)", 1);
    return 1;
}

int main(int argc, char **argv)
{
    lua_State *L = luaL_newstate();
    if (!L) { fprintf(stderr, "repro: cannot create Lua state\n"); return 1; }
    setup(L);
    int rc = 0;
    lua_pushcfunction(L, traceback);
    if (argc > 2 && strcmp(argv[1], "-e") == 0) {
        if (luaL_loadstring(L, argv[2]) || lua_pcall(L, 0, 0, 1)) rc = 1;
    } else if (argc > 1) {
        lua_createtable(L, argc, 1);
        for (int i = 0; i < argc; i++) { lua_pushstring(L, argv[i]); lua_rawseti(L, -2, i - 1); }
        lua_setglobal(L, "arg");
        if (luaL_loadfile(L, argv[1]) || lua_pcall(L, 0, 0, 1)) rc = 1;
    }
    if (rc) fprintf(stderr, "repro: %s\n", lua_tostring(L, -1));
    lua_close(L);
    return rc;
}
