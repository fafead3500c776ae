#!/bin/bash
#SBATCH --array=1,3,5,7-9%2
#SBATCH --job-name=rerun-failed
./job.sh $SLURM_ARRAY_TASK_ID
