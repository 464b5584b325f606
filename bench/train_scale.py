"""Training at the Keras example's full size: `mlc train` (at 14k and 75k tokens), fastText and scikit-learn on one
generated labelled file, each in its own process, in one run; wall time and peak RSS.

The file is made here, from nothing shared: a lexicon of invented words, labels with words of their own (Zipf
weights over a few thousand words each), co-occurring labels, and a background of every word, so the uni- and
bigrams are as many and as long-tailed as the real dataset's: `--max-tokens 75000` fills every column. The same
seed gives the same file.

    pip install -e '.[bench]'
    python bench/train_scale.py                       # 51,774 rows, the example's dataset size
    python bench/train_scale.py --rows 5000 --skip sklearn
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from peak_rss import measured

SYLLABLES = [c + v for c in "bcdfghklmnprstvz" for v in ("a", "e", "i", "o", "u", "ai", "ou")]
FIELDS = ["vor", "kel", "tam", "sib", "ru", "dap", "lom", "ne"]
RUNNERS = ("mlc-14k", "mlc-75k", "fasttext", "sklearn")


def lexicon(size: int, rng: np.random.Generator) -> list[str]:
    """`size` distinct invented words of 1 to 4 syllables."""
    words: set[str] = set()
    while len(words) < size:
        lengths = rng.integers(1, 5, size)
        picks = rng.integers(0, len(SYLLABLES), (size, 4))
        words.update("".join(SYLLABLES[p] for p in row[:n]) for row, n in zip(picks, lengths))
    return sorted(words)[:size]


def zipf_cdf(n: int, exponent: float) -> np.ndarray:
    """Cumulative Zipf weights of ranks 1..n, for drawing ranks by `searchsorted`."""
    weights = np.cumsum(1.0 / np.arange(1, n + 1) ** exponent)
    return weights / weights[-1]


def draw(cdf: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    return np.minimum(np.searchsorted(cdf, rng.random(size)), len(cdf) - 1)


def write_corpus(path: Path, rows: int, seed: int = 0, words: int = 60_000, labels: int = 40) -> None:
    """A labelled CSV in the example's schema (`titles`, `summaries`, `terms`)."""
    rng = np.random.default_rng(seed)
    vocabulary = np.array(lexicon(words, rng), dtype=object)
    names = [f"{FIELDS[i % len(FIELDS)]}.{SYLLABLES[(7 * i + 3) % len(SYLLABLES)]}{i}" for i in range(labels)]
    topic_size = 3_000
    topics = np.stack([rng.choice(words, topic_size, replace=False) for _ in range(labels)])
    background = rng.permutation(words)
    partner = rng.permutation(labels)  # a label's frequent companion, as stat.ML comes with cs.LG
    first = draw(zipf_cdf(labels, 0.9), rows, rng)
    second = np.where(rng.random(rows) < 0.45, partner[first], first)
    third = np.where(rng.random(rows) < 0.1, rng.integers(0, labels, rows), first)
    own = np.stack([first, second, third], axis=1)
    lengths = np.clip(rng.normal(150, 45, rows), 30, 400).astype(np.int64)
    total = int(lengths.sum())
    row_of = np.repeat(np.arange(rows), lengths)
    ids = background[draw(zipf_cdf(words, 1.05), total, rng)]
    from_topic = rng.random(total) < 0.3  # a word of one of the row's labels, else of the background
    label_of = own[row_of, rng.integers(0, 3, total)]
    ids[from_topic] = topics[label_of[from_topic], draw(zipf_cdf(topic_size, 1.0), int(from_topic.sum()), rng)]
    tokens = vocabulary[ids]
    stops = np.flatnonzero(rng.random(total) < 0.06)
    tokens[stops] = [f"{t}." for t in tokens[stops]]
    ends = np.cumsum(lengths)
    starts = ends - lengths
    summaries = [" ".join(tokens[a:b]).capitalize() for a, b in zip(starts, ends)]
    titles = [" ".join(vocabulary[ids[a : a + 8]]).capitalize() for a in starts]
    terms = [str([names[j] for j in sorted(set(row))]) for row in own.tolist()]
    pacsv.write_csv(pa.table({"titles": titles, "summaries": summaries, "terms": terms}), path)


def run(name: str, data: Path, scratch: Path, epochs: int) -> dict:
    if name.startswith("mlc-"):
        tokens = {"mlc-14k": "14000", "mlc-75k": "75000"}[name]
        model_dir = scratch / name
        command = [sys.executable, "-m", "mlc.cli.app", "train", "--data", str(data), "--model-dir", str(model_dir)]
        seconds, rss = measured([*command, "--max-tokens", tokens, "--quiet"])
        metadata = json.loads((model_dir / "metadata.json").read_text())
        test = metadata["metrics"]["test"]
        return {
            "seconds": seconds,
            "rss": rss,
            "note": f"{metadata['training']['epochs_run']} epochs, {metadata['hyperparameters']['max_tokens']:,} "
            f"columns; test micro-F1 {test['micro_f1']:.3f}, P@1 {test['precision@1']:.3f}",
        }
    here = Path(__file__).resolve().parent
    if name == "fasttext":
        command = [sys.executable, str(here / "fasttext_way.py"), "train", str(data), str(scratch / "ft.bin")]
        seconds, rss = measured([*command, "--epochs", str(epochs)])
        return {"seconds": seconds, "rss": rss, "note": f"one-vs-all, word bigrams, {epochs} epochs"}
    seconds, rss = measured([sys.executable, str(here / "train_scale.py"), "--sklearn-fit", str(data)])
    return {"seconds": seconds, "rss": rss, "note": "TF-IDF uni+bigrams, one-vs-rest logistic regression"}


def sklearn_fit(data: Path) -> None:
    """scikit-learn's usual multi-label baseline on the training split `mlc train` uses, as bench/quality.py."""
    from quality import sklearn_scores

    from mlc.pipeline.training_data import ColumnOptions, load_labelled, prepare

    split = prepare(load_labelled(data, ColumnOptions(), source=str(data)))
    sklearn_scores(split.train.texts, split.train.labels, split.test.texts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=51_774)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fasttext-epochs", type=int, default=50)
    parser.add_argument("--skip", action="append", default=[], choices=RUNNERS)
    parser.add_argument("--keep", type=Path, help="write the generated file here too")
    parser.add_argument("--sklearn-fit", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sklearn_fit:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        sklearn_fit(args.sklearn_fit)
        return
    with tempfile.TemporaryDirectory() as scratch:
        data = Path(scratch) / "labelled.csv"
        started = time.perf_counter()
        write_corpus(data, args.rows, args.seed)
        print(f"generated {args.rows:,} rows in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        if args.keep:
            args.keep.write_bytes(data.read_bytes())
        results = {
            name: run(name, data, Path(scratch), args.fasttext_epochs) for name in RUNNERS if name not in args.skip
        }
    print(f"| trainer ({args.rows:,} rows) | wall (s) | peak RSS (MB) | |")
    print("| --- | ---: | ---: | --- |")
    for name, r in results.items():
        print(f"| {name} | {r['seconds']:.1f} | {r['rss']:,.0f} | {r['note']} |")


if __name__ == "__main__":
    main()
