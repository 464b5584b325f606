"""Baseline: fastText supervised (one-vs-all, word bigrams), the usual fast CPU text tagger, for the benchmark.

`train` fits it on the same training split `mlc train` uses (same preparation, same seed); `predict` streams a
Parquet file through it in batches (lower-casing in Python, as fastText expects) and writes the top-3 labels.

    python bench/fasttext_way.py train ../shared/data/arxiv_abstracts.csv /tmp/ft.bin
    python bench/fasttext_way.py predict /tmp/ft.bin INPUT.parquet OUTPUT.parquet
"""

from __future__ import annotations

import argparse
import re
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

WHITESPACE = re.compile(r"\s+")


def clean(text: str) -> str:
    """fastText reads one example per line and splits on whitespace."""
    return WHITESPACE.sub(" ", text).strip().lower()


def train(data: str, model_path: Path, epochs: int) -> None:
    import fasttext

    from mlc.pipeline.training_data import ColumnOptions, load_labelled, prepare

    split = prepare(load_labelled(Path(data), ColumnOptions(), source=data))
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
        for text, labels in zip(split.train.texts, split.train.labels):
            handle.write(" ".join(f"__label__{label}" for label in labels) + " " + clean(text) + "\n")
    model = fasttext.train_supervised(handle.name, loss="ova", wordNgrams=2, epoch=epochs, verbose=0, seed=0)
    Path(handle.name).unlink()
    model.save_model(str(model_path))


def predict(model_path: Path, source: Path, target: Path, text_column: str, batch_size: int) -> None:
    import fasttext

    model = fasttext.load_model(str(model_path))
    writer = None
    for batch in pq.ParquetFile(source).iter_batches(batch_size=batch_size):
        texts = [clean(t or "") for t in batch.column(text_column).to_pylist()]
        # model.predict() trips over NumPy 2 (np.array(copy=False)); the binding's own call is what it wraps
        labels, scores = model.f.multilinePredict(texts, 3, 0.0, "strict")
        columns: dict[str, pa.Array] = {"id": batch.column("id")}
        for k in range(3):
            columns[f"label_{k + 1}"] = pa.array(
                [row[k].removeprefix("__label__") if len(row) > k else None for row in labels]
            )
            columns[f"score_{k + 1}"] = pa.array(
                np.array([row[k] if len(row) > k else np.nan for row in scores], dtype=np.float32)
            )
        out = pa.RecordBatch.from_pydict(columns)
        if writer is None:
            writer = pq.ParquetWriter(target, out.schema, compression="zstd")
        writer.write_batch(out)
    if writer is not None:
        writer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    fit = commands.add_parser("train")
    fit.add_argument("data")
    fit.add_argument("model", type=Path)
    fit.add_argument("--epochs", type=int, default=50)
    run = commands.add_parser("predict")
    run.add_argument("model", type=Path)
    run.add_argument("input", type=Path)
    run.add_argument("output", type=Path)
    run.add_argument("--text-column", default="abstract")
    run.add_argument("--batch-size", type=int, default=4096)
    args = parser.parse_args()
    if args.command == "train":
        train(args.data, args.model, args.epochs)
    else:
        predict(args.model, args.input, args.output, args.text_column, args.batch_size)


if __name__ == "__main__":
    main()
