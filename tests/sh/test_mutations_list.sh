#!/usr/bin/env bash
# Every mutation in tools/mutations.txt must still apply to the tree exactly
# once: a refactor that moves the code a mutation targets must move the
# mutation with it, or the mutation score silently stops measuring that bug.
set -euo pipefail
ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)
out=$("$ROOT/tools/mutate" --check 2>&1) || { echo "$out" >&2; exit 1; }
echo "$out"
case "$out" in *"mutations apply exactly once"*) ;; *) echo "unexpected output" >&2; exit 1 ;; esac
