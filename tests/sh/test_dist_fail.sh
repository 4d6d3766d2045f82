#!/usr/bin/env bash
# A rank that fails ends the whole job with an error, never a hang: rank 1
# raises at step 2 while rank 0 waits in the gradient all-gather.
set -euo pipefail
name=test_dist_fail
source "$(dirname "$0")/dist_common.sh"
cd "$tmp"
set +e
TEST_DIST_DIE_AT=2 mpirun2 "$src/tests/dist/train_bits.lua" adamw 50 2 out >"$tmp/run.out" 2>"$tmp/run.err"
rc=$?
set -e
[ "$rc" -ne 0 ] || fail "the job succeeded although rank 1 failed"
[ "$rc" -ne 124 ] || fail "the job hung (timeout, status $rc)"
grep -q "rank 1 fails on purpose" "$tmp/run.err" || fail "rank 1's error is not reported"
# a rank killed outright (SIGKILL) ends the job too
set +e
TEST_DIST_READY=$tmp/ready mpirun2 "$src/tests/dist/train_bits.lua" adamw 100000 2 out2 >"$tmp/kill.out" 2>"$tmp/kill.err" &
job=$!
for _ in $(seq 1 600); do [ -s "$tmp/ready.1" ] && break; sleep 0.1; done
[ -s "$tmp/ready.1" ] || fail "rank 1 never started training"
kill -KILL "$(cat "$tmp/ready.1")"
t0=$SECONDS
wait "$job"
rc=$?
set -e
[ "$rc" -ne 0 ] || fail "the job succeeded although rank 1 was killed"
# mpirun reports the killed rank as 128 + 9; the 120 s timeout would say 124
[ "$rc" -ne 124 ] && [ $((SECONDS - t0)) -lt 60 ] || fail "the job hung after rank 1 was killed (status $rc)"
echo "$name: ok"
