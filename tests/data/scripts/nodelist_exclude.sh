#!/bin/bash
#SBATCH -w node[01-04],gpu[1-2]
#SBATCH -x node03
#SBATCH -n 4
srun hostname
