#!/usr/bin/env bash
# bench/dist.sh [PAIRS]: data parallelism on this machine (Open MPI), 2 processes.
#  1. training samples/s, 2 processes x 1 thread against 1 process x 2 threads
#     (the same computation, micro_batches = 2 in both, the same final loss),
#     interleaved A B A B; and the share of the 2-process step spent in the
#     gradient exchange (bench/dist_train.lua);
#  2. the kit's gradient exchange (reduce-scatter + all-gather, fixed order)
#     and the all-gather reference against MPI_Allreduce of the same floats,
#     interleaved rounds (bench/dist_comm.lua);
#  3. whether an exchange overlaps with computation here (bench/dist_overlap.c,
#     built with mpicc when present).
# Prints medians and min-max of the per-pair ratios, then one "row" line per
# headline number (tab-separated: row, name, ratio, detail) for bench/run.
# Needs mpirun and a repro built with MPI. On a shared machine, repeat: the
# load moves the numbers.
set -euo pipefail
src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
repro="${REPRO_BINARY:-$src/build/repro}"
pairs="${1:-5}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mp() { REPRO_THREADS=1 mpirun --allow-run-as-root --oversubscribe -np 2 "$@"; }
if ! command -v mpirun >/dev/null 2>&1 || ! "$repro" -e 'os.exit(repro.dist.available() and 0 or 1)' >/dev/null 2>&1; then
  echo "bench/dist.sh: needs mpirun and a repro built with MPI (./repro --with-mpi)" >&2
  exit 77
fi
cd "$src"
tmp="$(mktemp -d)"
trap 'rm -rf -- "$tmp"' EXIT
ratios=() a_all=() b_all=() share=()
for i in $(seq 1 "$pairs"); do
  a=$(REPRO_THREADS=2 "$repro" bench/dist_train.lua 8 2)
  b=$(mp "$repro" bench/dist_train.lua 8 2 2>/dev/null)
  [ "$(cut -f2 <<<"$a")" = "$(cut -f2 <<<"$b")" ] || { echo "bench/dist.sh: 1 and 2 processes gave other losses: $a / $b" >&2; exit 1; }
  a_all+=("$(cut -f1 <<<"$a")"); b_all+=("$(cut -f1 <<<"$b")"); share+=("$(cut -f3 <<<"$b")")
  ratios+=("$(awk -v a="${a_all[-1]}" -v b="${b_all[-1]}" 'BEGIN { printf "%.3f", b / a }')")
done
med() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { printf "%s (min %s, max %s)", v[int((NR + 1) / 2)], v[1], v[NR] }'; }
load() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?"; }
echo "# bench/dist.sh: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load average $(load), revision $(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "train samples/s, 1 process x 2 threads: $(med "${a_all[@]}")"
echo "train samples/s, 2 processes x 1 thread: $(med "${b_all[@]}")"
echo "ratio 2 processes / 1 process (per pair, $pairs pairs): $(med "${ratios[@]}")"
echo "share of the 2-process step in the gradient exchange: $(med "${share[@]}")"
echo "gradient exchange vs MPI_Allreduce, 2 processes (ratio = MPI_Allreduce time / kit time; 1 = the same bandwidth):"
mp "$repro" bench/dist_comm.lua $((pairs * 3)) 2>/dev/null | tee "$tmp/comm.tsv"
if command -v mpicc >/dev/null 2>&1 && mpicc -O2 -o "$tmp/overlap" bench/dist_overlap.c 2>/dev/null; then
  echo "overlap of the exchange with computation (hidden_share: 1 = fully hidden, 0 = no gain):"
  mp "$tmp/overlap" $((pairs * 2 - 1)) 2>/dev/null | tee "$tmp/ovl.tsv"
fi
echo "load average after: $(load)"
r=$(printf '%s\n' "${ratios[@]}" | sort -g | awk '{ v[NR] = $1 } END { printf "%s\t%s-%s", v[int((NR + 1) / 2)], v[1], v[NR] }')
printf 'row\tdist train 2 procs x 1 thr / 1 proc x 2 thr\t%s\n' "$r"
awk -F'\t' 'NR > 1 && $1 == 4194304 { printf "row\tdist exchange 16 MB vs MPI_Allreduce\t%s\t%s-%s\n", $5, $6, $7 }' "$tmp/comm.tsv"
