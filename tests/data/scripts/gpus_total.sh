#!/bin/bash
#SBATCH -G 8
#SBATCH --gpus-per-node=4
#SBATCH -N 2
#SBATCH -t 6:00:00
srun python ddp.py
