#!/bin/sh
#SBATCH --ntasks=64
#SBATCH --mem-per-cpu=2G
#SBATCH --time=1-00:00:00
#SBATCH --partition=parallel
srun ./solver input.dat
