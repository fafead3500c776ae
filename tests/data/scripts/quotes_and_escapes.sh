#!/bin/bash
#SBATCH --job-name="analysis run"
#SBATCH --comment='said "hello" here'
#SBATCH --output=logs/run\ one.%j.out
#SBATCH -D "/scratch/my project"
./analyse
