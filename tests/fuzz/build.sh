#!/bin/bash
# Builds the libFuzzer target for src/script with clang (libFuzzer + ASan + UBSan).
# Needs clang and libclang-rt-14-dev (scripts/install-deps installs both).
#
#   tests/fuzz/build.sh [OUT_DIR]     default OUT_DIR: build-fuzz
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$root/build-fuzz}
cxx=${CXX_FUZZ:-$(command -v clang++ || command -v clang++-14 || true)}
if [[ -z "$cxx" ]]; then
  echo "fuzz/build.sh: clang++ not found; install clang and libclang-rt-14-dev (scripts/install-deps)" >&2
  exit 1
fi
mkdir -p "$out"
# The module under test and the one core file it uses; nothing else, so a build takes
# seconds and the fuzzer sees only this code's coverage.
"$cxx" -std=c++20 -O1 -g -fno-omit-frame-pointer \
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I "$root/src" \
  "$root"/src/script/*.cpp "$root/src/core/units.cpp" "$root/src/core/text.cpp" "$root/src/core/hostlist.cpp" "$root/src/core/node_selection.cpp" "$root/src/core/task_distribution.cpp" "$root/tests/fuzz/directives_fuzz.cpp" \
  -o "$out/directives_fuzz"
echo "built $out/directives_fuzz"
