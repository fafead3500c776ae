#!/bin/bash
#DROVER --definition blast:2
#DROVER --parameter db=nr --parameter evalue=1e-5
#DROVER --retry 3
#DROVER --tag project=genomics --tag owner=lab7
#DROVER --env BLASTDB=/data/blast
#DROVER --depends-on 41
blastp -db $BLASTDB/nr -query q.fa
