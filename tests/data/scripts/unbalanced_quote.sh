#!/bin/bash
#SBATCH --job-name="never closed
./x
