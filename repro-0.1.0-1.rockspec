-- LuaRocks package of repro: the C module repro.core (core + bindings, built
-- by CMake with REPRO_ROCK=ON), the Lua library repro.* and the bundled data.
--   luarocks --lua-version 5.4 make --tree TREE     (from a clone; Debian: lua5.4 luarocks)
-- Build needs the Debian packages the launcher lists (./repro PACKAGES):
-- liblua5.4-dev libopenblas-dev liblapacke-dev libjansson-dev libreadline-dev cmake gcc.
rockspec_format = "3.0"
package = "repro"
version = "0.1.0-1"
source = {
   url = "git+file:///dev/null",   -- `luarocks make` builds the clone it runs in
}
description = {
   summary = "A research reproduction kit: tensors, autograd, FP8, SOAP, small Llamas",
   detailed = [[
A C11 core (tensors, autograd, FP8 formats and scaling, optimizers including
SOAP and Shampoo, safetensors I/O) with Lua 5.4 bindings and a Lua library of
nn modules, training loops, data and experiment helpers.]],
}
dependencies = {
   "lua >= 5.4, < 5.5",
}
build = {
   type = "cmake",
   variables = {
      REPRO_ROCK = "ON",
      CMAKE_BUILD_TYPE = "Release",
      CMAKE_INSTALL_PREFIX = "$(PREFIX)",
      REPRO_INSTALL_LUADIR = "$(LUADIR)",
      REPRO_INSTALL_LIBDIR = "$(LIBDIR)",
      REPRO_LUA_INCDIR = "$(LUA_INCDIR)",
   },
}
