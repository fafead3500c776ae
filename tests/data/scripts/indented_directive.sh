#!/bin/bash
#SBATCH -n 2
    #SBATCH -n 4
#sbatch -n 8
./x
