#!/bin/bash
#SBATCH --export=NONE
#SBATCH -t 10
env
