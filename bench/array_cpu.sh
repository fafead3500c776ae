#!/usr/bin/env bash
# CPU cost per task of an array of trivial tasks, one `name value unit` line per
# figure (bench/README.md, "CPU per task").
#
#   bench/array_cpu.sh [BUILD_DIR]      (default ./build; builds nothing)
#
# Starts a fresh one-machine cluster (`drover up`) in a temporary state
# directory, then BENCH_ROUNDS (3) times: one array of BENCH_ARRAY_N (5000) `true`
# tasks (`bench_api array N`), with the CPU time (utime + stime from
# /proc/PID/stat) that droverd and drover-noded spent on it, and the tasks'
# own (drover-noded's reaped children). CPU time is steadier than wall time on a
# shared machine; the wall figure is printed with the load average beside it.
# The tasks write their output files (drover-<array>_<index>.out) in the
# submit directory: a new directory beside the state directory, or inside
# BENCH_WORK_DIR when that is set (e.g. /dev/shm). The cost of creating a file
# on that file system is part of each task.
# The client polls the array every BENCH_POLL_MS (50) ms, not every 2 ms as
# run.sh does: each poll costs droverd CPU, and a per-task figure must not grow
# with the wall time a loaded machine adds.
set -euo pipefail

BUILD=${1:-./build}
[[ -d $BUILD ]] || { echo "array_cpu.sh: no build directory $BUILD (give it as \$1)" >&2; exit 2; }
BUILD=$(cd "$BUILD" && pwd)
for b in drover droverd drover-noded bench/bench_api; do
  [[ -x $BUILD/$b ]] || { echo "array_cpu.sh: $BUILD/$b missing; build it first: ninja -C $BUILD" >&2; exit 2; }
done
DROVER=$BUILD/drover
API=$BUILD/bench/bench_api
N=${BENCH_ARRAY_N:-5000}
ROUNDS=${BENCH_ROUNDS:-3}
POLL_MS=${BENCH_POLL_MS:-50}

TMP=$(mktemp -d /tmp/drover-cpu.XXXXXX)
STATE=$TMP/state
export DROVER_STATE_DIR=$STATE
unset DROVER_SOCKET
cleanup() {
  "$DROVER" down --state-dir "$STATE" >/dev/null 2>&1 || true
  if [[ ${BENCH_KEEP:-0} == 1 ]]; then
    echo "array_cpu.sh: kept $TMP ${WORK:-}" >&2
  else
    rm -rf "$TMP"
    if [[ -n ${BENCH_WORK_DIR:-} && -n ${WORK:-} ]]; then rm -rf "$WORK"; fi
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Clock ticks of a process: own (utime + stime) and reaped children's (cutime + cstime).
# The command name in field 2 may hold spaces: count fields after its ')'.
ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13, $14 + $15 }'; }
HZ=$(getconf CLK_TCK)
per_task_ms() { awk -v a="$1" -v b="$2" -v hz="$HZ" -v n="$N" 'BEGIN { printf "%.3f", (b - a) * 1000 / hz / n }'; }

WORK=$TMP/work
[[ -n ${BENCH_WORK_DIR:-} ]] && WORK=$(mktemp -d "$BENCH_WORK_DIR/drover-cpu-work.XXXXXX")
mkdir -p "$WORK"
cd "$WORK"
"$DROVER" up --state-dir "$STATE" --node-name cpu-node >/dev/null
HEAD=$(cat "$STATE/droverd.pid")
AGENT=$(cat "$STATE/noded.pid")
for ((r = 1; r <= ROUNDS; r++)); do
  read -r h0 _ < <(ticks "$HEAD")
  read -r a0 c0 < <(ticks "$AGENT")
  load=$(cut -d' ' -f1 /proc/loadavg)
  out=$("$API" --array-poll-ms "$POLL_MS" array "$N")
  read -r h1 _ < <(ticks "$HEAD")
  read -r a1 c1 < <(ticks "$AGENT")
  echo "$out" | awk -v r="$r" '$1 == "e2e_array_throughput" || $1 == "e2e_array_failed" { print "round" r "_" $0 }'
  printf 'round%d_env_loadavg %s load\n' "$r" "$load"
  printf 'round%d_droverd_cpu_per_task %s ms\n' "$r" "$(per_task_ms "$h0" "$h1")"
  printf 'round%d_noded_cpu_per_task %s ms\n' "$r" "$(per_task_ms "$a0" "$a1")"
  printf 'round%d_tasks_cpu_per_task %s ms\n' "$r" "$(per_task_ms "$c0" "$c1")"
done
