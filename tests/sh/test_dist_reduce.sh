#!/usr/bin/env bash
# The reduce-scatter + all-gather transport of repro.dist gives the bits of
# the all-gather reference and of one process, on uneven sizes and buckets
# (tests/dist/reduce_bits.lua asserts on every rank; here 1 and 2 processes
# must write the same hashes). Training through it: test_dist_bits.sh.
set -euo pipefail
name=test_dist_reduce
source "$(dirname "$0")/dist_common.sh"
cd "$tmp"
"$repro" "$src/tests/dist/reduce_bits.lua" one 2>"$tmp/one.err" || fail "one process failed"
mpirun2 "$src/tests/dist/reduce_bits.lua" two >"$tmp/two.out" 2>"$tmp/two.err" || fail "two processes failed"
[ "$(wc -l < one)" -eq 12 ] || fail "expected 12 cases, got $(wc -l < one)"
cmp -s one two || { diff one two >&2 || true; fail "1 and 2 processes differ"; }
echo "$name: ok"
