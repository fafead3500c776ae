#!/bin/bash
#SBATCH --test-only
#SBATCH --parsable
#SBATCH --wait
#SBATCH -t 1
./x
