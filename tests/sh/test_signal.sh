#!/usr/bin/env bash
# Interrupted runs: a child repro runs a small deterministic "training" loop
# that polls repro.core.signal after each step.
#  1. one SIGINT: the step finishes, a checkpoint is written atomically, the
#     run exits 130 with a message saying how to resume, and the checkpoint
#     resumes bit-identically (same state as an uninterrupted run at that step);
#  2. a second SIGINT while the run ignores the first: it dies at once (killed
#     by SIGINT) and the checkpoints it was writing are still loadable.
set -euo pipefail
repro=${1:?usage: test_signal.sh path/to/repro}
export REPRO_SOURCE_DIR=${REPRO_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "test_signal: FAIL: $*" >&2; [ -f "$tmp/err" ] && cat "$tmp/err" >&2; exit 1; }

cat >"$tmp/run.lua" <<'LUA'
-- run.lua DIR MODE: MODE "train" stops cleanly on a signal; "stubborn"
-- ignores the first signal and checkpoints every step; "verify" loads the
-- checkpoint and compares it with a fresh computation of the same steps.
local T = require "repro.tensor"
local C = require "repro.checkpoint"
local core = require "repro.core"
local sig, cio = core.signal, core.io
local dir, mode = arg[1], arg[2]
local function step_fn(x, k) return (x * 0.999):add(T.full({ 64 }, math.sin(k))):tanh() end
if mode == "verify" then
  local st = assert(C.load_state(dir), "no checkpoint")
  local x = T.ones { 64 }
  for k = 1, st.step do x = step_fn(x, k) end
  assert(cio.fnv1a64(x) == cio.fnv1a64(st.x), "resumed state differs from step " .. st.step)
  print("verified step " .. st.step)
  return
end
sig.install()
local x, k = T.ones { 64 }, 0
local warned = false
while true do
  k = k + 1
  x = step_fn(x, k)
  if mode == "stubborn" then C.save_state(dir, { step = k, x = x }, { keep = 2 }) end
  if k == 3 then local f = io.open(dir .. "/ready", "w") f:close() end
  local s = sig.pending()
  if s and mode == "train" then
    C.save_state(dir, { step = k, x = x })
    io.stderr:write(string.format("interrupted by %s after step %d: checkpoint written to %s; resume with: repro run.lua %s train\n", s, k, dir, dir))
    os.exit(130)
  elseif s and not warned then
    io.stderr:write("got " .. s .. ", finishing (a second signal stops at once)\n")
    warned = true
  end
end
LUA

wait_ready() {
  for _ in $(seq 1 600); do [ -f "$1/ready" ] && return 0; sleep 0.05; done
  fail "child never became ready"
}

# 1. one SIGINT: clean stop with a checkpoint, then resume bit-identically
mkdir -p "$tmp/a"
"$repro" "$tmp/run.lua" "$tmp/a" train 2>"$tmp/err" &
pid=$!
wait_ready "$tmp/a"
kill -INT "$pid"
rc=0; wait "$pid" || rc=$?
[ "$rc" = 130 ] || fail "expected exit status 130 after one SIGINT, got $rc"
grep -q "interrupted by SIGINT after step [0-9]*: checkpoint written to $tmp/a; resume with: " "$tmp/err" \
  || fail "no resume message"
"$repro" "$tmp/run.lua" "$tmp/a" verify >"$tmp/out" 2>"$tmp/err" || fail "verify failed"
grep -q "verified step" "$tmp/out" || fail "verify printed nothing"

# SIGTERM is caught the same way
mkdir -p "$tmp/t"
"$repro" "$tmp/run.lua" "$tmp/t" train 2>"$tmp/err" &
pid=$!
wait_ready "$tmp/t"
kill -TERM "$pid"
rc=0; wait "$pid" || rc=$?
[ "$rc" = 130 ] || fail "expected exit status 130 after SIGTERM, got $rc"
grep -q "interrupted by SIGTERM" "$tmp/err" || fail "no SIGTERM message"

# 2. a second SIGINT kills at once, and nothing is corrupted
mkdir -p "$tmp/b"
"$repro" "$tmp/run.lua" "$tmp/b" stubborn 2>"$tmp/err" &
pid=$!
wait_ready "$tmp/b"
kill -INT "$pid"
for _ in $(seq 1 200); do grep -q "got SIGINT" "$tmp/err" && break; sleep 0.05; done
grep -q "got SIGINT" "$tmp/err" || fail "first SIGINT not seen"
kill -INT "$pid"
rc=0; wait "$pid" || rc=$?
[ "$rc" = 130 ] || fail "expected death by SIGINT (status 130) after the second signal, got $rc"
if grep -q "interrupted by" "$tmp/err"; then fail "the second signal did not stop at once"; fi
"$repro" "$tmp/run.lua" "$tmp/b" verify >"$tmp/out" 2>"$tmp/err" || fail "checkpoint unusable after a hard stop"
echo "test_signal: ok"
