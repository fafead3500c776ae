#!/bin/bash
# Runs the src/script fuzz target for a bounded time, seeded with the job-script corpus
# (tests/data/scripts). Exits non-zero if it finds a crash, a hang (an input over 10 s) or
# a sanitizer report; the input is left in the work directory as crash-*/timeout-*.
#
#   tests/fuzz/run.sh [SECONDS] [WORK_DIR]     defaults: 60, build-fuzz/work
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
seconds=${1:-60}
work=${2:-$root/build-fuzz/work}
bin=$root/build-fuzz/directives_fuzz
# Rebuild when the target or the code under test changed since the last build.
if [[ ! -x "$bin" ]] || [[ -n $(find "$root/src/script" "$root/src/core/units.cpp" "$root/src/core/units.hpp" "$root/src/core/node_selection.cpp" \
                                    "$root/tests/fuzz/directives_fuzz.cpp" -newer "$bin" -print -quit) ]]; then
  "$root/tests/fuzz/build.sh"
fi
mkdir -p "$work/corpus"
# Seeds are copied, so that what the fuzzer adds never lands in the source tree.
cp "$root"/tests/data/scripts/*.sh "$work/corpus/"
cd "$work"
exec "$bin" corpus -dict="$root/tests/fuzz/directives.dict" -max_total_time="$seconds" -timeout=10 \
  -rss_limit_mb=2048 -max_len=16384 -print_final_stats=1
