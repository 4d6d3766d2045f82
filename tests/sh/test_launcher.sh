#!/usr/bin/env bash
# The repro executable as a script runner: -e, arg, exit codes, tracebacks,
# --version/--help, threads, and `require "repro"` from any directory.
# Usage: bash test_launcher.sh PATH/TO/repro   (ctest passes the build's binary)
set -u
BIN=$(readlink -f "${1:?usage: test_launcher.sh PATH/TO/repro}")
SRC=${REPRO_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fails=0 checks=0

fail() { fails=$((fails + 1)); echo "FAIL ${BASH_SOURCE[1]##*/}:${BASH_LINENO[0]}: $*" >&2; }
# expect_rc WANT CMD...: run CMD, capture stdout/stderr in $TMP/out, $TMP/err.
expect_rc() {
  local want=$1; shift; checks=$((checks + 1))
  "$@" >"$TMP/out" 2>"$TMP/err" </dev/null; local rc=$?
  if [ "$rc" != "$want" ]; then
    fail "'$*': expected exit $want, actual $rc; stdout: $(head -c 400 "$TMP/out"); stderr: $(head -c 400 "$TMP/err")"
  fi
}
# has FILE TEXT: FILE contains the fixed string TEXT.
has() {
  checks=$((checks + 1))
  grep -qF -- "$2" "$TMP/$1" || fail "$1 should contain '$2'; it is: $(head -c 600 "$TMP/$1")"
}
hasnt() {
  checks=$((checks + 1))
  ! grep -qF -- "$2" "$TMP/$1" || fail "$1 should not contain '$2'; it is: $(head -c 600 "$TMP/$1")"
}

# -e
expect_rc 0 "$BIN" -e 'print(1+1)'
[ "$(cat "$TMP/out")" = "2" ] || fail "-e 'print(1+1)' printed '$(cat "$TMP/out")', expected '2'"
expect_rc 0 "$BIN" -e 'x = 20' -e 'print(x + 1)'
has out 21
expect_rc 1 "$BIN" -e 'error("from -e")'
has err "from -e"
has err "stack traceback"
expect_rc 1 "$BIN" -e 'this is not lua'
has err "(command line)"

# SCRIPT ARGS: arg as lua.c builds it, arguments also as varargs
cat >"$TMP/args.lua" <<'LUA'
assert(arg[1] == "a", "arg[1] is " .. tostring(arg[1]))
assert(arg[2] == "b c", "arg[2] is " .. tostring(arg[2]))
assert(#arg == 2, "#arg is " .. #arg)
assert(arg[0]:match("args%.lua$"), "arg[0] is " .. tostring(arg[0]))
local lowest = -1
while arg[lowest - 1] do lowest = lowest - 1 end
assert(arg[lowest]:match("repro$"), "the interpreter is " .. tostring(arg[lowest]))
local x, y = ...
assert(x == "a" and y == "b c", "varargs are " .. tostring(x) .. ", " .. tostring(y))
print("args ok")
LUA
expect_rc 0 "$BIN" "$TMP/args.lua" a "b c"
has out "args ok"
# options before the script land at negative indices, like lua.c
cat >"$TMP/neg.lua" <<'LUA'
print(arg[-1], arg[-2], #arg)
LUA
expect_rc 0 "$BIN" -e 'y=1' "$TMP/neg.lua"
has out "y=1	-e	0"
# "--" ends options; "-" alone reads the script from stdin
expect_rc 0 "$BIN" -- "$TMP/args.lua" a "b c"
has out "args ok"
checks=$((checks + 1))
out=$(echo 'print("from stdin", ...)' | "$BIN" - q 2>&1) || fail "'repro - q' failed: $out"
[ "$out" = "from stdin	q" ] || fail "'repro - q' printed '$out'"

# a script error: exit 1, file:line, message, traceback on stderr
cat >"$TMP/err.lua" <<'LUA'
local function inner()
  error("deliberate failure")
end
inner()
LUA
expect_rc 1 "$BIN" "$TMP/err.lua"
has err "err.lua:2: deliberate failure"
has err "stack traceback"
has err "err.lua:4"
# a syntax error: exit 1 with file:line
printf 'local x = = 1\n' >"$TMP/syntax.lua"
expect_rc 1 "$BIN" "$TMP/syntax.lua"
has err "syntax.lua:1:"
# a non-string error object still gets a message
expect_rc 1 "$BIN" -e 'error({})'
has err "error object is a table value"
expect_rc 1 "$BIN" -e 'error(setmetatable({}, {__tostring = function() return "custom object" end}))'
has err "custom object"

# a missing script: exit 2, clear message; a directory is no script either
expect_rc 2 "$BIN" "$TMP/does_not_exist.lua"
has err "cannot open $TMP/does_not_exist.lua"
has err "No such file or directory"
expect_rc 2 "$BIN" "$TMP"
has err "cannot"
# bad usage: exit 2
expect_rc 2 "$BIN" --no-such-option
has err "unrecognized option"
expect_rc 2 "$BIN" -e
has err "needs an argument"

# --version / --help
expect_rc 0 "$BIN" --version
has out "repro "
has out "Lua 5.4"
has out "OpenBLAS"
has out "threads"
expect_rc 0 "$BIN" -v
has out "Lua 5.4"
expect_rc 0 "$BIN" --help
has out "usage: repro"
has out "REPRO_THREADS"

# threads: REPRO_THREADS, set_threads, and its argument checks
expect_rc 0 env REPRO_THREADS=1 "$BIN" -e 'print("threads=" .. require("repro").get_threads())'
has out "threads=1"
expect_rc 0 env REPRO_THREADS=3 "$BIN" -e 'print("threads=" .. require("repro").core.sys.get_threads())'
has out "threads=3"
expect_rc 0 env -u REPRO_THREADS "$BIN" -e 'print("threads=" .. require("repro").get_threads())'
has out "threads=$(getconf _NPROCESSORS_ONLN)"
expect_rc 2 env REPRO_THREADS=zero "$BIN" -e 'print(1)'
has err "REPRO_THREADS"
expect_rc 2 env REPRO_THREADS=0 "$BIN" -e 'print(1)'
has err "REPRO_THREADS"
cat >"$TMP/threads.lua" <<'LUA'
local repro = require "repro"
repro.set_threads(2)
assert(repro.get_threads() == 2, "get_threads after set_threads(2): " .. repro.get_threads())
repro.set_threads(1)
assert(repro.get_threads() == 1)
for _, bad in ipairs({0, -3, 2.5, "2", 1e9}) do
  local ok, err = pcall(repro.set_threads, bad)
  assert(not ok, "set_threads(" .. tostring(bad) .. ") should fail")
  assert(err:find("set_threads", 1, true), "error should name set_threads: " .. err)
end
assert(not pcall(repro.set_threads))
assert(repro.get_threads() == 1, "a failed set_threads must not change the count")
assert(repro.blas_info():find("OpenBLAS", 1, true), repro.blas_info())
assert(repro.blas_info():find("threads", 1, true))
assert(repro.version():match("^%d+%.%d+%.%d+$"), repro.version())
assert(repro._VERSION == "repro " .. repro.version(), repro._VERSION)
print("sys ok")
LUA
expect_rc 0 "$BIN" "$TMP/threads.lua"
has out "sys ok"

# require "repro" from another working directory, in -e and in a script
checks=$((checks + 1))
out=$(cd / && "$BIN" -e 'print(require("repro")._VERSION)' 2>&1) || fail "require from / failed: $out"
case $out in "repro "*) ;; *) fail "require from / printed '$out'";; esac
mkdir -p "$TMP/elsewhere"
printf 'local repro = require "repro"\nprint(type(repro.tensor), type(repro.nn))\n' >"$TMP/elsewhere/s.lua"
checks=$((checks + 1))
out=$(cd "$TMP/elsewhere" && "$BIN" s.lua 2>&1) || fail "script requiring repro from $TMP/elsewhere failed: $out"
[ "$out" = "table	table" ] || fail "script requiring repro printed '$out'"
# the Lua sources come from the source tree, so edits need no rebuild
expect_rc 0 "$BIN" -e 'print(package.searchpath("repro", package.path))'
has out "$SRC/lua/repro/init.lua"
# REPRO_LUA_DIR overrides where they come from
mkdir -p "$TMP/luadir/repro"
echo 'return {_VERSION = "overridden"}' >"$TMP/luadir/repro/init.lua"
expect_rc 0 env REPRO_LUA_DIR="$TMP/luadir" "$BIN" -e 'print(require("repro")._VERSION)'
has out "overridden"
# -e sees the REPL's globals (tests/sh/test_repl_print.sh checks every mode)
expect_rc 0 "$BIN" -e 'print(T == repro.tensor, nn == repro.nn, optim == repro.optim, fp8 == repro.fp8, plot == repro.plot, help == repro.help)'
has out "true	true	true	true	true	true"

# subcommands the executable handles
expect_rc 2 "$BIN" test
has err "./repro test"
if [ -e "$SRC/lua/repro/figures.lua" ]; then
  expect_rc 0 "$BIN" figures --help
  has out "usage: repro figures"
  expect_rc 2 "$BIN" figures --no-such-flag    # main's exit status is the process's
else
  expect_rc 1 "$BIN" figures
  has err "figures"
fi
# a figures module is found through REPRO_LUA_DIR like every other module
mkdir -p "$TMP/figdir/repro"
echo 'return {main = function(args) print("fig", args[0], args[1], #args) return 3 end}' \
  >"$TMP/figdir/repro/figures.lua"
expect_rc 3 env REPRO_LUA_DIR="$TMP/figdir" "$BIN" figures x
has out "fig	figures	x	1"
if [ ! -e "$SRC/bench/run" ]; then
  expect_rc 1 "$BIN" bench
  has err "bench/run"
fi

# the launcher script is valid bash and is executable
checks=$((checks + 1))
bash -n "$SRC/repro" || fail "the launcher $SRC/repro has a bash syntax error"
checks=$((checks + 1))
[ -x "$SRC/repro" ] || fail "the launcher $SRC/repro is not executable"
checks=$((checks + 1))
bash -n "$SRC/.ci/run" || fail "$SRC/.ci/run has a bash syntax error"

if [ "$fails" -gt 0 ]; then echo "test_launcher: $fails of $checks checks failed" >&2; exit 1; fi
echo "test_launcher: $checks checks passed"
