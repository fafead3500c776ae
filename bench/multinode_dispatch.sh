#!/usr/bin/env bash
# Drover across namespace nodes (tests/multinode): dispatch figures, one
# `name value unit` line each (bench/README.md). Needs root.
#
#   bench/multinode_dispatch.sh [BUILD_DIR]     (default ./build; builds nothing)
#
# 1. 1,000 single-core `true` jobs (BENCH_MN_JOBS) submitted pipelined to a cluster
#    of 4 namespace nodes with 2 PUs each (BENCH_MN_NODES), timed until all ended,
#    and the same on 1 node for comparison (BENCH_MN_BASELINE=0 skips it).
# 2. A 2-node MPI hello world through Drover against plain mpirun with a shell rsh
#    agent over the same namespaces, BENCH_MN_MPI_REPS (10) rounds
#    (BENCH_MN_MPI=0 skips it; needs mpi_hello, -DDROVER_ENABLE_MPI=ON).
#
# Each part is one bench_multinode process that builds its own cluster (bridge,
# namespaces, /etc/hosts lines, munged, droverd, agents) and removes it when it
# ends; whatever happens, this script then sweeps what a killed run left
# (`bench_multinode sweep`: only things of processes that are gone).
set -euo pipefail

BUILD=${1:-./build}
[[ -d $BUILD ]] || { echo "multinode_dispatch.sh: no build directory $BUILD (give it as \$1)" >&2; exit 2; }
BUILD=$(cd "$BUILD" && pwd)
[[ $(id -u) == 0 ]] || { echo "multinode_dispatch.sh: needs root (network namespaces)" >&2; exit 2; }
for b in drover droverd drover-noded drover-launch bench/bench_api bench/bench_multinode; do
  [[ -x $BUILD/$b ]] || { echo "multinode_dispatch.sh: $BUILD/$b missing; build it first: ninja -C $BUILD bench_multinode" >&2; exit 2; }
done
MN=$BUILD/bench/bench_multinode
NODES=${BENCH_MN_NODES:-4}
JOBS=${BENCH_MN_JOBS:-1000}
REPS=${BENCH_MN_MPI_REPS:-10}

# munged daemonizes, so a killed bench_multinode leaves its munged behind: each
# run writes its munged directory to $MUNGED_FILE; after a run that did not clean
# up (the directory is still there), that munged is stopped by its pid file.
MUNGED_FILE=$(mktemp /tmp/drover-bench-mn.XXXXXX)
stop_munged() {
  local dir
  dir=$(cat "$MUNGED_FILE" 2>/dev/null || true)
  if [[ $dir == /tmp/drover-munge-* && -d $dir ]]; then
    local pid
    pid=$(cat "$dir/munged.pid" 2>/dev/null || true)
    if [[ -n $pid ]] && grep -qF -- "$dir/" "/proc/$pid/cmdline" 2>/dev/null; then kill -9 "$pid" || true; fi
    rm -rf "$dir"
  fi
  : >"$MUNGED_FILE"
}
cleanup() {
  stop_munged
  rm -f "$MUNGED_FILE"
  "$MN" sweep || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "# $JOBS single-core jobs over $NODES namespace nodes" >&2
"$MN" dispatch --nodes "$NODES" --jobs "$JOBS" --munged-file "$MUNGED_FILE"
stop_munged
if [[ ${BENCH_MN_BASELINE:-1} != 0 && $NODES != 1 ]]; then
  echo "# the same on 1 node" >&2
  "$MN" dispatch --nodes 1 --jobs "$JOBS" --munged-file "$MUNGED_FILE" | grep -v '^env_loadavg '
  stop_munged
fi
if [[ ${BENCH_MN_MPI:-1} != 0 ]]; then
  if [[ -x $BUILD/examples/mpi_hello ]]; then
    echo "# 2-node MPI hello world: Drover against plain mpirun, $REPS rounds" >&2
    "$MN" mpi --reps "$REPS" --munged-file "$MUNGED_FILE" | grep -v '^env_loadavg '
    stop_munged
  else
    echo "# no $BUILD/examples/mpi_hello: MPI launch figures skipped" >&2
  fi
fi
