#!/usr/bin/env bash
# Real signals from outside:
#  1. SIGINT to a running experiment (fp8_adam_moments, one long run): exit
#     130, where it stopped and how to resume; nothing recorded for the run;
#     --resume finishes it with the log of an uninterrupted run.
#  2. SIGTERM is handled the same way.
#  3. A second SIGINT while a checkpoint is being written waits for the write
#     to be committed, then the process exits 130 as after the first.
set -euo pipefail
repro=${1:?usage: test_experiment_signal.sh path/to/repro}
src=$(cd "$(dirname "$0")/../.." && pwd)
export REPRO_SOURCE_DIR=$src REPRO_THREADS=1 REPRO_PROGRESS=lines REPRO_GNUPLOT=true
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "test_experiment_signal: FAIL: $*" >&2; [ -f "$tmp/err" ] && tail -20 "$tmp/err" >&2; exit 1; }
cd "$src"
ARGS=(--preset smoke --formats fp32 --steps 1500 --eval_every 500)
log=m_fp32_v_fp32/log.tsv

# wait until FILE has more than N lines (or fail)
wait_lines() {
  for _ in $(seq 1 1200); do
    [ -f "$1" ] && [ "$(wc -l <"$1")" -gt "$2" ] && return 0
    sleep 0.05
  done
  fail "$1 never reached $2 lines"
}

for sig in INT TERM; do
  rc=0
  "$repro" experiments/fp8_adam_moments.lua "${ARGS[@]}" --out "$tmp/$sig" >"$tmp/out" 2>"$tmp/err" &
  pid=$!
  wait_lines "$tmp/$sig/$log" 20
  kill -$sig "$pid"
  wait "$pid" || rc=$?
  [ "$rc" = 130 ] || fail "SIG$sig: exit status $rc, expected 130"
  grep -q "^fp8_adam_moments: stopped by SIG$sig in run 1/1 m_fp32_v_fp32 at step [0-9]*/1500" "$tmp/err" || fail "SIG$sig: where it stopped"
  grep -q "^fp8_adam_moments: resume with: ./repro experiments/fp8_adam_moments.lua .* --resume\$" "$tmp/err" || fail "SIG$sig: resume command"
  [ ! -f "$tmp/$sig/m_fp32_v_fp32/result.txt" ] && [ ! -f "$tmp/$sig/results.txt" ] || fail "SIG$sig: the run was recorded"
  grep -qi diverged "$tmp/err" "$tmp/out" && fail "SIG$sig: 'diverged' printed"
done

# resume the SIGINT one; its log equals an uninterrupted run's (timing columns aside)
"$repro" experiments/fp8_adam_moments.lua "${ARGS[@]}" --out "$tmp/INT" --resume >"$tmp/out" 2>"$tmp/err" || fail "resume failed"
grep -q "run 1/1 m_fp32_v_fp32  step [0-9]*/1500" "$tmp/err" || fail "resume: no progress line"
"$repro" experiments/fp8_adam_moments.lua "${ARGS[@]}" --out "$tmp/ref" >"$tmp/out" 2>"$tmp/err" || fail "reference failed"
cmp -s <(cut -f1-5 "$tmp/ref/$log") <(cut -f1-5 "$tmp/INT/$log") || fail "resumed log differs from the uninterrupted one"
cmp -s "$tmp/ref/moments.tsv" "$tmp/INT/moments.tsv" || fail "moments.tsv differs"

# a second SIGINT during a checkpoint write waits for it
cat >"$tmp/slow.lua" <<'LUA'
local I = require "repro.train.interrupt"
local U = require "repro.util"
local dir = arg[1]
I.begin()
U.write_file(dir .. "/ready", "")
while not I.pending() do end
I.enter_exit()
I.critical(function()   -- what repro.train.checkpointer does around a write
  local f = assert(io.open(dir .. "/writing", "w")) f:close()
  local t = U.now()
  while U.now() - t < 1.5 do end
  U.write_file(dir .. "/committed", "")
end)
io.stderr:write("exiting after the write\n")
os.exit(130)
LUA
mkdir -p "$tmp/w"
"$repro" "$tmp/slow.lua" "$tmp/w" 2>"$tmp/err" &
pid=$!
for _ in $(seq 1 600); do [ -f "$tmp/w/ready" ] && break; sleep 0.05; done
kill -INT "$pid"
for _ in $(seq 1 600); do [ -f "$tmp/w/writing" ] && break; sleep 0.05; done
[ -f "$tmp/w/writing" ] || fail "the write never started"
kill -INT "$pid"
rc=0; wait "$pid" || rc=$?
[ "$rc" = 130 ] || fail "second SIGINT: exit status $rc"
[ -f "$tmp/w/committed" ] || fail "second SIGINT cut the write short"
grep -q "still writing the checkpoint" "$tmp/err" || fail "second SIGINT: no message"
grep -q "exiting after the write" "$tmp/err" || fail "second SIGINT: killed instead of the clean exit"
echo "test_experiment_signal: ok"
