#!/usr/bin/env bash
# The Fortran example of libdrover-checkpoint (examples/checkpoint_fortran), run twice on a
# fresh checkpoint directory, as a job and its requeued attempt would be: the first run
# starts from scratch and commits step 10; the second finds it, checks every value it reads
# back and commits step 20.
#   checkpoint_fortran_twice.sh BINARY RANKS      (RANKS > 1: under mpirun)
set -euo pipefail
bin=$1
ranks=${2:-1}
dir=$(mktemp -d "${TMPDIR:-/tmp}/drover-ckpt-fortran-XXXXXX")
trap 'rm -rf "$dir"' EXIT
export DROVER_CHECKPOINT_DIR=$dir/checkpoints

run() {
  if (( ranks > 1 )); then
    OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun --oversubscribe -np "$ranks" "$bin"
  else
    "$bin"
  fi
}
expect() {  # expect OUTPUT TEXT COUNT
  local n
  n=$(grep -cF -- "$2" <<<"$1" || true)
  if (( n != $3 )); then
    printf 'expected %s line(s) with "%s", got %s; output:\n%s\n' "$3" "$2" "$n" "$1" >&2
    exit 1
  fi
}

first=$(run 2>&1) || { printf 'first run failed:\n%s\n' "$first" >&2; exit 1; }
expect "$first" "no checkpoint: starting at step 0" 1
expect "$first" "committed step 10" 1
[[ -f $DROVER_CHECKPOINT_DIR/ckpt-000000000010/manifest.json ]] || { echo "no ckpt-000000000010" >&2; exit 1; }

second=$(run 2>&1) || { printf 'second run failed:\n%s\n' "$second" >&2; exit 1; }
expect "$second" "resumed from step 10" "$ranks"
expect "$second" "values verified" "$ranks"
expect "$second" "committed step 20" 1
echo "$first"
echo "$second"
