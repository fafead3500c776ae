#!/bin/bash
#SBATCH --job-name=omp_test
#SBATCH --nodes=1
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=16
#SBATCH --mem-per-cpu=2000M
#SBATCH --time=02:00:00
#SBATCH --output=%x_%j.log

# Use as many threads as cores we asked for
export OMP_NUM_THREADS=$SLURM_CPUS_PER_TASK
export OMP_PLACES=cores
./omp_program
