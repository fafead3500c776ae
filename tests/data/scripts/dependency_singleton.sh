#!/bin/bash
#SBATCH --job-name=nightly-sync
#SBATCH --dependency=singleton
#SBATCH --time=1:00:00
rsync -a src/ dst/
