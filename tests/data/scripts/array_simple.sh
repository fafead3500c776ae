#!/bin/bash
#SBATCH --job-name=arr
#SBATCH --array=1-100
#SBATCH --output=logs/arr_%A_%a.out
#SBATCH --time=00:10:00
#SBATCH --mem=500M

./process sample_${SLURM_ARRAY_TASK_ID}.fastq
