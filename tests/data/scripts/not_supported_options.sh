#!/bin/bash
#SBATCH --reservation=maint
#SBATCH --licenses=matlab:1
#SBATCH --switches=1@10:00
#SBATCH --hint=nomultithread
#SBATCH --ntasks-per-socket=2
#SBATCH --ntasks=8
./x
