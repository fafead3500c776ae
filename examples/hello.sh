#!/bin/bash
# Runs the MPI hello example: one rank per task of the job (-n), each printing its host and
# the CPUs it may use.
#
#   drover submit -n 4 examples/hello.sh
#   DROVER_NTASKS=4 examples/hello.sh        # or run it by hand, outside Drover
#
# Build it first: cmake -S . -B build && cmake --build build   (needs DROVER_ENABLE_MPI=ON)
set -euo pipefail

# Where mpi_hello is: $DROVER_EXAMPLES_BIN if set, else the build tree beside this script.
# A batch system may run a copy of the script from a spool folder, so the build tree under
# the submit folder (the job's working directory) and the script's own folder (the installed
# layout, share/drover/examples) are tried as well.
script_dir=$(cd "$(dirname "$0")" && pwd)
if [[ -n "${DROVER_EXAMPLES_BIN:-}" ]]; then
  bin_dir=$DROVER_EXAMPLES_BIN
else
  bin_dir="$script_dir/../build/examples"
  for candidate in "$script_dir/../build/examples" "$PWD/build/examples" "$script_dir"; do
    if [[ -f "$candidate/mpi_hello" && -x "$candidate/mpi_hello" ]]; then
      bin_dir=$candidate
      break
    fi
  done
fi
if [[ ! -f "$bin_dir/mpi_hello" || ! -x "$bin_dir/mpi_hello" ]]; then
  echo "hello.sh: no mpi_hello in $bin_dir: build the project with DROVER_ENABLE_MPI=ON," \
       "or set DROVER_EXAMPLES_BIN to the folder holding it" >&2
  exit 1
fi

# Open MPI refuses to start as root unless told twice that it is meant.
if [[ $(id -u) -eq 0 ]]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi

# Drover sets DROVER_NTASKS from -n; outside Drover, nproc counts the CPUs we may use. --oversubscribe lets a small
# allocation (or a laptop) run more ranks than cores.
exec mpirun --oversubscribe -np "${DROVER_NTASKS:-$(nproc)}" "$bin_dir/mpi_hello"
