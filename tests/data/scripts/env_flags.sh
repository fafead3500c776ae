#!/bin/bash
#SBATCH --time=5
./x
