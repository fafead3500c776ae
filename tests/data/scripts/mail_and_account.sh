#!/bin/bash
#SBATCH --account=proj1234
#SBATCH --qos=normal
#SBATCH --mail-type=BEGIN,END,FAIL
#SBATCH --mail-user=someone@example.edu
#SBATCH --comment="weekly run"
#SBATCH --time=1:00:00
./weekly
