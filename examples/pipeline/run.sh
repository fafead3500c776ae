#!/bin/bash
# Submits the three-step pipeline to Drover, each step waiting for the one before it to
# succeed. Run it from the folder the files should go to; every step runs there.
#
#   examples/pipeline/run.sh
#   (then read the summarize job's output for the sum)
#
# $DROVER names the drover command (default: drover on PATH).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
drover=${DROVER:-drover}

# `drover submit --parsable` prints only the new job's id.
submit() {
  local id
  id=$("$drover" submit --parsable "$@")
  if [[ -z "$id" ]]; then
    echo "run.sh: drover submit $* printed no job id" >&2
    exit 1
  fi
  printf '%s\n' "$id"
}

prepare=$(submit --name prepare "$here/prepare.sh")
compute=$(submit --name compute --depends-on "$prepare" "$here/compute.sh")
summarize=$(submit --name summarize --depends-on "$compute" "$here/summarize.sh")

echo "submitted: prepare $prepare -> compute $compute -> summarize $summarize"
