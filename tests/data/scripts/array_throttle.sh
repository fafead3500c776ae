#!/bin/bash
#SBATCH --array=0-999%20   # at most 20 at once, be nice to the file system
#SBATCH -o out/%A_%a.txt
#SBATCH -c 1
python sweep.py --index $SLURM_ARRAY_TASK_ID
