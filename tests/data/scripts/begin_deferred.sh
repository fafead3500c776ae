#!/bin/bash
#SBATCH --begin=now+2hours
#SBATCH -J later
./later.sh
