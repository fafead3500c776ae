#!/bin/bash
#SBATCH -n 1 -c 8
#SBATCH hetjob
#SBATCH -n 16 -c 1
srun ./het
