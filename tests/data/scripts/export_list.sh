#!/bin/bash
#SBATCH --export=ALL,OMP_NUM_THREADS=4,INPUT=/data/run1
#SBATCH -c 4
./threaded
