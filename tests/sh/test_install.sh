#!/usr/bin/env bash
# `cmake --install` yields a relocatable prefix: the executable, the Lua
# module repro/core.so, the Lua library, the data, the experiments, the C
# headers, libreprocore.a and repro.pc; everything is found relative to the
# prefix, from any working directory:
#   - the installed repro loads its Lua library from PREFIX/share/lua/5.4,
#     runs an installed experiment's smoke preset, and reads the bundled data;
#   - a stock lua5.4 (when installed) with the prefix on LUA_PATH/LUA_CPATH
#     requires repro and reads repro.data.shakespeare{};
#   - a C program builds against the prefix with pkg-config and runs.
# Usage: bash test_install.sh PATH/TO/build/repro
set -u
BIN=$(readlink -f "${1:?usage: test_install.sh PATH/TO/repro}")
BUILD=$(dirname "$BIN")
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL test_install.sh:${BASH_LINENO[0]}: $*" >&2; exit 1; }
passed=0 skipped=0
# A sanitizer build installs instrumented code: the stock interpreter needs the
# runtimes preloaded, and C programs the same flags.
PRELOAD= SANFLAGS= LUA_ASAN=${ASAN_OPTIONS:-}
if grep -q '^REPRO_SANITIZE:BOOL=ON' "$BUILD/CMakeCache.txt" 2>/dev/null; then
  PRELOAD="$(${CC:-cc} -print-file-name=libasan.so) $(${CC:-cc} -print-file-name=libubsan.so)"
  # The uninstrumented interpreter with a preloaded runtime reports 8 bytes
  # allocated inside libasan itself at exit; the module's own leaks are
  # checked where it runs inside the instrumented repro executable.
  LUA_ASAN="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
  SANFLAGS="-fsanitize=address,undefined"
fi
ok() { passed=$((passed + 1)); echo "ok: $*"; }

P=$TMP/prefix
cmake --install "$BUILD" --prefix "$P" >"$TMP/log" 2>&1 || fail "cmake --install failed: $(cat "$TMP/log")"
for f in bin/repro lib/lua/5.4/repro/core.so share/lua/5.4/repro/init.lua share/repro/data/tinyshakespeare/input.txt \
         share/repro/experiments/soap_lm.lua include/repro/tensor.h include/repro/io.h lib/libreprocore.a lib/pkgconfig/repro.pc; do
  [ -e "$P/$f" ] || fail "no $f after cmake --install"
done
[ -e "$P/include/repro/fp8_impl.h" ] && fail "an internal header (fp8_impl.h) was installed"
ok "installed files present"

# A moved prefix must still work: nothing may point back into the build or source tree.
mv "$P" "$TMP/moved"
P=$TMP/moved
mkdir -p "$TMP/elsewhere"
cd "$TMP/elsewhere" || fail "cd"
run() { env -u REPRO_LUA_DIR -u REPRO_SOURCE_DIR "$@"; }
out=$(run "$P/bin/repro" -e 'print(package.searchpath("repro", package.path))' 2>&1) || fail "installed repro failed: $out"
[ "$out" = "$P/bin/../share/lua/5.4/repro/init.lua" ] || fail "installed repro loads repro from [$out]"
out=$(run "$P/bin/repro" -e 'local r = require("repro"); print(r._VERSION); print(r.util.source_dir())' 2>&1) ||
  fail "require 'repro' in the installed copy failed: $out"
[ "$out" = "$(printf 'repro 0.1.0\n%s' "$P/bin/../share/repro")" ] || fail "installed copy printed [$out]"
ok "installed repro finds its Lua library and share folder"

# the docstrings are installed too: help covers every exported function there
# (when the kit has repro.help)
if run "$P/bin/repro" -e 'assert(package.searchpath("repro.help", package.path))' >/dev/null 2>&1; then
  out=$(run "$P/bin/repro" -e 'local H = require("repro.help") local m, s = H.check() print(#m, #s) H.help "fp8.info"' 2>&1) ||
    fail "help in the installed copy failed: $out"
  case $out in "0	0"*"fp8.info(fmt)"*) ;; *) fail "help in the installed copy printed [$out]";; esac
  ok "help covers the installed copy"
else
  skipped=$((skipped + 1)); echo "skip: no repro.help in this tree"
fi

out=$(run "$P/bin/repro" -e '
local d = require("repro").data.shakespeare{batch = 2, seq_len = 8}
local x, y = d:batch("train")
print(table.concat(x:shape(), "x"), table.concat(y:shape(), "x"))' 2>&1) || fail "repro.data.shakespeare{} in the installed copy: $out"
[ "$out" = $'2x8\t2x8' ] || fail "shakespeare batch printed [$out]"
ok "repro.data.shakespeare{} from the prefix"

out=$(REPRO_THREADS=2 run "$P/bin/repro" "$P/share/repro/experiments/soap_lm.lua" --preset smoke --out "$TMP/elsewhere/out" 2>&1) ||
  fail "installed experiment (soap_lm smoke) failed: $out"
[ -s "$TMP/elsewhere/out/results.md" ] || fail "the experiment wrote no results.md into its --out folder"
[ -z "$(ls "$P/share/repro" | grep -v '^data$\|^experiments$')" ] || fail "the experiment wrote into the prefix: $(ls "$P/share/repro")"
ok "installed experiment soap_lm --preset smoke runs from another directory"
out=$(run "$P/bin/repro" experiments/soap_lm.lua --help 2>&1) || fail "repro experiments/soap_lm.lua --help from another folder: $out"
case $out in *"usage: repro"*soap_lm*) ;; *) fail "repro experiments/soap_lm.lua --help printed [$out]";; esac
out=$(run "$P/bin/repro" experiments/none.lua 2>&1) && fail "a missing script ran"
case $out in *"cannot open experiments/none.lua"*) ;; *) fail "missing script: [$out]";; esac
ok "installed repro runs experiments/NAME.lua (relative) from any folder"

if command -v lua5.4 >/dev/null; then
  out=$(cd / && env -u REPRO_SOURCE_DIR LUA_PATH="$P/share/lua/5.4/?.lua;$P/share/lua/5.4/?/init.lua;;" \
        LUA_CPATH="$P/lib/lua/5.4/?.so;;" LD_PRELOAD="$PRELOAD" ASAN_OPTIONS="$LUA_ASAN" lua5.4 -e '
local repro = require "repro"
local d = repro.data.shakespeare{batch = 1, seq_len = 4}
print(package.searchpath("repro.core", package.cpath), d.vocab_size or d.tokenizer and "tok" or "?")' 2>&1) ||
    fail "stock lua5.4 with the prefix on LUA_PATH/LUA_CPATH: $out"
  case $out in "$P/lib/lua/5.4/repro/core.so"*) ;; *) fail "stock lua5.4 printed [$out]";; esac
  ok "stock lua5.4 requires repro from the prefix"
else
  skipped=$((skipped + 1)); echo "skip: lua5.4 not installed (Debian package lua5.4)"
fi

cat >"$TMP/prog.c" <<'C'
#include <stdio.h>
#include "tensor.h"
#include "io.h"
int main(void)
{
    int64_t shape[2] = {2, 3};
    rp_tensor *t = rp_zeros(RP_F32, 2, shape);
    if (!t) return 1;
    printf("%lld\n", (long long)rp_numel(t));
    rp_tensor_release(t);
    return 0;
}
C
flags=$(PKG_CONFIG_PATH="$P/lib/pkgconfig" pkg-config --cflags --libs repro 2>&1) || fail "pkg-config repro: $flags"
# shellcheck disable=SC2086
cc -std=c11 $SANFLAGS -o "$TMP/prog" "$TMP/prog.c" $flags 2>"$TMP/cc.log" || fail "C program against the prefix: $(cat "$TMP/cc.log")"
[ "$("$TMP/prog")" = 6 ] || fail "the C program printed [$("$TMP/prog")]"
ok "a C program builds with pkg-config repro and runs"
echo "test_install: $passed passed, 0 failed, $skipped skipped"
