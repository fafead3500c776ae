#!/usr/bin/env bash
# libdrover-checkpoint as a user gets it: `cmake --install` of the build into a temporary
# prefix, then two programs built outside the tree, one with find_package(DroverCheckpoint)
# (tests/data/checkpoint_consumer/CMakeLists.txt, C++) and one with pkg-config (consumer.c),
# and both run.
#   checkpoint_install_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1
src=$2/tests/data/checkpoint_consumer
tmp=$(mktemp -d "${TMPDIR:-/tmp}/drover-ckpt-install-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

cmake --install "$build" --prefix "$prefix" --component checkpoint > "$tmp/install.log"
for f in include/drover/checkpoint.h include/drover/checkpoint.hpp include/drover/checkpoint_config.h; do
  [[ -f $prefix/$f ]] || { echo "not installed: $f" >&2; cat "$tmp/install.log" >&2; exit 1; }
done
pc=$(find "$prefix" -name drover-checkpoint.pc)
config=$(find "$prefix" -name DroverCheckpointConfig.cmake)
[[ -n $pc && -n $config ]] || { echo "no drover-checkpoint.pc or DroverCheckpointConfig.cmake" >&2; exit 1; }
libdir=$(dirname "$(dirname "$pc")")

# find_package
cmake -S "$src" -B "$tmp/cmake-build" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" > "$tmp/configure.log" 2>&1 ||
  { cat "$tmp/configure.log" >&2; exit 1; }
cmake --build "$tmp/cmake-build" > "$tmp/build.log" 2>&1 || { cat "$tmp/build.log" >&2; exit 1; }
"$tmp/cmake-build/consumer" "$tmp/ckpt-cmake"

# pkg-config
export PKG_CONFIG_PATH=$(dirname "$pc")
flags=$(pkg-config --cflags --libs drover-checkpoint)
# shellcheck disable=SC2086
cc -std=c99 -Wall -Werror "$src/consumer.c" -o "$tmp/consumer-c" $flags
LD_LIBRARY_PATH=$libdir "$tmp/consumer-c" "$tmp/ckpt-pc"
[[ -f $tmp/ckpt-pc/ckpt-000000000004/manifest.json ]] || { echo "no checkpoint written" >&2; exit 1; }
echo "installed to $prefix; pkg-config: $flags"
