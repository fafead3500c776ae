#!/bin/bash
#SLURM --time=10
#SLURM -J old
./x
