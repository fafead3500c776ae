#!/bin/bash
#SBATCH --job-name=typo
#SBATCH --nodes-list=node01
./x
