#!/bin/bash
#SBATCH --time=UNLIMITED
#SBATCH --time-min=1-00:00
./forever
