#!/bin/bash
#SBATCH --job-name=from-windows
#SBATCH --time=01:00:00
#SBATCH --ntasks=2

echo done
