#!/usr/bin/env bash
# bench/crystal_match.sh [PAIRS=5] [REPS=3]: crystal.match against pymatgen
# 2022.11.7's StructureMatcher.get_rms_dist (Debian python3-pymatgen, run by
# /usr/bin/python3) on the same 72 structure pairs, interleaved A B A B,
# CPU seconds per match of the loop only; prints each pair's ratio and the
# median and range. Needs the repro build and python3-pymatgen.
set -euo pipefail
src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
repro="${REPRO_BINARY:-$src/build/repro}"
n=${1:-5} reps=${2:-3}
tmp="$(mktemp -d)"
trap 'rm -rf -- "$tmp"' EXIT
export REPRO_SOURCE_DIR="$src" REPRO_THREADS=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
"$repro" "$src/bench/crystal_match.lua" --dump "$tmp/pairs.json"
ratios=()
for i in $(seq "$n"); do
  a=$("$repro" "$src/bench/crystal_match.lua" "$reps")
  b=$(/usr/bin/python3 "$src/bench/crystal_match_pymatgen.py" "$tmp/pairs.json" "$reps")
  ta=$(echo "$a" | awk '{print $2}') tb=$(echo "$b" | awk '{print $2}')
  r=$(awk -v a="$ta" -v b="$tb" 'BEGIN { printf "%.1f", b / a }')
  echo "pair $i: $a | $b | pymatgen/repro $r"
  ratios+=("$r")
done
printf '%s\n' "${ratios[@]}" | sort -g | awk '{ v[NR] = $1 } END {
  m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
  printf "crystal.match is %.1fx faster than pymatgen (median of %d pairs, range %.1f-%.1f)\n", m, NR, v[1], v[NR] }'
