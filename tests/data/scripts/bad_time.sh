#!/bin/bash
#SBATCH --job-name=badtime
#SBATCH --ntasks=1
#SBATCH --mem=1G
#SBATCH --cpus-per-task=1
#SBATCH --partition=short
#SBATCH --time=abc
./x
