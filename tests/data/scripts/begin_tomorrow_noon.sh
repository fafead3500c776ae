#!/bin/bash
#SBATCH -b "tomorrow noon"
./report.sh
