#!/bin/bash -l
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=4
#SBATCH --cpus-per-task=8
#SBATCH --time=04:00:00
#SBATCH --exclusive
#SBATCH --job-name=hybrid

export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK}
srun --cpu-bind=cores ./hybrid.x
