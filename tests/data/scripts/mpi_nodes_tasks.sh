#!/bin/bash
#SBATCH -J mpi_job
#SBATCH -N 4
#SBATCH --ntasks-per-node=32
#SBATCH -t 12:00:00
#SBATCH -p compute
#SBATCH -o mpi_job.o%j
#SBATCH -e mpi_job.e%j

module purge
module load openmpi/4.1
mpirun ./my_mpi_app
