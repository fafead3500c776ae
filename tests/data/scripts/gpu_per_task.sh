#!/bin/bash
#SBATCH --ntasks=4
#SBATCH --gpus-per-task=1
#SBATCH --gpu-bind=closest
#SBATCH --cpus-per-task=6
#SBATCH --mem-per-gpu=16G
#SBATCH --time=30
srun ./gpu_app
