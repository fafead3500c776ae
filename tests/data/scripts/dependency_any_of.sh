#!/bin/bash
# Cleanup runs when either the main run or its fallback finishes
#SBATCH -d afterok:100?afternotok:101
#SBATCH -J cleanup
./cleanup.sh
