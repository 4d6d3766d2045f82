#!/usr/bin/env bash
# bench/run --quick as a smoke test of the script: it runs to the end and
# prints every row group (training pairs with their median, min-max and
# model FLOPs utilisation, the attention rows, the pairs' table). Timings
# are never asserted (speed claims are ratios in bench/, read by people).
# Bad arguments are refused with a message.
# Usage: bash test_bench_run.sh PATH/TO/repro   (ctest passes the build's binary)
set -u
BIN=$(readlink -f "${1:?usage: test_bench_run.sh PATH/TO/repro}")
SRC=$(cd "$(dirname "$0")/../.." && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fails=0 checks=0
fail() { fails=$((fails + 1)); echo "FAIL test_bench_run.sh:${BASH_LINENO[0]}: $*" >&2; }
has() {
  checks=$((checks + 1))
  grep -qE -- "$2" "$TMP/$1" || fail "$1 should match '$2'; it is: $(head -c 3000 "$TMP/$1")"
}

export REPRO_BINARY="$BIN" REPRO_BUILD_DIR="$(dirname "$BIN")"
checks=$((checks + 1))
if ! REPRO_THREADS=2 bash "$SRC/bench/run" --quick >"$TMP/out" 2>"$TMP/err"; then
  fail "bench/run --quick failed: $(tail -c 1500 "$TMP/err")"
fi
has out '^# repro benchmarks: 2 threads'
has out '^# started 20[0-9-]+T[0-9:]+Z \(load average'
has out '^attention \(8,6,256,64\) fused fwd\+bwd +[0-9.]+x +sgemm'
has out '^attention \(16,4,128,32\) fused fwd\+bwd +[0-9.]+x'
has out '^MFU small\(dim=128,L=4,T=128,B=16\) repro +[0-9.]+ +of sgemm \(median [0-9]+ GFLOP/s\)'
has out '^#   small +[0-9]+ '
has out '^fp8 step small'
if grep -q "PyTorch is not installed" "$TMP/err"; then
  has out '^train small\(dim=128,L=4,T=128,B=16\) +n/a'
else
  has out '^train small\(dim=128,L=4,T=128,B=16\) +[0-9.]+x +PyTorch tokens/s, median of 1 pairs \([0-9.]+-[0-9.]+; target >= 2.5\)'
  has out '^MFU small\(dim=128,L=4,T=128,B=16\) PyTorch +[0-9.]+'
  has out '^generate dim128'
fi
for bad in "--pairs 0" "--steps x" "--attention flash" "--bogus"; do
  checks=$((checks + 1))
  # shellcheck disable=SC2086
  if bash "$SRC/bench/run" $bad >"$TMP/o2" 2>"$TMP/e2"; then fail "bench/run $bad should fail"; fi
  has e2 '^bench/run: '
done
echo "test_bench_run: $checks checks, $fails failed"
[ "$fails" = 0 ]
