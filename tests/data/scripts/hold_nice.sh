#!/bin/bash
#SBATCH -H
#SBATCH --nice=10
#SBATCH -J held
true
