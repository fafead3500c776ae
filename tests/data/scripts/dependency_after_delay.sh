#!/bin/bash
#SBATCH --dependency=after:500+10
#SBATCH -J monitor
./watch_progress.sh
