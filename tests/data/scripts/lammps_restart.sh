#!/bin/bash
#SBATCH -J lammps
#SBATCH -N 1
#SBATCH --ntasks-per-node=28
#SBATCH -t 72:00:00
#SBATCH --signal=USR1@600
#SBATCH --no-requeue
#SBATCH --output=lammps.%j.log

module load lammps
mpirun lmp -in in.melt
