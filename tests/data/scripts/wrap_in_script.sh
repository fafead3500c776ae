#!/bin/bash
#SBATCH --wrap="hostname"
./x
