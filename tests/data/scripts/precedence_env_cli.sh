#!/bin/bash
#SBATCH --time=10
#SBATCH --partition=from-script
#SBATCH --job-name=from-script
#SBATCH --account=script-acct
#DROVER --time=20
./x
