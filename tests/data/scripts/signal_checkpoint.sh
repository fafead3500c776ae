#!/bin/bash
#SBATCH --job-name=lammps-long
#SBATCH --time=48:00:00
#SBATCH --signal=B:USR1@300
#SBATCH --requeue
#SBATCH --open-mode=append
#SBATCH -n 16

trap 'echo checkpoint; scontrol requeue $SLURM_JOB_ID' USR1
mpirun lmp -in in.restart &
wait
