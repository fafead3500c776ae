#!/usr/bin/env bash
# Drover's benchmark figures, one `name value unit` line each (bench/README.md).
#
#   bench/run.sh [BUILD_DIR]        (default ./build; builds nothing)
#
# Starts a fresh one-machine cluster (`drover up`) in a temporary state
# directory, measures submit throughput (CLI and API), end-to-end throughput of
# trivial jobs, submit-to-start latency and droverd's memory with 100,000 queued
# jobs, stops the cluster (`drover down`, also on error or Ctrl-C), then runs the
# scheduling-pass benchmarks (bench_sched) and the placement of a 64-rank GPU job
# on 128 GPU nodes (bench_place). Progress goes to stderr.
#
# Knobs (environment): BENCH_CLI_N (200), BENCH_API_N (5000), BENCH_E2E_N (1000),
# BENCH_ARRAY_N (5000 tasks in one array), BENCH_ARRAYS_K (10000 arrays of 1M tasks, after 2000 to warm up),
# BENCH_LATENCY_N (100), BENCH_QUEUED_N (100000), BENCH_SCHED_TIMEOUT (15 s per
# scheduling case; a case that runs longer is printed as ">LIMIT"),
# BENCH_SCHED=0 to skip the scheduling cases, BENCH_PLACE=0 to skip the GPU placement
# cases, BENCH_KEEP=1 to keep the temp dir.
set -euo pipefail

BUILD=${1:-./build}
[[ -d $BUILD ]] || { echo "run.sh: no build directory $BUILD (give it as \$1)" >&2; exit 2; }
BUILD=$(cd "$BUILD" && pwd)
for b in drover droverd drover-noded bench/bench_api bench/bench_sched bench/bench_place; do
  [[ -x $BUILD/$b ]] || { echo "run.sh: $BUILD/$b missing; build it first: ninja -C $BUILD" >&2; exit 2; }
done
DROVER=$BUILD/drover
API=$BUILD/bench/bench_api
SCHED=$BUILD/bench/bench_sched
PLACE=$BUILD/bench/bench_place

CLI_N=${BENCH_CLI_N:-200}
API_N=${BENCH_API_N:-5000}
E2E_N=${BENCH_E2E_N:-1000}
LAT_N=${BENCH_LATENCY_N:-100}
ARRAY_N=${BENCH_ARRAY_N:-5000}
ARRAYS_K=${BENCH_ARRAYS_K:-10000}
QUEUED_N=${BENCH_QUEUED_N:-100000}
SCHED_TIMEOUT=${BENCH_SCHED_TIMEOUT:-15}
NODE=bench-node

TMP=$(mktemp -d /tmp/drover-bench.XXXXXX)
STATE=$TMP/state
export DROVER_STATE_DIR=$STATE
unset DROVER_SOCKET
cleanup() {
  "$DROVER" down --state-dir "$STATE" >/dev/null 2>&1 || true
  if [[ ${BENCH_KEEP:-0} == 1 ]]; then echo "run.sh: kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "# $*" >&2; }
figure() { printf '%s %s %s\n' "$1" "$2" "$3"; }
now() { date +%s.%N; }
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.1f", n / (b - a) }'; }
rss_mib() { awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
# Job counts by state from `drover status --json`: count STATE
count() { "$DROVER" status --json | awk -v s="\"$1\":" '$1 == s { gsub(/[^0-9]/, "", $2); print $2; f = 1 } END { if (!f) print 0 }'; }

# How busy the machine is, to read the figures by: the 1-minute load average, and
# the time of one 4 KiB O_DSYNC overwrite in the state directory's file system
# (what a commit's fdatasync costs droverd right now).
dsync_ms() {
  local f=$TMP/dsync-probe
  dd if=/dev/zero of="$f" bs=4k count=100 status=none
  dd if=/dev/zero of="$f" bs=4k count=100 conv=notrunc oflag=dsync 2>&1 |
    awk '{ for (i = 2; i <= NF; i++) if ($i == "s,") printf "%.3f", $(i - 1) * 1000 / 100 }'
  rm -f "$f"
}
figure env_loadavg "$(cut -d' ' -f1 /proc/loadavg)" load
figure env_dsync_write "$(dsync_ms)" ms

# ---- the cluster ----------------------------------------------------------------------
mkdir -p "$TMP/work"
cd "$TMP/work"   # jobs write drover-<id>.out into their submit directory
log "starting a cluster in $STATE"
"$DROVER" up --state-dir "$STATE" --node-name "$NODE" >&2
PID=$(cat "$STATE/droverd.pid")
# A queue that accepts jobs but never runs them (its only environment is
# DISABLED): submit throughput and memory are measured there, so jobs that run
# do not disturb the figures that follow.
"$DROVER" envs create hold-ce --nodes "$NODE" --disabled >/dev/null
"$DROVER" queues create hold --envs hold-ce >/dev/null

log "droverd pid $PID, idle: $(rss_mib "$PID") MiB"
figure droverd_rss_idle "$(rss_mib "$PID")" MiB

log "submit-to-start latency, $LAT_N jobs one at a time on the idle cluster"
"$API" latency "$LAT_N"

log "end to end: $E2E_N trivial jobs"
"$API" e2e "$E2E_N"

log "end to end: one array of $ARRAY_N trivial tasks"
"$API" array "$ARRAY_N"

log "arrays of 1,000,000 tasks: accept time and head memory ($ARRAYS_K arrays, to the held queue)"
# A first round warms what grows once (hash tables, SQLite's page cache); the
# second is measured.
"$API" --queue hold --arrays 2000 --prefix warmup_ array-accept 1000000 >/dev/null
before=$(rss_mib "$PID")
"$API" --queue hold --arrays "$ARRAYS_K" array-accept 1000000
after=$(rss_mib "$PID")
figure droverd_bytes_per_pending_array "$(awk -v a="$before" -v b="$after" -v k="$ARRAYS_K" 'BEGIN { printf "%.0f", (b - a) * 1048576 / k }')" B
"$DROVER" cancel $("$DROVER" jobs --queue hold --json | awk -F'"' '/"jobId"/ { print $4 }') >/dev/null

log "submit through the CLI: $CLI_N x drover submit --wrap true (to the held queue)"
t0=$(now)
for ((i = 0; i < CLI_N; i++)); do "$DROVER" submit --queue hold --wrap true >/dev/null; done
t1=$(now)
figure cli_submit "$(rate "$CLI_N" "$t0" "$t1")" jobs/s

log "submit through the API: $API_N jobs, one connection, serial then pipelined (to the held queue)"
"$API" --queue hold submit "$API_N"
"$API" --queue hold pipelined "$API_N"

held=$(count RUNNABLE)
fill=$((QUEUED_N - held))
if ((fill > 0)); then
  log "filling the held queue to $QUEUED_N jobs ($fill more, pipelined)"
  "$API" --queue hold --prefix deep_ pipelined "$fill" >&2
fi
held=$(count RUNNABLE)
log "droverd with $held jobs queued: $(rss_mib "$PID") MiB"
figure droverd_rss_queued "$(rss_mib "$PID")" MiB
figure droverd_queued_jobs "$held" jobs
figure state_db_size "$(du -sm "$STATE"/state.db* | awk '{ s += $1 } END { print s }')" MiB
log "serial submits with $held jobs queued (does the cost of a loop turn grow with the queue?)"
"$API" --queue hold --prefix deep_ submit 500

log "stopping the cluster"
"$DROVER" down --state-dir "$STATE" >/dev/null

# ---- placing a 64-rank GPU job (bench_place) ----------------------------------------------
# One EASY pass over 128 GPU nodes with a job of 64 ranks, one GPU each (goal < 1 ms).
# Figure: place_gpu_<topology>_<nodes>x<ranks per node>_<cluster>, CPU time per pass.
if [[ ${BENCH_PLACE:-1} != 0 ]]; then
  log "placing a 64-rank GPU job on 128 GPU nodes (bench_place)"
  "$PLACE" --benchmark_filter='^BM_PlaceGpuJob/' --benchmark_format=csv 2>/dev/null |
    awk -F, '$1 ~ /^"BM_PlaceGpuJob\// {
      split($1, a, "/"); gsub(/"/, "", a[4])
      topo = a[2] == 0 ? "2pkg4gpu" : "4numa8gpu"
      scen = a[4] == 0 ? "idle" : a[4] == 1 ? "partly_busy" : a[4] == 2 ? "full_reserve" : "partly_busy_1000q"
      t = $4; u = $5
      if (u == "ns") t /= 1e6; else if (u == "us") t /= 1e3; else if (u == "s") t *= 1e3
      printf "place_gpu_%s_%dx%d_%s %.3f ms\n", topo, 64 / a[3], a[3], scen, t }'
fi

# ---- the scheduler alone ----------------------------------------------------------------
[[ ${BENCH_SCHED:-1} == 0 ]] && exit 0
# One case per process, so a case that runs past the limit can be cut off.
sched_case() {  # BENCHMARK_NAME FIGURE_NAME
  local out
  if out=$(timeout "$SCHED_TIMEOUT" "$SCHED" --benchmark_filter="^$1(/|\$)" --benchmark_format=csv 2>/dev/null); then
    # CSV: name,iterations,real_time,cpu_time,time_unit,bytes_per_second,items_per_second,...
    echo "$out" | awk -F, -v f="$2" '$1 ~ /^"BM_/ {
      t = $4; u = $5   # CPU time: a pass is single-threaded, and neighbours make wall time noisy
      if (u == "ns") t /= 1e6; else if (u == "us") t /= 1e3; else if (u == "s") t *= 1e3
      printf "%s %.3f ms\n", f, t }'
  else
    figure "$2" ">$((SCHED_TIMEOUT * 1000))" ms
  fi
}
log "scheduling passes (bench_sched), each case limited to ${SCHED_TIMEOUT} s"
policies=(greedy fifo easy)
for p in 0 1 2; do
  for jobs in 1000 10000 100000; do
    for nodes in 100 1000 10000; do
      sched_case "BM_SchedulePass/$jobs/$nodes/$p" "sched_pass_${policies[$p]}_${jobs}j_${nodes}n"
    done
  done
done
for p in 0 1 2; do
  for jobs in 1000 10000 100000; do
    for nodes in 100 1000 10000; do
      sched_case "BM_SchedulePassBusy/$jobs/$nodes/$p" "sched_pass_busy_${policies[$p]}_${jobs}j_${nodes}n"
    done
  done
done
for nodes in 100 1000 10000; do
  sched_case "BM_SchedulePassIncremental/100000/$nodes" "sched_pass_incremental_100000j_${nodes}n"
done
for kind in 0 1; do
  name=$([[ $kind == 0 ]] && echo priority || echo fairshare)
  sched_case "BM_SchedulePassOrdered/100000/10000/$kind/0" "sched_pass_easy_${name}_100000j_10000n"
  sched_case "BM_SchedulePassOrdered/100000/10000/$kind/1" "sched_pass_busy_easy_${name}_100000j_10000n"
done
# (Separate runs: the CSV reporter wants every case of a run to have the same counters.)
"$SCHED" --benchmark_filter='^BM_ApplyJobSubmitted/' --benchmark_format=csv 2>/dev/null |
  awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
    $1 ~ /\/0"$/ { printf "sched_apply_job_submitted %.0f ns/job\n", 1e9 / $col["items_per_second"] }
    $1 ~ /\/100000"$/ { printf "sched_apply_job_submitted_100k_queued %.0f ns/job\n", 1e9 / $col["items_per_second"] }'
"$SCHED" --benchmark_filter='^BM_StateBytesPerJob/' --benchmark_format=csv 2>/dev/null |
  awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
    { printf "state_bytes_per_queued_job %.0f B\n", $col["\"bytes_per_job\""] }'
