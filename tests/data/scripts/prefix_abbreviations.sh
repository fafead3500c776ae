#!/bin/bash
# getopt accepts any unambiguous prefix of a long option, and so does sbatch
#SBATCH --job=abbrev
#SBATCH --part=short
#SBATCH --cpus-per-t=2
#SBATCH --ntasks-per-n=1
./x
