# Sourced by tests/sh/test_dist_*.sh: skip (77) without MPI, mpirun helpers.
repro=$(readlink -f "${1:?usage: test_dist_NAME.sh path/to/repro}")
export REPRO_SOURCE_DIR=${REPRO_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
src=$REPRO_SOURCE_DIR
if ! command -v mpirun >/dev/null 2>&1; then echo "$name: SKIP: no mpirun (Debian: openmpi-bin)"; exit 77; fi
if ! "$repro" -e 'os.exit(repro.dist.available() and 0 or 1)' >/dev/null 2>&1; then
  echo "$name: SKIP: repro built without MPI (Debian: libopenmpi-dev)"; exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export TMPDIR=$tmp   # ranks > 0 keep their private folders here
# root in a container: Open MPI wants both variables
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# no tuning of shared memory or network: a plain 2-process job on this machine
export OMPI_MCA_rmaps_base_oversubscribe=1
fail() { echo "$name: FAIL: $*" >&2; for f in "$tmp"/*.err; do [ -f "$f" ] && { echo "--- $f" >&2; tail -20 "$f" >&2; }; done; exit 1; }
# mpirun2 ARGS...: 2 ranks, one thread each, never longer than 120 s. Under
# AddressSanitizer the ranks skip leak checking: Open MPI's plugins keep
# allocations until exit (reported from unnamed, unloaded modules, so no
# suppression can name them); every other check stays on, and the same code
# on one process (collectives as copies) runs with leak checking.
mpirun2() {
  ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" REPRO_THREADS=1 \
    timeout -k 5 120 mpirun --allow-run-as-root --oversubscribe -np 2 "$repro" "$@"
}
