#!/bin/bash
#SBATCH --mem=64GB
#SBATCH --tmp=100G
./bigmem
