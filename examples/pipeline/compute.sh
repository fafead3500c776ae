#!/bin/bash
# Pipeline step 2 of 3: squares every number in pipeline_numbers.txt into
# pipeline_squares.txt. Runs only after prepare.sh succeeded.
set -euo pipefail
if [[ ! -f pipeline_numbers.txt ]]; then
  echo "compute: $PWD/pipeline_numbers.txt not found: run prepare.sh first" >&2
  exit 1
fi
trap 'rm -f pipeline_squares.txt.tmp' EXIT
awk '{ print $1 * $1 }' pipeline_numbers.txt >pipeline_squares.txt.tmp
mv pipeline_squares.txt.tmp pipeline_squares.txt
echo "compute: squared $(wc -l <pipeline_squares.txt) numbers into $PWD/pipeline_squares.txt"
