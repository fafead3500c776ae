#!/bin/bash
#SBATCH --exclusive
#SBATCH --constraint=skylake
#SBATCH --mem=0
#SBATCH -N 1
#SBATCH -t 04:00:00
./benchmark
