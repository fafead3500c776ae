#!/bin/bash
#SBATCH --job-name spaced-long
#SBATCH --time 1:00:00
#SBATCH --partition debug
#SBATCH --ntasks 1
./x
