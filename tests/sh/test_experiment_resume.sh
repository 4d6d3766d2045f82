#!/usr/bin/env bash
# Every experiment, smoke preset: SIGINT in the middle of a run (sent by the
# process to itself at a fixed step through REPRO_SELF_SIGNAL=RUN:STEP, so
# the test is deterministic) stops the whole experiment with status 130, says
# where it stopped and the exact command to resume, and records nothing for
# the stopped run (no result, no "diverged"). Running that command continues
# from the checkpoints: finished runs are skipped, and every TSV (run logs,
# tables, the figures' data) equals an uninterrupted run's, apart from timing
# columns.
set -euo pipefail
repro=${1:?usage: test_experiment_resume.sh path/to/repro}
src=$(cd "$(dirname "$0")/../.." && pwd)
# gnuplot is stubbed by `true`: the figures' data and scripts are written, nothing drawn
export REPRO_SOURCE_DIR=$src REPRO_THREADS=1 REPRO_PROGRESS=lines REPRO_GNUPLOT=true
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "test_experiment_resume: FAIL: $*" >&2; for f in "$tmp"/*.err; do [ -f "$f" ] && { echo "== $f" >&2; tail -20 "$f" >&2; }; done; exit 1; }
cd "$src"

# Compare every TSV under $1 with the same file under $2, without the columns
# that hold times (by header name) and without the figure data of timing plots.
compare() {
  local a=$1 b=$2 f cols n=0
  while IFS= read -r f; do
    case "$f" in
      ./timing.tsv|./efficiency.tsv|./figures/soap_lm_curves.tsv|./figures/soap_lm_efficiency.tsv) continue ;;
    esac
    [ -f "$b/$f" ] || fail "$f missing after resume"
    cols=$(head -1 "$a/$f" | tr '\t' '\n' |
           grep -nvE '^(step_time|tokens_per_s|train_seconds|ms_per_step|seconds)$' | cut -d: -f1 | paste -sd, -)
    cmp -s <(cut -f"$cols" "$a/$f") <(cut -f"$cols" "$b/$f") || fail "$f differs after resume: $(diff <(cut -f"$cols" "$a/$f") <(cut -f"$cols" "$b/$f") | head -5)"
    n=$((n + 1))
  done < <(cd "$a" && find . -name '*.tsv' | LC_ALL=C sort)
  [ "$n" -gt 0 ] || fail "no TSV compared under $a"
  echo "  $n TSV files identical"
}

# check NAME SCRIPT RUN:STEP STOPPED_RUN
check() {
  local name=$1 script=$2 at=$3 stopped=$4
  echo "$name: uninterrupted, interrupted at run:step $at, resumed"
  "$repro" "$script" --preset smoke --out "$tmp/$name.ref" >"$tmp/$name.ref.out" 2>"$tmp/$name.ref.err" \
    || fail "$name: the uninterrupted run failed"
  # the progress line: run i/N, the step, this run's and the whole experiment's ETA
  grep -qE "^(\[soap_lm\] )?run [0-9]+/[0-9]+ [a-z0-9_.]+  step [0-9]+/[0-9]+  .*  eta [0-9hms]+ \(experiment [0-9hms]+\)\$" \
    "$tmp/$name.ref.err" || fail "$name: no progress line with run i/N and the experiment's ETA"
  local rc=0
  REPRO_SELF_SIGNAL=$at "$repro" "$script" --preset smoke --out "$tmp/$name" >"$tmp/$name.out" 2>"$tmp/$name.err" || rc=$?
  [ "$rc" = 130 ] || fail "$name: exit status $rc after SIGINT, expected 130"
  grep -q "^$name: stopped by SIGINT in run ${at%%:*}/[0-9]* $stopped at step ${at##*:}/" "$tmp/$name.err" \
    || fail "$name: no 'stopped by SIGINT in run ... at step ...' line"
  grep -q "^$name: checkpoint written to $tmp/$name/checkpoint/$stopped\$" "$tmp/$name.err" || fail "$name: no checkpoint line"
  grep -qi "diverged" "$tmp/$name.err" && fail "$name: the interrupted run was called diverged"
  [ -d "$tmp/$name/checkpoint/$stopped" ] || fail "$name: no checkpoint folder"
  [ ! -f "$tmp/$name/results.txt" ] || fail "$name: results written although interrupted"
  [ ! -f "$tmp/$name/$stopped/result.txt" ] && [ ! -f "$tmp/$name/runs/$stopped.done" ] \
    || fail "$name: the stopped run was recorded as finished"
  local cmd
  cmd=$(sed -n "s/^$name: resume with: //p" "$tmp/$name.err")
  # run from the source folder: the command names its launcher, ./repro
  [ "$cmd" = "./repro $script --preset smoke --out $tmp/$name --resume" ] || fail "$name: resume command is '$cmd'"
  # run exactly the printed command, with the binary under test for ./repro
  eval "\"\$repro\" ${cmd#./repro }" >"$tmp/$name.res.out" 2>"$tmp/$name.res.err" || fail "$name: the resumed run failed"
  grep -q "finished earlier, reused" "$tmp/$name.res.err" || [ "${at%%:*}" = 1 ] || fail "$name: no finished run was skipped"
  grep -q "run ${at%%:*}/[0-9]* $stopped *step $(( ${at##*:} + 1 ))/" "$tmp/$name.res.err" \
    || fail "$name: the stopped run did not continue at step $(( ${at##*:} + 1 ))"
  compare "$tmp/$name.ref" "$tmp/$name"
}

check fp8_adam_moments experiments/fp8_adam_moments.lua 2:3 m_fp32_v_e4m3fn
check fp8_instability experiments/fp8_instability.lua 2:5 fp8_swiglu.s1
check fp8_mechanism experiments/fp8_mechanism.lua 2:7 wd
check soap_lm experiments/soap_lm.lua 3:3 soap_lr0.003_f10
echo "test_experiment_resume: ok"
