#SBATCH --job-name=noshebang
echo missing interpreter line
