#!/bin/bash
#SBATCH --dependency=afterok:12345
#SBATCH --job-name=postprocess
python collect.py
