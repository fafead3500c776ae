#!/usr/bin/env bash
# libdrover-checkpoint's write and restart-read bandwidth against raw sequential I/O to the
# same directory, in the same run (bench/README.md, "Checkpoints").
#
#   bench/bench_checkpoint.sh [BUILD_DIR]          (default ./build; builds nothing)
#
# Each round: dd writes RANKS x MIB MiB of zeros with conv=fdatasync (raw write); the page
# cache is dropped and dd reads it back (raw read); then RANKS MPI ranks write one shared
# checkpoint file of the same size with bench_checkpoint (collective parallel HDF5, commit
# with fsyncs and checksums), the cache is dropped, and a restart finds, verifies and reads
# it. Prints `name value unit` lines per round, then the medians and the ratios to raw.
#
# Knobs (environment): BENCH_CKPT_MIB (256 MiB per rank), BENCH_CKPT_RANKS (2),
# BENCH_CKPT_ROUNDS (3), BENCH_CKPT_DIR (default BUILD_DIR/bench-checkpoint; removed
# afterwards unless BENCH_KEEP=1). Dropping the page cache needs root
# (/proc/sys/vm/drop_caches); without it the reads come from memory and the script says so.
set -euo pipefail

BUILD=${1:-./build}
BIN=$BUILD/bench/bench_checkpoint
[[ -x $BIN ]] || { echo "bench_checkpoint.sh: $BIN missing; build it: ninja -C $BUILD bench_checkpoint" >&2; exit 2; }
MIB=${BENCH_CKPT_MIB:-256}
RANKS=${BENCH_CKPT_RANKS:-2}
ROUNDS=${BENCH_CKPT_ROUNDS:-3}
DIR=${BENCH_CKPT_DIR:-$BUILD/bench-checkpoint}
TOTAL=$((MIB * RANKS))
mkdir -p "$DIR"
cleanup() { [[ ${BENCH_KEEP:-0} == 1 ]] || rm -rf "$DIR"; }
trap cleanup EXIT

if [[ $(id -u) -eq 0 ]]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi

can_drop=0
if sync && echo 3 2>/dev/null > /proc/sys/vm/drop_caches; then can_drop=1; fi
drop() { sync; if (( can_drop )); then echo 3 > /proc/sys/vm/drop_caches; fi; }
(( can_drop )) || echo "bench_checkpoint.sh: cannot drop the page cache (not root?): reads come from memory" >&2

now() { date +%s.%N; }
rate() { awk -v mib="$1" -v s="$2" 'BEGIN { printf "%.0f", mib / s }'; }
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

fs=$(df -PT "$DIR" | awk 'NR == 2 { print $2 " on " $1 }')
echo "bench_checkpoint.sh: $RANKS ranks x $MIB MiB into $DIR ($fs), $ROUNDS round(s)" >&2

declare -a raw_w raw_r ck_w ck_r
for ((round = 1; round <= ROUNDS; ++round)); do
  rm -rf "${DIR:?}"/*
  drop
  t0=$(now)
  dd if=/dev/zero of="$DIR/raw" bs=1M count="$TOTAL" conv=fdatasync status=none
  t1=$(now)
  raw_w+=("$(rate "$TOTAL" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')")")
  drop
  t0=$(now)
  dd if="$DIR/raw" of=/dev/null bs=1M status=none
  t1=$(now)
  raw_r+=("$(rate "$TOTAL" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')")")
  rm -f "$DIR/raw"

  drop
  out=$(mpirun --oversubscribe -np "$RANKS" "$BIN" write "$DIR/ckpt" "$MIB" "$round")
  echo "$out" | sed "s/^/round$round /"
  ck_w+=("$(awk '$1 == "checkpoint_write_MiBps" { print $2 }' <<<"$out")")
  drop
  out=$(mpirun --oversubscribe -np "$RANKS" "$BIN" read "$DIR/ckpt" "$MIB")
  echo "$out" | sed "s/^/round$round /"
  ck_r+=("$(awk '$1 == "checkpoint_read_MiBps" { print $2 }' <<<"$out")")
  echo "round$round raw_write_MiBps ${raw_w[-1]} MiB/s"
  echo "round$round raw_read_MiBps ${raw_r[-1]} MiB/s"
done

mw=$(printf '%s\n' "${ck_w[@]}" | median)
mr=$(printf '%s\n' "${ck_r[@]}" | median)
rw=$(printf '%s\n' "${raw_w[@]}" | median)
rr=$(printf '%s\n' "${raw_r[@]}" | median)
echo "checkpoint_write_MiBps $mw MiB/s"
echo "raw_write_MiBps $rw MiB/s"
awk -v a="$mw" -v b="$rw" 'BEGIN { printf "checkpoint_write_ratio %.2f of raw\n", a / b }'
echo "checkpoint_read_MiBps $mr MiB/s"
echo "raw_read_MiBps $rr MiB/s"
awk -v a="$mr" -v b="$rr" 'BEGIN { printf "checkpoint_read_ratio %.2f of raw\n", a / b }'
(( can_drop )) || echo "note: page cache not dropped; read figures are from memory"
