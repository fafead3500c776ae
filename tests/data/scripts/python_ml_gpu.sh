#!/usr/bin/env bash
#SBATCH --job-name=resnet50
#SBATCH --partition=gpu
#SBATCH --gres=gpu:v100:1
#SBATCH --mem-per-gpu=16G
#SBATCH --cpus-per-task=10
#SBATCH --time=1-12:00:00
#SBATCH --mail-type=END,FAIL
#SBATCH --mail-user=me@uni.edu

source ~/venv/bin/activate
python train.py
