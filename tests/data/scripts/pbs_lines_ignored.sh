#!/bin/bash
#PBS -l walltime=1:00:00
#PBS -N pbsname
#SBATCH --time=30
#SBATCH -J slurmname
./x
