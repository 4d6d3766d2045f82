#!/usr/bin/env bash
# bench/dist.sh [PAIRS]: data parallelism on this machine (Open MPI).
#  1. training samples/s, 2 processes x 1 thread against 1 process x 2 threads
#     (the same computation: micro_batches = 2 in both), interleaved A B A B;
#  2. the kit's bucketed all-gather + fold against MPI_Allreduce of the same
#     floats (bench/dist_comm.lua), 2 processes.
# Prints medians and min-max of the per-pair ratios. Needs mpirun and a repro
# built with MPI. On a shared machine, repeat: the load moves the numbers.
set -euo pipefail
src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
repro="${REPRO_BINARY:-$src/build/repro}"
pairs="${1:-5}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mp() { REPRO_THREADS=1 mpirun --allow-run-as-root --oversubscribe -np 2 "$repro" "$@"; }
cd "$src"
ratios=() a_all=() b_all=()
for i in $(seq 1 "$pairs"); do
  a=$(REPRO_THREADS=2 "$repro" bench/dist_train.lua 8 2 | cut -f1)
  b=$(mp bench/dist_train.lua 8 2 2>/dev/null | cut -f1)
  a_all+=("$a"); b_all+=("$b")
  ratios+=("$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", b / a }')")
done
med() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { printf "%s (min %s, max %s)", v[int((NR + 1) / 2)], v[1], v[NR] }'; }
echo "# bench/dist.sh: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores"
echo "train samples/s, 1 process x 2 threads: $(med "${a_all[@]}")"
echo "train samples/s, 2 processes x 1 thread: $(med "${b_all[@]}")"
echo "ratio 2 processes / 1 process (per pair, $pairs pairs): $(med "${ratios[@]}")"
echo "reduction vs MPI_Allreduce, 2 processes (ratio = allreduce time / kit time; 1 = same bandwidth):"
mp bench/dist_comm.lua 7 2>/dev/null
