#!/bin/bash
#SBATCH --priority=TOP
#SBATCH --chdir=/scratch/run42
#SBATCH --input=in.txt
#SBATCH --nodes=1-2
./x
