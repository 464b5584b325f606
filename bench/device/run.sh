#!/bin/bash
# The device check of session 9: 16-core CPU figures of train, batch-predict, the example's way and fastText
# (the image has CUDA 13 only, TensorFlow 2.21 needs CUDA 12: no GPU run). After setup.sh, from the repo root:
#   SHARED=path/to/shared bash bench/device/run.sh   (SHARED holds data/ and tools/make_corpus.py)
source bench/device/env.sh
nproc; lscpu | grep -E "Model name|^CPU\(s\)|Thread|NUMA node\(s\)"; free -g | head -2; nvidia-smi -L 2>/dev/null
"$PY" -c "import tensorflow as tf, keras, numpy, pandas, pyarrow, mlc; print('tf', tf.__version__, 'keras', keras.__version__, 'numpy', numpy.__version__, 'pandas', pandas.__version__, 'pyarrow', pyarrow.__version__); print(tf.config.list_physical_devices())" || exit 1
$M train75 "$PY" -m mlc.cli.app train --data $D/arxiv_abstracts.csv --max-tokens 75000 --model-dir $W/arxiv75 --quiet 2>&1 | tail -3
$M corpus1m "$PY" $W/shared/tools/make_corpus.py --rows $ROWS --out $W/c1m.parquet
$M corpus100k "$PY" $W/shared/tools/make_corpus.py --rows $((ROWS/10)) --out $W/c100k.parquet
for i in 1 2; do $M "mlc75-1m-run$i" "$PY" -m mlc.cli.app batch-predict $W/c1m.parquet --model-dir $W/arxiv75 -o $W/o1m.parquet --quiet; done
$M "mlc75-1m-2cores" taskset -c 0,1 "$PY" -m mlc.cli.app batch-predict $W/c1m.parquet --model-dir $W/arxiv75 -o $W/o1m.parquet --quiet
$M trainex "$PY" -m mlc.cli.app train --data $D/arxiv_abstracts.csv --max-tokens 75000 --example-settings --model-dir $W/arxiv75ex --quiet 2>&1 | tail -3
"$PY" bench/batch_predict.py --model-dir $W/arxiv75 --example-model-dir $W/arxiv75ex --fasttext-data $D/arxiv_abstracts.csv --repeat 1 $W/c100k.parquet 2>&1 | tee $OUT/bench100k.txt
$M train14 "$PY" -m mlc.cli.app train --data $D/arxiv_abstracts.csv --model-dir $W/arxiv --quiet 2>&1 | tail -3
$M "mlc14-1m" "$PY" -m mlc.cli.app batch-predict $W/c1m.parquet --model-dir $W/arxiv -o $W/o1m.parquet --quiet
$M fasttext-train "$PY" bench/fasttext_way.py train $D/arxiv_abstracts.csv $W/ft.bin
$M "fasttext-1m" "$PY" bench/fasttext_way.py predict $W/ft.bin $W/c1m.parquet $W/o1m.parquet
echo ALLDONE
