#!/bin/bash
#SBATCH --partition=short          # < 12 h
#SBATCH --cpus-per-task=8
#SBATCH --mem=32G
#SBATCH --time=0-04:00
#SBATCH -o logs/%x-%j.out
#SBATCH -e logs/%x-%j.err

module load blast+/2.14
blastn -num_threads $SLURM_CPUS_PER_TASK -query in.fa -db nt -out out.tsv
