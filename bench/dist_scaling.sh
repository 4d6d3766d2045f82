#!/usr/bin/env bash
# bench/dist_scaling.sh [ROUNDS]: the measured parts of docs/scaling.md's
# step-cost model (soap_lm's smoke, fast and paper models: compute of a
# micro-batch at B, B/2, B/4, B/8 and the optimizer step on one thread; the
# gradient exchange of each model's P floats on 2 processes against
# MPI_Allreduce), then the model's tables in markdown. Needs mpirun for the
# exchange rows (skipped without). Timings move with the machine's load.
set -euo pipefail
src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
repro="${REPRO_BINARY:-$src/build/repro}"
rounds="${1:-3}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 REPRO_SOURCE_DIR="$src"
cd "$src"
tmp="$(mktemp -d)"
trap 'rm -rf -- "$tmp"' EXIT
load() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?"; }
echo "# bench/dist_scaling.sh: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load average $(load), revision $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
for p in smoke fast paper; do "$repro" bench/dist_scaling.lua compute "$p" "$rounds" | tee -a "$tmp/rows.tsv"; done
if command -v mpirun >/dev/null 2>&1 && "$repro" -e 'os.exit(repro.dist.available() and 0 or 1)' >/dev/null 2>&1; then
  for P in $(awk -F'\t' '$1 == "compute" { print $3 }' "$tmp/rows.tsv" | sort -un); do
    REPRO_THREADS=1 mpirun --allow-run-as-root --oversubscribe -np 2 "$repro" bench/dist_scaling.lua exchange "$P" $((rounds * 3)) \
      2>/dev/null | tee -a "$tmp/rows.tsv"
  done
fi
echo "# load average after: $(load)"
"$repro" bench/dist_scaling.lua model "$tmp/rows.tsv"
