# Sourced by the experiment option tests (test_experiment_options*.sh): the
# environment, an empty working folder and `bad`, the check every invalid
# value must pass. The sourcing test sets NAME (its own name) and repro.
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export REPRO_SOURCE_DIR=$src REPRO_THREADS=1 REPRO_PROGRESS=lines REPRO_GNUPLOT=true
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "$NAME: FAIL: $*" >&2; [ -f "$tmp/err" ] && cat "$tmp/err" >&2; exit 1; }
# run from an empty folder: the default output folder (out/...) must not appear
mkdir -p "$tmp/cwd"
cd "$tmp/cwd"
n=0

# bad SCRIPT EXPECTED-TEXT ARGS...: exit 2, one line containing the text, nothing written
bad() {
  local script=$1 want=$2; shift 2
  local rc=0
  "$repro" "$src/experiments/$script.lua" "$@" --out "$tmp/o" >"$tmp/out" 2>"$tmp/err" || rc=$?
  [ "$rc" = 2 ] || fail "$script $*: exit status $rc, expected 2"
  [ "$(wc -l <"$tmp/err")" = 1 ] || fail "$script $*: expected one line on stderr"
  grep -qF -- "$want" "$tmp/err" || fail "$script $*: stderr lacks '$want'"
  grep -q "traceback" "$tmp/err" && fail "$script $*: a traceback"
  [ ! -s "$tmp/out" ] || fail "$script $*: wrote to stdout"
  [ ! -e "$tmp/o" ] || fail "$script $*: created the output folder"
  [ -z "$(ls -A "$tmp/cwd")" ] || fail "$script $*: wrote into the current folder"
  n=$((n + 1))
}
