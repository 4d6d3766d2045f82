#!/usr/bin/env bash
# The ./repro launcher itself, with dpkg-query, id, apt-get, cmake and ctest
# replaced by fakes on PATH, in a scratch copy of the tree: what it does when
# packages are missing (root: apt-get update + install; user: print the sudo
# command, exit 1), that it builds only when something is stale, stays quiet
# otherwise, shows the log when the build fails, and hands `test` to ctest.
# Usage: bash test_launcher_script.sh PATH/TO/repro (unused: the launcher is under test)
set -u
SRC=${REPRO_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fails=0 checks=0
check() { # WHAT COMMAND...: the command must succeed
  local what=$1; shift; checks=$((checks + 1))
  if ! "$@"; then
    fails=$((fails + 1))
    echo "FAIL test_launcher_script.sh:${BASH_LINENO[0]}: $what" \
         "(stdout: $(head -c 300 "$TMP/out"); stderr: $(head -c 600 "$TMP/err"))" >&2
  fi
}
contains() { grep -qF -- "$2" "$1"; }
lacks() { ! grep -qF -- "$2" "$1"; }

ROOT=$TMP/tree
mkdir -p "$ROOT/core" "$ROOT/lua/repro" "$ROOT/tests" "$TMP/bin"
cp "$SRC/repro" "$ROOT/repro"
echo 'project(fake C)' >"$ROOT/CMakeLists.txt"
echo 'int x;' >"$ROOT/core/a.c"
LOG=$TMP/calls
: >"$LOG"

cat >"$TMP/bin/dpkg-query" <<'SH'
#!/bin/bash
pkg=${!#}
if grep -qxF "$pkg" "$FAKE_STATE/missing" 2>/dev/null; then
  echo "dpkg-query: no packages found matching $pkg" >&2; exit 1
fi
printf 'install ok installed'
SH
cat >"$TMP/bin/id" <<'SH'
#!/bin/bash
[ "$1" = -u ] && { echo "$FAKE_UID"; exit 0; }
exec /usr/bin/id "$@"
SH
cat >"$TMP/bin/apt-get" <<'SH'
#!/bin/bash
echo "apt-get $*" >>"$FAKE_STATE/calls"
if [ "$1" = install ]; then
  shift; [ "$1" = -y ] && shift
  for p in "$@"; do grep -vxF "$p" "$FAKE_STATE/missing" >"$FAKE_STATE/m2"; mv "$FAKE_STATE/m2" "$FAKE_STATE/missing"; done
fi
SH
cat >"$TMP/bin/cmake" <<'SH'
#!/bin/bash
echo "cmake $*" >>"$FAKE_STATE/calls"
if [ "$1" = -S ]; then
  mkdir -p "$4"; echo "CMAKE_HOME_DIRECTORY:INTERNAL=$2" >"$4/CMakeCache.txt"; exit 0
fi
if [ "$1" = --build ]; then
  if [ -e "$FAKE_STATE/fail_build" ]; then echo "core/a.c:1: error: fake compile error"; exit 2; fi
  printf '#!/bin/bash\n[ "$1" = -e ] && [ -n "$FAKE_NOMPI" ] && exit 1\necho "fake repro $*"\n' >"$2/repro"; chmod +x "$2/repro"; exit 0
fi
exit 1
SH
cat >"$TMP/bin/ctest" <<'SH'
#!/bin/bash
echo "ctest $*" >>"$FAKE_STATE/calls"
echo "100% tests passed, 0 tests failed out of 1"
exit "${FAKE_CTEST_RC:-0}"
SH
chmod +x "$TMP/bin"/*
export PATH="$TMP/bin:$PATH" FAKE_STATE=$TMP
unset REPRO_BUILD_DIR
run() { "$ROOT/repro" "$@" >"$TMP/out" 2>"$TMP/err" </dev/null; }

# a user without root and a missing package: the exact command, exit 1, no build
echo gnuplot-nox >"$TMP/missing"
FAKE_UID=1000 run --version; rc=$?
check "non-root missing package exits 1, got $rc" [ "$rc" = 1 ]
check "non-root prints the sudo command" contains "$TMP/err" "sudo apt-get install -y gnuplot-nox"
check "non-root does not run apt-get" lacks "$LOG" "apt-get"
check "non-root does not build" [ ! -e "$ROOT/build/repro" ]

# root: apt-get update, then install only what is missing, then configure, build, run
FAKE_UID=0 run --version a; rc=$?
check "root run exits 0, got $rc" [ "$rc" = 0 ]
check "apt-get update ran" contains "$LOG" "apt-get update"
check "apt-get installs the missing package" contains "$LOG" "apt-get install -y gnuplot-nox"
check "update comes before install" [ "$(grep -n 'apt-get update' "$LOG" | cut -d: -f1)" -lt \
                                        "$(grep -n 'apt-get install' "$LOG" | cut -d: -f1)" ]
check "configured as Release with -Werror" contains "$LOG" "-DCMAKE_BUILD_TYPE=Release -DREPRO_WERROR=ON"
check "built in parallel" contains "$LOG" "cmake --build $ROOT/build -j"
check "ran build/repro with the arguments" contains "$TMP/out" "fake repro --version a"
check "said it was building" contains "$TMP/err" "building repro..."

# nothing stale: quiet, no cmake, straight to build/repro
: >"$LOG"
FAKE_UID=1000 run x.lua 'b c'
check "quiet when up to date" [ ! -s "$TMP/err" ]
check "no cmake when up to date" [ ! -s "$LOG" ]
check "arguments passed through" contains "$TMP/out" "fake repro x.lua b c"
# a Lua library file is read at run time: editing it needs no rebuild
sleep 1; echo '-- edit' >"$ROOT/lua/repro/init.lua"
FAKE_UID=1000 run
check "a lua/repro edit does not rebuild" [ ! -s "$LOG" ]

# a newer C source: rebuild without reconfiguring
sleep 1; touch "$ROOT/core/a.c"
FAKE_UID=1000 run
check "stale source rebuilds" contains "$LOG" "cmake --build"
check "no reconfigure when the cache exists" lacks "$LOG" "cmake -S"
# a new test file counts too
: >"$LOG"; sleep 1; echo 'x' >"$ROOT/tests/test_new.lua"
FAKE_UID=1000 run
check "new test file rebuilds" contains "$LOG" "cmake --build"

# a failing build: exit 1 and the build output shown
: >"$LOG"; touch "$TMP/fail_build"; sleep 1; touch "$ROOT/core/a.c"
FAKE_UID=1000 run; rc=$?
check "failed build exits 1, got $rc" [ "$rc" = 1 ]
check "failed build shows the compiler output" contains "$TMP/err" "fake compile error"
check "failed build does not run repro" lacks "$TMP/out" "fake repro"
rm -f "$TMP/fail_build"
FAKE_UID=1000 run
check "the build is retried after a failure" contains "$TMP/out" "fake repro"

# ./repro test: ctest in build/, its exit status and output
: >"$LOG"
FAKE_UID=1000 FAKE_CTEST_RC=0 run test -R foo; rc=$?
check "test exits with ctest's status 0, got $rc" [ "$rc" = 0 ]
check "test runs ctest with the options" contains "$LOG" "ctest --test-dir $ROOT/build --output-on-failure -j2 -R foo"
check "test output is ctest's" contains "$TMP/out" "tests passed"
FAKE_UID=1000 FAKE_CTEST_RC=8 run test; rc=$?
check "test exits with ctest's status 8, got $rc" [ "$rc" = 8 ]

# --with-mpi: installs Open MPI when missing (root), then runs the rest
: >"$LOG"; printf 'openmpi-bin\n' >"$TMP/missing"
FAKE_UID=0 run --with-mpi y.lua; rc=$?
check "--with-mpi exits 0, got $rc" [ "$rc" = 0 ]
check "--with-mpi installs openmpi-bin" contains "$LOG" "apt-get install -y openmpi-bin"
check "--with-mpi passes the rest on" contains "$TMP/out" "fake repro y.lua"
# a build made without MPI is reconfigured
: >"$LOG"
FAKE_UID=1000 FAKE_NOMPI=1 run --with-mpi z.lua
check "--with-mpi reconfigures a build without MPI" contains "$LOG" "cmake -S"
check "--with-mpi says so" contains "$TMP/err" "reconfiguring"
# a user without root: the sudo command for the MPI packages
printf 'libopenmpi-dev\n' >"$TMP/missing"
FAKE_UID=1000 run --with-mpi; rc=$?
check "--with-mpi as a user with MPI missing exits 1, got $rc" [ "$rc" = 1 ]
check "--with-mpi prints the sudo command" contains "$TMP/err" "sudo apt-get install -y libopenmpi-dev"
: >"$TMP/missing"

if [ "$fails" -gt 0 ]; then echo "test_launcher_script: $fails of $checks checks failed" >&2; exit 1; fi
echo "test_launcher_script: $checks checks passed"
