#!/bin/bash
#SBATCH --array=0-99999999
./x
