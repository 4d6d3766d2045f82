#!/usr/bin/env bash
# Data parallelism gives the bits of one process: a few steps of a tiny
# Llama with AdamW, SOAP and Shampoo on 2 processes equal, loss by loss and weight
# by weight, one process with the same micro_batches (at 2 threads, so the
# thread count differs too); and every rank holds the same weights.
set -euo pipefail
name=test_dist_bits
source "$(dirname "$0")/dist_common.sh"
cd "$tmp"
for spec in "adamw 4 2" "soap 5 4" "shampoo 5 4"; do
  set -- $spec
  REPRO_THREADS=2 "$repro" "$src/tests/dist/train_bits.lua" $1 $2 $3 one_$1 2>"$tmp/one.err" || fail "$1: one process failed"
  mpirun2 "$src/tests/dist/train_bits.lua" $1 $2 $3 two_$1 >"$tmp/two.out" 2>"$tmp/two.err" || fail "$1: two processes failed"
  grep -q "^loss $2 " "two_$1" || fail "$1: the 2-process run did not log step $2"
  grep -q "^w " "two_$1" || fail "$1: no weights written"
  cmp -s "one_$1" "two_$1" || { diff "one_$1" "two_$1" >&2 || true; fail "$1: 1 and 2 processes differ"; }
  # the decomposition matters: one micro-batch is another computation
  if [ "$1" = adamw ]; then
    "$repro" "$src/tests/dist/train_bits.lua" $1 $2 1 m1 2>"$tmp/m1.err" || fail "micro_batches 1 failed"
    cmp -s m1 "one_$1" && fail "micro_batches 1 and 2 gave the same bits: the test checks nothing"
  fi
done
# micro_batches must be a multiple of the processes
if mpirun2 "$src/tests/dist/train_bits.lua" adamw 2 1 bad >"$tmp/bad.out" 2>"$tmp/bad.err"; then fail "micro_batches 1 on 2 processes ran"; fi
grep -q "multiple of the number of processes" "$tmp/bad.err" || fail "no clear message for micro_batches 1 on 2 processes"
echo "$name: ok"
