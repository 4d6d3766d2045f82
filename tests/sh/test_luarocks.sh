#!/usr/bin/env bash
# repro as a LuaRocks package: `luarocks make --tree T` (the rockspec at the
# source root, CMake build type) installs repro.core, the Lua library and the
# data into a fresh tree; a stock lua5.4 with that tree on package.path /
# package.cpath then requires repro, reads repro.data.shakespeare{} and
# trains a small Llama for a few steps (the loss must fall). The stock
# interpreter with the build tree's own module (build/lua/repro/core.so) is
# checked too. Needs the Debian packages lua5.4 and luarocks (./repro installs
# them); skips with a message when they are missing.
# The rock is built in BUILD/luarocks-src (a copy of the sources, mtimes
# kept), whose build.luarocks folder persists between runs: only the first
# run compiles the core (about 35 s of CPU), later ones reuse its objects.
# Usage: bash test_luarocks.sh PATH/TO/build/repro
set -u
BIN=$(readlink -f "${1:?usage: test_luarocks.sh PATH/TO/repro}")
BUILD=$(dirname "$BIN")
SRC=${REPRO_SOURCE_DIR:?REPRO_SOURCE_DIR must name the source tree}
fail() { echo "FAIL test_luarocks.sh:${BASH_LINENO[0]}: $*" >&2; exit 1; }
for t in lua5.4 luarocks; do
  command -v $t >/dev/null || { echo "test_luarocks: $t is not installed (Debian package $t): 0 passed, 0 failed, 1 skipped"; exit 0; }
done
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
passed=0
# A sanitizer build's module needs the sanitizer runtimes loaded first into
# the (uninstrumented) stock interpreter.
PRELOAD= LUA_ASAN=${ASAN_OPTIONS:-}
if grep -q '^REPRO_SANITIZE:BOOL=ON' "$BUILD/CMakeCache.txt" 2>/dev/null; then
  PRELOAD="$(${CC:-cc} -print-file-name=libasan.so) $(${CC:-cc} -print-file-name=libubsan.so)"
  # The uninstrumented interpreter with a preloaded runtime reports 8 bytes
  # allocated inside libasan itself at exit; the module's own leaks are
  # checked where it runs inside the instrumented repro executable.
  LUA_ASAN="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
fi
ok() { passed=$((passed + 1)); echo "ok: $*"; }

# A few training steps from stock Lua.
cat >"$TMP/train.lua" <<'LUA'
local repro = require "repro"
local T, nn, optim = repro.tensor, repro.nn, repro.optim
print("core", package.searchpath("repro.core", package.cpath))
local d = repro.data.shakespeare{batch = 4, seq_len = 16, seed = 1}
repro.manual_seed(1)
local m = nn.Llama{vocab = d.vocab_size, dim = 16, layers = 1, heads = 2, seq_len = 16}
local opt = optim.adamw(m:parameters(), {lr = 1e-2})
local x, y = d:batch("train")
local first, last
for step = 1, 5 do
  local loss = m:loss(x, y)
  opt:zero_grad(); loss:backward(); opt:step()
  first = first or loss:item(); last = loss:item()
end
print("loss", first, last)
assert(last < first, "loss did not fall")
LUA

# 1. stock lua5.4 with the build tree's module and the source tree's library
out=$(cd "$TMP" && env -u REPRO_SOURCE_DIR LUA_PATH="$SRC/lua/?.lua;$SRC/lua/?/init.lua;;" \
      LUA_CPATH="$BUILD/lua/?.so;;" LD_PRELOAD="$PRELOAD" ASAN_OPTIONS="$LUA_ASAN" lua5.4 "$TMP/train.lua" 2>&1) || fail "stock lua5.4 with build/lua/repro/core.so: $out"
case $out in "core	$BUILD/lua/repro/core.so"*) ;; *) fail "stock lua5.4 loaded [$out]";; esac
ok "stock lua5.4 + build tree module trains ($(echo "$out" | grep loss))"

# 2. luarocks make into a fresh tree (its own Release build: nothing more to
# learn from it in a sanitizer build, whose suite skips it)
if [ -n "$PRELOAD" ]; then
  echo "test_luarocks: $passed passed, 0 failed, 1 skipped (luarocks make: sanitizer build)"
  exit 0
fi
R=$BUILD/luarocks-src
mkdir -p "$R"
exec 9>"$R/.lock"
flock 9
# A fresh copy of the clone (but build folders, outputs and .git), mtimes kept
# so that build.luarocks rebuilds only what changed.
find "$R" -mindepth 1 -maxdepth 1 ! -name build.luarocks ! -name .lock -exec rm -rf {} +
inside=()
case $BUILD in "$(readlink -f "$SRC")"/*) inside=(--exclude="./${BUILD#"$(readlink -f "$SRC")"/}");; esac
tar -C "$SRC" --exclude='./build*' --exclude=./out --exclude=./.git "${inside[@]}" -cf - . | tar -C "$R" -xf - ||
  fail "copying the sources"
start=$(date +%s)
(cd "$R" && CMAKE_BUILD_PARALLEL_LEVEL=2 luarocks --lua-version 5.4 make --tree "$TMP/tree") >"$TMP/rock.log" 2>&1 ||
  fail "luarocks make failed: $(tail -30 "$TMP/rock.log")"
exec 9>&-
grep -q "repro 0.1.0-1 is now installed in $TMP/tree" "$TMP/rock.log" || fail "luarocks said: $(tail -5 "$TMP/rock.log")"
for f in lib/lua/5.4/repro/core.so share/lua/5.4/repro/init.lua share/lua/5.4/repro/share/data/tinyshakespeare/input.txt; do
  [ -e "$TMP/tree/$f" ] || fail "no $f in the tree after luarocks make"
done
ok "luarocks make --tree ($(( $(date +%s) - start )) s)"

paths=$(luarocks --lua-version 5.4 path --tree "$TMP/tree") || fail "luarocks path"
out=$(cd / && env -u REPRO_SOURCE_DIR -u LUA_PATH -u LUA_CPATH -u LUA_PATH_5_4 -u LUA_CPATH_5_4 bash -c "$paths
lua5.4 '$TMP/train.lua'" 2>&1) || fail "stock lua5.4 with the LuaRocks tree: $out"
case $out in "core	$TMP/tree/lib/lua/5.4/repro/core.so"*) ;; *) fail "stock lua5.4 loaded [$out]";; esac
ok "stock lua5.4 + LuaRocks tree trains ($(echo "$out" | grep loss))"
out=$(cd / && env -u REPRO_SOURCE_DIR -u LUA_PATH -u LUA_CPATH bash -c "$paths
lua5.4 -e 'print(require(\"repro\").util.source_dir())'" 2>&1)
[ "$out" = "$TMP/tree/share/lua/5.4/repro/share" ] || fail "data folder in the tree: [$out]"
ok "data found inside the tree"
echo "test_luarocks: $passed passed, 0 failed"
