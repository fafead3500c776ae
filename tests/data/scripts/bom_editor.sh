#!/bin/bash
#SBATCH --job-name=bom
#SBATCH -t 5
echo hi
