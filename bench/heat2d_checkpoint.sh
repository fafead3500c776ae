#!/usr/bin/env bash
# The cost of one checkpoint inside a running simulation: examples/heat2d with 2 MPI ranks
# on a 2048 x 2048 float64 field (32 MiB), run once without checkpoints and once with one
# every EVERY steps, each ROUNDS times (bench/README.md, "Checkpoints inside a simulation").
#
#   bench/heat2d_checkpoint.sh [BUILD_DIR]          (default ./build; builds nothing)
#
# Prints `name value unit` lines: the mean step time without and with checkpoints, the mean
# (and worst) time of one checkpoint (collective write of one shared HDF5 file + commit:
# fsyncs, CRC32C, manifest, rename), its size and rate, and the checkpoints' share of the
# run at that interval, measured and computed (checkpoint / (EVERY x step + checkpoint)),
# and the interval that keeps it under 5 %. Medians over the rounds; each run's own figures
# (heat2d --report) go to stderr.
#
# Knobs (environment): HEAT_NX, HEAT_NY (2048), HEAT_STEPS (400), HEAT_EVERY (100),
# HEAT_RANKS (2), HEAT_ROUNDS (3), HEAT_DIR (default BUILD_DIR/bench-heat2d; removed
# afterwards unless BENCH_KEEP=1).
set -euo pipefail

BUILD=${1:-./build}
BIN=$BUILD/examples/heat2d/heat2d
[[ -x $BIN ]] || { echo "heat2d_checkpoint.sh: $BIN missing; build it: ninja -C $BUILD heat2d" >&2; exit 2; }
NX=${HEAT_NX:-2048}
NY=${HEAT_NY:-2048}
STEPS=${HEAT_STEPS:-400}
EVERY=${HEAT_EVERY:-100}
RANKS=${HEAT_RANKS:-2}
ROUNDS=${HEAT_ROUNDS:-3}
DIR=${HEAT_DIR:-$BUILD/bench-heat2d}
mkdir -p "$DIR"
cleanup() { [[ ${BENCH_KEEP:-0} == 1 ]] || rm -rf "$DIR"; }
trap cleanup EXIT

if [[ $(id -u) -eq 0 ]]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
pick() { awk -v k="$1" '$1 == "report" && $2 == k { print $3 }'; }   # heat2d --report's figure k

fs=$(df -PT "$DIR" | awk 'NR == 2 { print $2 " on " $1 }')
echo "heat2d_checkpoint.sh: $RANKS ranks, ${NX}x${NY} float64 ($((NX * NY * 8 / 1048576)) MiB), $STEPS steps," \
     "a checkpoint every $EVERY, in $DIR ($fs), $ROUNDS round(s)" >&2
echo "env_loadavg $(cut -d' ' -f1 /proc/loadavg) load (1 minute, at the start)"

declare -a base_step ck_step ck_mean ck_max ck_rate share
mib=0
for ((round = 1; round <= ROUNDS; ++round)); do
  for every in 0 "$EVERY"; do
    rm -rf "${DIR:?}"/*
    out=$(mpirun --oversubscribe -np "$RANKS" "$BIN" --nx "$NX" --ny "$NY" --steps "$STEPS" --every "$every" \
          --checkpoint-dir "$DIR/ckpt" --report)
    grep '^report ' <<<"$out" | sed "s/^report /round$round every=$every /" >&2
    if [[ $every == 0 ]]; then
      base_step+=("$(pick step_ms <<<"$out")")
    else
      ck_step+=("$(pick step_ms <<<"$out")")
      ck_mean+=("$(pick checkpoint_ms <<<"$out")")
      ck_max+=("$(pick checkpoint_max_ms <<<"$out")")
      ck_rate+=("$(pick checkpoint_MiBps <<<"$out")")
      share+=("$(pick checkpoint_share_pct <<<"$out")")
      mib=$(pick checkpoint_MiB <<<"$out")
    fi
  done
done

bs=$(printf '%s\n' "${base_step[@]}" | median)
cs=$(printf '%s\n' "${ck_step[@]}" | median)
cm=$(printf '%s\n' "${ck_mean[@]}" | median)
cx=$(printf '%s\n' "${ck_max[@]}" | median)
cr=$(printf '%s\n' "${ck_rate[@]}" | median)
sh=$(printf '%s\n' "${share[@]}" | median)
echo "heat2d_step_ms $bs ms (no checkpoints)"
echo "heat2d_step_with_checkpoints_ms $cs ms"
echo "heat2d_checkpoint_ms $cm ms (one checkpoint, $mib MiB; the worst of a run: $cx ms)"
echo "heat2d_checkpoint_MiBps $cr MiB/s"
echo "heat2d_checkpoint_share $sh % of steps + checkpoints (one every $EVERY steps, measured)"
awk -v c="$cm" -v s="$bs" -v k="$EVERY" \
  'BEGIN { printf "heat2d_checkpoint_in_steps %.1f steps (one checkpoint costs as much as that many steps)\n", c / s;
           printf "heat2d_checkpoint_share_model %.1f %% (checkpoint / (%d x step + checkpoint))\n", 100 * c / (k * s + c), k;
           printf "heat2d_every_for_5pct %d steps (the shortest interval that keeps checkpoints under 5 %%)\n", int(19 * c / s) + 1 }'
