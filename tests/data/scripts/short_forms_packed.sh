#!/bin/bash
#SBATCH -Jpacked -c4 -n2 -t30 -oout.txt -eerr.txt
#SBATCH -pshort -N1 -Aproj
./run
