#!/bin/bash
#SBATCH --array=1-10%0
./x
