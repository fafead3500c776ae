#!/bin/bash
#SBATCH --begin=2024-12-25T08:00:00
#SBATCH --hold
./xmas.sh
