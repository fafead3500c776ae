#!/bin/bash
#SBATCH -a 0-100:10
#SBATCH -t 15
echo "offset $SLURM_ARRAY_TASK_ID"
