#!/bin/bash
# Shared with a Slurm cluster: #SBATCH for Slurm, #DROVER where Drover should differ.
#SBATCH --partition=normal
#SBATCH --time=24:00:00
#SBATCH --mem=8G
#DROVER --queue=drover-batch
#DROVER --time=12:00:00
#DROVER --mem-per-cpu=1G
#SBATCH --cpus-per-task=4
./analysis
