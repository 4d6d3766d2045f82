#!/usr/bin/env bash
# An installed copy (cmake --install) finds its Lua library beside itself,
# PREFIX/share/repro/lua, from any working directory.
# Usage: bash test_install.sh PATH/TO/build/repro
set -u
BIN=$(readlink -f "${1:?usage: test_install.sh PATH/TO/repro}")
BUILD=$(dirname "$BIN")
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL test_install.sh:${BASH_LINENO[0]}: $*" >&2; exit 1; }

cmake --install "$BUILD" --prefix "$TMP/prefix" >"$TMP/log" 2>&1 || fail "cmake --install failed: $(cat "$TMP/log")"
[ -x "$TMP/prefix/bin/repro" ] || fail "no $TMP/prefix/bin/repro after install"
[ -f "$TMP/prefix/share/repro/lua/repro/init.lua" ] || fail "no share/repro/lua/repro/init.lua after install"
out=$(cd / && env -u REPRO_LUA_DIR "$TMP/prefix/bin/repro" -e 'print(package.searchpath("repro", package.path))' 2>&1) ||
  fail "installed repro failed: $out"
[ "$out" = "$TMP/prefix/bin/../share/repro/lua/repro/init.lua" ] || fail "installed repro loads repro from [$out]"
out=$(cd / && env -u REPRO_LUA_DIR "$TMP/prefix/bin/repro" -e 'print(require("repro")._VERSION)' 2>&1) ||
  fail "require 'repro' in the installed copy failed: $out"
case $out in "repro "*) ;; *) fail "installed copy printed [$out]";; esac
# the docstrings are installed too: help covers every exported function there
out=$(cd / && env -u REPRO_LUA_DIR "$TMP/prefix/bin/repro" \
  -e 'local m, s = require("repro.help").check() print(#m, #s) help "fp8.info"' 2>&1) ||
  fail "help in the installed copy failed: $out"
case $out in "0	0"*"fp8.info(fmt)"*) ;; *) fail "help in the installed copy printed [$out]";; esac
echo "test_install: installed copy ok"
