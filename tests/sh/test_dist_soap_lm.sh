#!/usr/bin/env bash
# The issue's acceptance: `mpirun -np 2 repro experiments/soap_lm.lua --preset
# smoke` gives the results of one process with --micro_batches 2 (the
# equivalence docs/dist.md states): every run's log agrees in step,
# train_loss, val_loss, lr and grad_norm (timing columns aside), and so do the
# best rates and final losses of results.txt. Rank 1 writes nothing outside
# its private folder, which is gone after the job. --dist: the same run when
# mpirun started it, a clear error when not; experiments that are not
# data-parallel refuse mpirun.
set -euo pipefail
name=test_dist_soap_lm
source "$(dirname "$0")/dist_common.sh"
cd "$tmp"
REPRO_THREADS=2 "$repro" "$src/experiments/soap_lm.lua" --preset smoke --micro_batches 2 --out one \
  >"$tmp/one.out" 2>"$tmp/one.err" || fail "one process failed"
mpirun2 "$src/experiments/soap_lm.lua" --preset smoke --dist --out two >"$tmp/two.out" 2>"$tmp/two.err" \
  || fail "two processes failed"
grep -qx "processes=2" two/run.txt || fail "run.txt does not record 2 processes"
n=0
for f in one/runs/*.tsv; do
  b=$(basename "$f")
  [ -f "two/runs/$b" ] || fail "two/runs/$b is missing"
  head -1 "$f" | cut -f1-5 | grep -qx "$(printf 'step\ttrain_loss\tval_loss\tlr\tgrad_norm')" || fail "unexpected columns in $f"
  cmp -s <(cut -f1-5 "$f") <(cut -f1-5 "two/runs/$b") || { diff <(cut -f1-5 "$f") <(cut -f1-5 "two/runs/$b") >&2 || true; fail "run $b differs"; }
  n=$((n + 1))
done
[ "$n" -ge 5 ] || fail "only $n run logs"
keys='^(target_loss|[a-z]*\.best_lr|[a-z]*\.final_val_loss)='
cmp -s <(grep -E "$keys" one/results.txt) <(grep -E "$keys" two/results.txt) || fail "results.txt differs"
[ -z "$(ls -A "$tmp" | grep '^repro-rank' || true)" ] || fail "a rank's private folder was left behind"
if "$repro" "$src/experiments/soap_lm.lua" --preset smoke --dist --out three >"$tmp/three.out" 2>"$tmp/three.err"; then
  fail "--dist without mpirun ran"
fi
grep -q -- "--dist: not started by mpirun; run: mpirun -np N repro experiments/soap_lm.lua" "$tmp/three.err" \
  || fail "no clear message for --dist without mpirun"
[ ! -e three ] || fail "--dist without mpirun wrote its output folder"
if mpirun2 "$src/experiments/csp.lua" --preset smoke --out four >"$tmp/four.out" 2>"$tmp/four.err"; then
  fail "csp ran on 2 processes"
fi
grep -q "csp does not run on several processes" "$tmp/four.err" || fail "no clear message for csp under mpirun"
echo "$name: ok ($n runs equal)"
