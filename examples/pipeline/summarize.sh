#!/bin/bash
# Pipeline step 3 of 3: prints the sum of pipeline_squares.txt. Runs only after compute.sh
# succeeded.
set -euo pipefail
if [[ ! -f pipeline_squares.txt ]]; then
  echo "summarize: $PWD/pipeline_squares.txt not found: run compute.sh first" >&2
  exit 1
fi
awk '{ sum += $1 } END { print "summarize: sum of squares = " sum }' pipeline_squares.txt
