"""Benchmark `mlc train`: the 800 shared rows (default vocabulary, and 75k for 20 epochs), and a 51,774-row file
(the size of the example's full dataset) built from the shared labelled rows. `bench/stock_training.py` compares
the training step with stock Keras's.

The large file is synthetic and lives only in a temp dir: each row takes a real row's labels and an abstract
made of that row's sentences plus sentences of other rows with the same labels, shuffled, with its own title,
so deduplication keeps it. Each training runs as its own `mlc train` process; wall time and peak RSS are
reported with the test-split figures that run printed.

    python bench/train_time.py ../shared/data/arxiv_abstracts.csv
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
from peak_rss import measured

from mlc.pipeline.labels import parse_label_column

SENTENCE = re.compile(r"(?<=[.!?])\s+")


def synthetic_file(source: Path, rows: int, target: Path, seed: int = 0) -> None:
    frame = pd.read_csv(source)
    labels = parse_label_column(frame["terms"].tolist(), source=str(source), column="terms")
    sentences_by_combo: dict[str, list[str]] = defaultdict(list)
    for text, row_labels in zip(frame["summaries"], labels):
        sentences_by_combo["|".join(sorted(row_labels))].extend(SENTENCE.split(" ".join(str(text).split())))
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(frame), rows)
    out_text, out_terms = [], []
    for i in picks:
        pool = sentences_by_combo["|".join(sorted(labels[i]))]
        n = max(3, len(SENTENCE.split(str(frame["summaries"][i]))))
        out_text.append(" ".join(pool[j] for j in rng.integers(0, len(pool), n)))
        out_terms.append(frame["terms"][i])
    pd.DataFrame({"titles": [f"synthetic {k}" for k in range(rows)], "summaries": out_text, "terms": out_terms}).to_csv(
        target, index=False
    )


def train(data: Path, model_dir: Path, *extra: str) -> dict:
    command = [
        sys.executable,
        "-m",
        "mlc.cli.app",
        "train",
        "--data",
        str(data),
        "--model-dir",
        str(model_dir),
        "--quiet",
        *extra,
    ]
    seconds, rss_mb = measured(command)
    metadata = json.loads((model_dir / "metadata.json").read_text())
    return {
        "seconds": seconds,
        "rss_mb": rss_mb,
        "epochs": metadata["training"]["epochs_run"],
        "train_rows": metadata["steps"]["train"],
        "max_tokens": metadata["hyperparameters"]["max_tokens"],
        **{k: metadata["metrics"]["test"][k] for k in ("micro_f1", "binary_accuracy", "precision@1")},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path)
    parser.add_argument("--rows", type=int, default=51_774)
    parser.add_argument("--max-tokens", default="75000")
    parser.add_argument(
        "--big-example-settings",
        action="store_true",
        help="also train the large file with --example-settings, to compare both in one run",
    )
    parser.add_argument("--big-only", action="store_true", help="skip the 800-row runs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        scratch_dir = Path(scratch)
        runs: dict[str, dict] = {}
        if not args.big_only:
            runs["800 rows, default max_tokens, default early stopping"] = train(args.data, scratch_dir / "a")
            runs[f"800 rows, max_tokens {args.max_tokens}, 20 epochs (no early stop)"] = train(
                args.data, scratch_dir / "b", "--max-tokens", args.max_tokens, "--patience", "20"
            )
        big = scratch_dir / "big.csv"
        synthetic_file(args.data, args.rows, big)
        runs[f"{args.rows:,} synthetic rows, max_tokens {args.max_tokens}, default early stopping"] = train(
            big, scratch_dir / "c", "--max-tokens", args.max_tokens
        )
        if args.big_example_settings:
            runs[
                f"--example-settings: {args.rows:,} synthetic rows, max_tokens {args.max_tokens}, default early "
                "stopping"
            ] = train(big, scratch_dir / "d", "--max-tokens", args.max_tokens, "--example-settings")
    print("| run | train rows | max_tokens | epochs | seconds | peak RSS (MB) | test micro-F1 | binary acc | P@1 |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, r in runs.items():
        print(
            f"| {name} | {r['train_rows']:,} | {r['max_tokens']:,} | {r['epochs']} | {r['seconds']:.0f} | "
            f"{r['rss_mb']:,.0f} | {r['micro_f1']:.3f} | {r['binary_accuracy']:.3f} | {r['precision@1']:.3f} |"
        )


if __name__ == "__main__":
    main()
