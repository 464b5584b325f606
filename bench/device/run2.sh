#!/bin/bash
# Session 9, 16 cores: which setting limits batch-predict (4 of 16 cores busy at the then defaults: 8 whole
# 4,096-row batches in flight, 2 threads per op)? Same setup and SHARED as run.sh.
source bench/device/env.sh
$M train75 "$PY" -m mlc.cli.app train --data $D/arxiv_abstracts.csv --max-tokens 75000 --model-dir $W/arxiv75 --quiet 2>&1 | tail -1 &
$M corpus1m "$PY" $W/shared/tools/make_corpus.py --rows $ROWS --out $W/c1m.parquet
wait
BP="$PY -m mlc.cli.app batch-predict $W/c1m.parquet --model-dir $W/arxiv75 -o $W/o1m.parquet --quiet"
WAIT=12 WIN=8 $M A-default "$PY" bench/device/threads.py $BP
TF_CPU_ALLOCATOR_USE_BFC=false $M B-nobfc $BP
MLC_PARALLEL_BATCHES=16 $M C-p16 $BP
MLC_PARALLEL_BATCHES=16 TF_CPU_ALLOCATOR_USE_BFC=false WAIT=10 WIN=6 $M D-p16-nobfc "$PY" bench/device/threads.py $BP
MLC_PARALLEL_BATCHES=16 TF_CPU_ALLOCATOR_USE_BFC=false $M E-p16-nobfc-b1024 $BP --batch-size 1024
MLC_PARALLEL_BATCHES=8 TF_CPU_ALLOCATOR_USE_BFC=false $M F-p8-nobfc-b2048 $BP --batch-size 2048
echo ALLDONE
