#!/bin/bash
#SBATCH -p gpu-a100
#SBATCH --gres=gpu:a100:4
#SBATCH --cpus-per-gpu=8
#SBATCH --mem=0
#SBATCH -t 2-00:00:00
torchrun --nproc_per_node=4 train.py
