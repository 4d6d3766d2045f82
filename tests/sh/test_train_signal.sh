#!/usr/bin/env bash
# repro.train under SIGINT: the current step finishes, a checkpoint is
# written, the run prints how to resume and exits 130; resuming it gives
# exactly the losses and weights of an uninterrupted run.
set -euo pipefail
repro=${1:?usage: test_train_signal.sh path/to/repro}
export REPRO_SOURCE_DIR=${REPRO_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "test_train_signal: FAIL: $*" >&2; [ -f "$tmp/err" ] && cat "$tmp/err" >&2; exit 1; }

cat >"$tmp/run.lua" <<'LUA'
-- run.lua DIR [--resume]: a tiny model trains 3000 steps, checkpointing into
-- DIR/ck; it writes DIR/ready after step 3 and DIR/result when done.
local repro = require "repro"
local U = require "repro.util"
local dir, resume = arg[1], arg[2] == "--resume"
repro.manual_seed(5)
local L = repro.data.shakespeare{ seq_len = 16, batch = 2, seed = 5, max_chars = 20000 }
local m = repro.nn.Llama{ vocab = L.vocab_size, dim = 16, layers = 1, heads = 2, seq_len = 16, seed = 5 }
local opt = repro.optim.adamw(m:parameters(), { lr = 1e-3 })
local r = repro.train{ model = m, optimizer = opt, data = L, steps = 3000, quiet = true,
  checkpoint = dir .. "/ck", checkpoint_every = 1000, resume = resume,
  on_step = function(step) if step == 3 then U.write_file(dir .. "/ready", "") end end }
local out = {}
for _, p in ipairs(m:parameters()) do out[#out + 1] = require("repro.core").io.fnv1a64(p) end
U.write_file(dir .. "/result", string.format("%.17g %s\n", r.final_train_loss, table.concat(out, " ")))
LUA

# the uninterrupted reference
mkdir -p "$tmp/ref"
"$repro" "$tmp/run.lua" "$tmp/ref" 2>"$tmp/err" || fail "reference run failed"

# interrupted, then resumed
mkdir -p "$tmp/a"
"$repro" "$tmp/run.lua" "$tmp/a" 2>"$tmp/err" &
pid=$!
for _ in $(seq 1 1200); do [ -f "$tmp/a/ready" ] && break; sleep 0.05; done
[ -f "$tmp/a/ready" ] || fail "the run never reached step 3"
kill -INT "$pid"
rc=0; wait "$pid" || rc=$?
[ "$rc" = 130 ] || fail "expected exit status 130 after SIGINT, got $rc"
[ ! -f "$tmp/a/result" ] || fail "the run finished before the signal arrived (make it longer)"
grep -q "SIGINT at step [0-9]*/3000: checkpoint written to $tmp/a/ck" "$tmp/err" || fail "no checkpoint message"
grep -q "resume with: repro .*run.lua.* --resume" "$tmp/err" || fail "no resume command"
"$repro" "$tmp/run.lua" "$tmp/a" --resume 2>"$tmp/err" || fail "resumed run failed"
cmp "$tmp/ref/result" "$tmp/a/result" || fail "resumed run differs from the uninterrupted one"
echo "test_train_signal: 1 passed, 0 failed"
