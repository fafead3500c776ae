#!/bin/bash
# Pipeline step 1 of 3: writes the numbers 1..N (N = $PIPELINE_N, default 10), one a line,
# to pipeline_numbers.txt in the folder the job runs in (the folder it was submitted from).
set -euo pipefail
n=${PIPELINE_N:-10}
trap 'rm -f pipeline_numbers.txt.tmp' EXIT
seq 1 "$n" >pipeline_numbers.txt.tmp
# Rename at the end, so a step that fails half-way never leaves a file that looks complete.
mv pipeline_numbers.txt.tmp pipeline_numbers.txt
echo "prepare: wrote $n numbers to $PWD/pipeline_numbers.txt"
