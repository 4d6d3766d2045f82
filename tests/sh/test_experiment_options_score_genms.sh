#!/usr/bin/env bash
# experiments/score.lua and experiments/genms.lua check their options before
# any work (as tests/sh/test_experiment_options.sh checks the other scripts):
# each class of bad value exits with status 2 and ONE line on stderr naming
# the option, the value and what is valid; no traceback; nothing written.
# --help says what each reproduces, each preset's time and one line per
# option. SIGINT (REPRO_SELF_SIGNAL) in a run stops the whole experiment with
# status 130 and the resume command.
set -euo pipefail
repro=${1:?usage: test_experiment_options_score_genms.sh path/to/repro}
NAME=test_experiment_options_score_genms
source "$(dirname "$0")/experiment_options_lib.sh"

for s in score genms; do
  bad $s "$s: invalid --seed '-1': expected an integer >= 0" --seed -1
  bad $s "$s: invalid --preset 'huge': expected one of " --preset huge
  bad $s "$s: unknown flag '--nope' (valid: " --nope 1
  bad $s "$s: unexpected argument 'stray'" stray
done
# counts, probabilities, learning rates, lists element by element, booleans, relations
bad score "score: invalid --pre_steps '0': expected an integer >= 1" --pre_steps 0
bad score "score: invalid --test '-2': expected an integer >= 1" --test -2
bad score "score: invalid --prompts 'many': expected an integer >= 1" --prompts many
bad score "score: invalid --k '1': expected an integer >= 2" --k 1
bad score "score: invalid --stage2_steps '-1': expected an integer >= 0" --stage2_steps -1
bad score "score: invalid --p9 '1.5': expected a number >= 0 and <= 1" --p9 1.5
bad score "score: invalid --solver_copy '-0.1': expected a number >= 0 and <= 1" --solver_copy -0.1
bad score "score: invalid --lr '0': expected a number > 0" --lr 0
bad score "score: invalid --sft_lr '-3e-4': expected a number > 0" --sft_lr -3e-4
bad score "score: invalid --lr_grid '1e-4,x' (element 2 'x'): expected a comma list of numbers > 0" --lr_grid 1e-4,x
bad score "score: invalid --p9_grid '0.2,-1' (element 2 '-1'): expected a comma list of numbers >= 0 and <= 1" --p9_grid 0.2,-1
bad score "score: invalid --calibrate 'maybe': expected true or false" --calibrate maybe
bad score "score: invalid --heads 3: expected a divisor of --dim 64" --heads 3
bad score "score: invalid --seeds '0': expected an integer >= 1" --seeds 0
bad score "score: invalid --base_from '$tmp/none.safetensors': no such file" --base_from "$tmp/none.safetensors"
bad genms "genms: invalid --H_max '0': expected an integer >= 1" --H_max 0
bad genms "genms: invalid --requests_per_family '0': expected an integer >= 1" --requests_per_family 0
bad genms "genms: invalid --gnn.steps '2.5': expected an integer >= 1" --gnn.steps 2.5
bad genms "genms: invalid --gnn.lr '-1': expected a number > 0" --gnn.lr -1
bad genms "genms: invalid --compact.ema '1': expected a number >= 0 and < 1" --compact.ema 1
bad genms "genms: invalid --gen_temperature '0': expected a number > 0" --gen_temperature 0
bad genms "genms: invalid --seeds '1,x' (element 2 'x'): expected a comma list of integers >= 0" --seeds 1,x
bad genms "genms: invalid --cif.shots '0,-1' (element 2 '-1'): expected a comma list of integers >= 0" --cif.shots 0,-1
bad genms "genms: invalid --families 'oxide,nope' (element 2 'nope'): expected a comma list of oxide, oxynitride," --families oxide,nope
bad genms "genms: invalid --grid_H '1,50' (element 2 '50'): expected integers <= --H_max 25" --grid_H 1,50
bad genms "genms: invalid --grid_L '1,5' (element 2 '5'): expected integers <= --L_max 2" --preset smoke --grid_L 1,5
bad genms "genms: invalid --hi.heads 3: expected a divisor of --hi.dim 64" --hi.heads 3

# --help: what it reproduces, the presets' times, one line per option
for s in score genms; do
  "$repro" "$src/experiments/$s.lua" --help >"$tmp/help" 2>"$tmp/err" || fail "$s --help failed"
  grep -q "^Reproduces " "$tmp/help" || fail "$s --help: no 'Reproduces ...'"
  grep -qE "^  smoke +about [0-9]+ s" "$tmp/help" || fail "$s --help: no smoke preset with its time"
  grep -qE "^  fast \(default\) +about " "$tmp/help" || fail "$s --help: no fast preset with its time"
  grep -qE "^  paper +(hours|about )" "$tmp/help" || fail "$s --help: no paper preset"
  for opt in preset seed out resume force help; do
    [ "$(grep -cE "^  --$opt( |$)" "$tmp/help")" = 1 ] || fail "$s --help: not one line for --$opt"
  done
  # every option has a help text and a range: "--KEY  TEXT; an integer ..." (no empty help)
  grep -E "^  --[A-Za-z_.0-9]+ +; " "$tmp/help" && fail "$s --help: an option without help text"
  [ -z "$(ls -A "$tmp/cwd")" ] || fail "$s --help wrote something"
  n=$((n + 1))
done

# SIGINT in a run: the whole experiment stops, exit 130, the resume command
for case in "score 6:1 stage1 at step 1/2" "genms 2:2 compact_seed1 at step 2/4"; do
  set -- $case
  s=$1; at=$2; shift 2
  rc=0
  REPRO_SELF_SIGNAL=$at "$repro" "$src/experiments/$s.lua" --preset smoke --out "$tmp/int_$s" >/dev/null 2>"$tmp/err" || rc=$?
  [ "$rc" = 130 ] || fail "$s SIGINT: exit status $rc, expected 130"
  grep -qF "$s: stopped by SIGINT in run ${at%%:*}/" "$tmp/err" || fail "$s SIGINT: where it stopped"
  grep -qF "$*" "$tmp/err" || fail "$s SIGINT: lacks '$*'"
  grep -qF -- "--preset smoke --out $tmp/int_$s --resume" "$tmp/err" || fail "$s SIGINT: no resume command"
  [ ! -e "$tmp/int_$s/results.txt" ] || fail "$s SIGINT: results recorded"
  n=$((n + 1))
done
# genms --resume: seeds finished before the interruption are read back, the
# stopped seed runs again; every table equals an uninterrupted run's (times aside)
g="$src/experiments/genms.lua"
"$repro" "$g" --preset smoke --seeds 1,2 --out "$tmp/full" >/dev/null 2>&1 || fail "genms seeds 1,2"
rc=0
REPRO_SELF_SIGNAL=9:1 "$repro" "$g" --preset smoke --seeds 1,2 --out "$tmp/res" >/dev/null 2>"$tmp/err" || rc=$?
[ "$rc" = 130 ] || fail "genms SIGINT in seed 2: exit status $rc, expected 130"
"$repro" "$g" --preset smoke --seeds 1,2 --out "$tmp/res" --resume >/dev/null 2>"$tmp/err" || fail "genms --resume"
grep -qF "run 6/12 evaluation_seed1: finished earlier, reused" "$tmp/err" || fail "genms --resume: seed 1 not reused"
grep -qE "^run 7/12 gnn_seed2 +step" "$tmp/err" || fail "genms --resume: seed 2 not run"
for f in table1.tsv table2.tsv table3.tsv table4.tsv fig4.tsv plans.tsv requests.tsv; do
  cmp -s "$tmp/full/$f" "$tmp/res/$f" || fail "genms --resume: $f differs from the uninterrupted run"
done
grep -v "wall-clock" "$tmp/full/results.md" >"$tmp/a"; grep -v "wall-clock" "$tmp/res/results.md" >"$tmp/b"
cmp -s "$tmp/a" "$tmp/b" || fail "genms --resume: results.md differs"
n=$((n + 1))
# score --resume: arms finished before the interruption are read back (results
# and model), the stopped arm runs again; every output equals an uninterrupted run's
e="$src/experiments/score.lua"
a=(--preset smoke --pre_steps 150 --pre_lr 1e-2 --stage1_steps 5 --stage2_steps 5 --sft_steps 5 --lr 1e-3)
"$repro" "$e" "${a[@]}" --out "$tmp/sfull" >/dev/null 2>&1 || fail "score run"
rc=0
REPRO_SELF_SIGNAL=8:3 "$repro" "$e" "${a[@]}" --out "$tmp/sres" >/dev/null 2>"$tmp/err" || rc=$?
[ "$rc" = 130 ] || fail "score SIGINT in run 8: exit status $rc, expected 130"
"$repro" "$e" "${a[@]}" --out "$tmp/sres" --resume >/dev/null 2>"$tmp/err" || fail "score --resume"
grep -qF "run 7/13 std: finished earlier, reused" "$tmp/err" || fail "score --resume: std not reused"
grep -qE "^run 8/13 score +step" "$tmp/err" || fail "score --resume: the stopped arm did not run"
for f in "$tmp"/sfull/*.tsv "$tmp"/sfull/figures/*.tsv; do
  r=${f/#$tmp\/sfull/$tmp/sres}
  cmp -s "$f" "$r" || fail "score --resume: ${f#$tmp/sfull/} differs from the uninterrupted run"
done
grep -v -e "Wall-clock" -e "git [0-9a-f]\{7\}" "$tmp/sfull/results.md" >"$tmp/a"
grep -v -e "Wall-clock" -e "git [0-9a-f]\{7\}" "$tmp/sres/results.md" >"$tmp/b"
cmp -s "$tmp/a" "$tmp/b" || fail "score --resume: results.md differs"
n=$((n + 1))
echo "test_experiment_options_score_genms: $n checks passed"
