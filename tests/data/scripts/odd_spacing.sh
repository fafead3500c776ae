#!/bin/bash


#SBATCH    --job-name=spaced      # lots of room
#SBATCH	-n	8
#SBATCH --time 2:00:00
   # an indented comment
#SBATCH --mem   4G

# blank lines and comments between directives are fine

#SBATCH -c2 -N1 # two things at once
#SBATCH   

srun ./app
