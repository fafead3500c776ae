#!/bin/bash
# Stage 2 of the pipeline: needs both stage-1 jobs to succeed and the index job to end.
#SBATCH --job-name=stage2
#SBATCH --dependency=afterok:123:124,afterany:125
#SBATCH --kill-on-invalid-dep=yes
#SBATCH --cpus-per-task=4
#SBATCH --mem=16G
#SBATCH --time=03:00:00
snakemake --cores $SLURM_CPUS_PER_TASK stage2
