#!/bin/bash
#SBATCH --time=10
#SBATCH -n 2
#SBATCH --time=20
./x
