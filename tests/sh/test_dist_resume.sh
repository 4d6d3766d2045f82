#!/usr/bin/env bash
# Resume under MPI: a 2-process run checkpointed at step 4 and resumed to
# step 6 (on 2 processes, and on 1 process with the same micro_batches) ends
# with the losses and weights of an uninterrupted 6-step run. SIGINT sent to
# one rank only stops every rank at the same step with a checkpoint (exit
# 130); resuming that gives the bits of an uninterrupted run.
set -euo pipefail
name=test_dist_resume
source "$(dirname "$0")/dist_common.sh"
run=$src/tests/dist/train_bits.lua
cd "$tmp"
same() {   # same REF OUT: the log rows and weights agree
  grep -E "^(log|w) " "$1" >"$tmp/cmp_a"; grep -E "^(log|w) " "$2" >"$tmp/cmp_b"
  [ -s "$tmp/cmp_a" ] || fail "$1 holds no log rows"
  cmp -s "$tmp/cmp_a" "$tmp/cmp_b" || { diff "$tmp/cmp_a" "$tmp/cmp_b" >&2 || true; fail "$2 differs from $1"; }
}
mkdir ref a b
(cd ref && mpirun2 "$run" adamw 6 2 out >"$tmp/ref.out" 2>"$tmp/ref.err") || fail "the reference run failed"
(cd a && mpirun2 "$run" adamw 4 2 out >"$tmp/a.out" 2>"$tmp/a.err") || fail "the 4-step run failed"
cp -r a/. b/
(cd a && mpirun2 "$run" adamw 6 2 out resume >"$tmp/a2.out" 2>"$tmp/a2.err") || fail "resuming on 2 processes failed"
grep -q "^loss 5 " a/out || fail "the resumed run did not start at step 5"
same ref/out a/out
# a 2-process checkpoint resumed by one process (same micro_batches)
(cd b && REPRO_THREADS=2 "$repro" "$run" adamw 6 2 out resume >"$tmp/b.out" 2>"$tmp/b.err") || fail "resuming on 1 process failed"
same ref/out b/out

# SIGINT to rank 1 alone
mkdir c
set +e
(cd c && TEST_DIST_READY=$tmp/ready mpirun2 "$run" adamw 100000 2 out >"$tmp/c.out" 2>"$tmp/c.err") &
job=$!
for _ in $(seq 1 600); do [ -s "$tmp/ready.1" ] && break; sleep 0.1; done
[ -s "$tmp/ready.1" ] || fail "rank 1 never started training"
kill -INT "$(cat "$tmp/ready.1")"
wait "$job"
rc=$?
set -e
[ "$rc" -eq 130 ] || fail "the stopped job exited $rc, expected 130"
steps=$(grep -o "at step [0-9]*/100000" "$tmp/c.err" | sort -u)
[ "$(echo "$steps" | wc -l)" -eq 1 ] || fail "the ranks stopped at different steps: $steps"
S=$(echo "$steps" | sed 's/at step \([0-9]*\).*/\1/')
[ "$(grep -c "at step $S/100000" "$tmp/c.err")" -ge 2 ] || fail "not every rank reported the stop at step $S"
ls c/out.ck/* >/dev/null 2>&1 || fail "no checkpoint written"
mkdir d
(cd d && mpirun2 "$run" adamw $((S + 2)) 2 out >"$tmp/d.out" 2>"$tmp/d.err") || fail "the reference of $((S + 2)) steps failed"
(cd c && mpirun2 "$run" adamw $((S + 2)) 2 out resume >"$tmp/c2.out" 2>"$tmp/c2.err") || fail "resuming after SIGINT failed"
same d/out c/out
echo "$name: ok (stopped at step $S)"
