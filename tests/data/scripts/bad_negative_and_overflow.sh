#!/bin/bash
#SBATCH --ntasks=-4
#SBATCH --cpus-per-task=99999999999999999999
#SBATCH --mem=-1G
./x
