#!/bin/bash
#SBATCH --job-name=early
#SBATCH --time=10

module load python
#SBATCH --time=60
#SBATCH --mem=100G
#DROVER --queue=big
python run.py
