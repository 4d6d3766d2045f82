#!/usr/bin/env bash
# Every experiment checks its options before any work: each class of bad value
# (a number out of range, a wrong type, a bad list element, an unknown name in
# an enumeration, an unknown flag, a missing value, a folder of another
# configuration) exits with status 2 and ONE line on stderr naming the option,
# the value and what is valid; no traceback; nothing written. --help says what
# the experiment reproduces, each preset's time on 2 cores and one line per
# option. A failure inside the experiment is one line too (a traceback only
# with REPRO_DEBUG=1).
set -euo pipefail
repro=${1:?usage: test_experiment_options.sh path/to/repro}
NAME=test_experiment_options
source "$(dirname "$0")/experiment_options_lib.sh"

for s in fp8_instability fp8_mechanism fp8_adam_moments soap_lm; do
  bad $s "$s: invalid --steps '-5': expected an integer >= " --steps -5
  bad $s "$s: invalid --steps '0'" --steps 0
  bad $s "$s: invalid --steps 'ten': expected an integer" --steps ten
  bad $s "$s: invalid --steps '2.5'" --steps 2.5
  bad $s "$s: invalid --seed '-1': expected an integer >= 0" --seed -1
  bad $s "$s: invalid --preset 'huge': expected one of " --preset huge
  bad $s "$s: unknown flag '--nope' (valid: " --nope 1
  bad $s "$s: unexpected argument 'stray'" stray
  bad $s "$s: --steps needs a value" --steps
done
for s in fp8_instability fp8_mechanism fp8_adam_moments; do
  bad $s "$s: invalid --lr '0': expected a number > 0" --lr 0
  bad $s "$s: invalid --lr '-1e-3': expected a number > 0" --lr -1e-3
  bad $s "$s: invalid --lr 'fast': expected a number > 0" --lr fast
done
bad fp8_instability "invalid --runs 'bf16,nope' (element 2 'nope'): expected a comma list of bf16, fp8_swiglu," --runs bf16,nope
bad fp8_instability "invalid --align_run 'x': expected one of bf16," --align_run x
bad fp8_instability "invalid --saturate 'maybe': expected true or false" --saturate maybe
bad fp8_instability "invalid --margin '-1': expected an integer >= 0 and <= 30" --margin -1
bad fp8_instability "invalid --heads 3: expected a divisor of --dim 64" --heads 3
bad fp8_adam_moments "invalid --formats 'fp32,e3m4' (element 2 'e3m4'): expected a comma list of fp32, e4m3fn, e5m2" --formats fp32,e3m4
bad fp8_adam_moments "invalid --beta2 '1': expected a number >= 0 and < 1" --beta2 1
bad fp8_mechanism "invalid --probe '1': expected an integer >= 2" --probe 1
bad soap_lm "invalid --lrs.soap '0.1,x' (element 2 'x'): expected a comma list of numbers > 0" --preset smoke --lrs.soap 0.1,x
bad soap_lm "invalid --lrs.adamw '0.1,0' (element 2 '0')" --lrs.adamw 0.1,0
bad soap_lm "invalid --freqs '1,0' (element 2 '0'): expected a comma list of integers >= 1" --freqs 1,0
bad soap_lm "invalid --efficiency 'guess': expected one of interp, fit" --efficiency guess
bad soap_lm "invalid --betas '0.9': expected two numbers beta1,beta2" --betas 0.9
bad soap_lm "invalid --steps '1': expected an integer >= 2" --steps 1

# a folder that holds another configuration: refused in one line, left as it was
"$repro" "$src/experiments/fp8_mechanism.lua" --preset smoke --steps 2 --out "$tmp/held" >/dev/null 2>&1 || fail "small run"
cp "$tmp/held/config.txt" "$tmp/config.before"
rc=0
"$repro" "$src/experiments/fp8_mechanism.lua" --preset smoke --steps 3 --out "$tmp/held" >"$tmp/out" 2>"$tmp/err" || rc=$?
[ "$rc" = 2 ] || fail "another configuration: exit status $rc, expected 2"
[ "$(wc -l <"$tmp/err")" = 1 ] && grep -qF "refusing to write into '$tmp/held': it holds a run with steps=2 (now 3)" "$tmp/err" \
  || fail "another configuration: message"
cmp -s "$tmp/config.before" "$tmp/held/config.txt" || fail "the folder was changed"
n=$((n + 1))

# --help: what it reproduces, the presets' times, one line per option
for s in fp8_instability fp8_mechanism fp8_adam_moments soap_lm; do
  "$repro" "$src/experiments/$s.lua" --help >"$tmp/help" 2>"$tmp/err" || fail "$s --help failed"
  grep -q "^Reproduces " "$tmp/help" || fail "$s --help: no 'Reproduces ...'"
  grep -qE "^  smoke +about [0-9]+ s" "$tmp/help" || fail "$s --help: no smoke preset with its time"
  grep -qE "^  fast \(default\) +about " "$tmp/help" || fail "$s --help: no fast preset with its time"
  grep -qE "^  paper +" "$tmp/help" || fail "$s --help: no paper preset"
  for opt in steps preset seed out resume force help; do
    [ "$(grep -cE "^  --$opt( |$)" "$tmp/help")" = 1 ] || fail "$s --help: not one line for --$opt"
  done
  [ -z "$(ls -A "$tmp/cwd")" ] || fail "$s --help wrote something"
  n=$((n + 1))
done

# a failure inside the experiment: one line, exit 1; the traceback with REPRO_DEBUG=1
rc=0
"$repro" "$src/experiments/fp8_mechanism.lua" --preset smoke --out "$tmp/d" --figdir /dev/null/x >/dev/null 2>"$tmp/err" || rc=$?
[ "$rc" = 1 ] || fail "inner failure: exit status $rc, expected 1"
grep -q "^fp8_mechanism: .*cannot create directory '/dev/null/x'" "$tmp/err" || fail "inner failure: message"
grep -q "traceback" "$tmp/err" && fail "inner failure: a traceback without REPRO_DEBUG"
rc=0
REPRO_DEBUG=1 "$repro" "$src/experiments/fp8_mechanism.lua" --preset smoke --out "$tmp/d" --figdir /dev/null/x >/dev/null 2>"$tmp/err" || rc=$?
[ "$rc" = 1 ] && grep -q "stack traceback" "$tmp/err" || fail "REPRO_DEBUG=1: no traceback"
echo "test_experiment_options: $n checks passed"
