"""Baseline: Annif with its Omikuji backend, the tool libraries already use to tag documents with subjects.

Annif runs from its own virtualenv (`python -m venv /tmp/annif && /tmp/annif/bin/pip install "annif[omikuji]"`)
and is driven through its CLI: `load-vocab`, `train` on a JSONL corpus, `index` on a JSONL file of documents.
Offline, its analyzers need NLTK's `punkt_tab`: empty parameter files give plain word tokenising (`analyzer=simple`).

    python bench/annif_way.py train ../shared/data/arxiv_abstracts.csv /tmp/annif-project --annif /tmp/annif/bin/annif
    python bench/annif_way.py index /tmp/annif-project INPUT.parquet OUTPUT.jsonl --annif /tmp/annif/bin/annif
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

PROJECT = "omikuji"
PUNKT_FILES = (
    "collocations.tab",
    "sentence_starters.txt",
    "sent_starters.txt",
    "abbrev_types.txt",
    "ortho_context.tab",
)


def _environment(home: Path) -> dict[str, str]:
    punkt = home / "nltk_data" / "tokenizers" / "punkt_tab" / "english"
    punkt.mkdir(parents=True, exist_ok=True)
    for name in PUNKT_FILES:
        (punkt / name).touch()
    return {**os.environ, "NLTK_DATA": str(home / "nltk_data")}


def _annif(annif: str, home: Path, *args: str) -> None:
    subprocess.run(
        [annif, *args, "-p", str(home / "projects.cfg")],
        cwd=home,
        env=_environment(home),
        check=True,
        capture_output=True,
    )


def _uri(label: str) -> str:
    return f"http://mlc.invalid/label/{label}"


def train(annif: str, home: Path, texts: Sequence[str], labels: Sequence[Sequence[str]]) -> None:
    """A fresh Annif project in `home`: the vocabulary is the training labels, Omikuji with its defaults."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "projects.cfg").write_text(
        f"[{PROJECT}]\nname=Omikuji\nlanguage=en\nbackend=omikuji\nanalyzer=simple\nvocab=subjects\nlimit=10\n"
    )
    vocabulary = sorted({label for row in labels for label in row})
    (home / "subjects.tsv").write_text("".join(f"<{_uri(label)}>\t{label}\n" for label in vocabulary))
    with open(home / "train.jsonl", "w", encoding="utf-8") as corpus:
        for text, row in zip(texts, labels):
            corpus.write(json.dumps({"text": text, "subjects": [{"uri": _uri(label)} for label in row]}) + "\n")
    _annif(annif, home, "load-vocab", "subjects", "subjects.tsv", "-L", "en", "--force")
    _annif(annif, home, "train", PROJECT, "train.jsonl")


def index(annif: str, home: Path, documents: Path, limit: int = 10) -> Path:
    """`annif index` on a JSONL file of {"text": ...}; returns the `.annif.jsonl` file it writes beside it."""
    _annif(annif, home, "index", PROJECT, str(documents), "--limit", str(limit), "--threshold", "0", "--force")
    return documents.with_name(documents.name.removesuffix(".jsonl") + ".annif.jsonl")


def scores(annif: str, home: Path, texts: Sequence[str], labels: Sequence[str]) -> np.ndarray:
    """Annif's top-10 scores for `texts` as a [rows, len(labels)] matrix (zero where it suggested nothing)."""
    documents = home / "documents.jsonl"
    with open(documents, "w", encoding="utf-8") as out:
        for text in texts:
            out.write(json.dumps({"text": text}) + "\n")
    column = {_uri(label): i for i, label in enumerate(labels)}
    matrix = np.zeros((len(texts), len(labels)), dtype=np.float32)
    with open(index(annif, home, documents), encoding="utf-8") as results:
        for row, line in enumerate(results):
            for suggestion in json.loads(line)["results"]:
                matrix[row, column[suggestion["uri"]]] = suggestion["score"]
    return matrix


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--annif", default="annif", help="the annif command of Annif's own virtualenv")
    commands = parser.add_subparsers(dest="command", required=True)
    fit = commands.add_parser("train", help="train on the training split `mlc train` uses (same preparation and seed)")
    fit.add_argument("data")
    fit.add_argument("home", type=Path)
    run = commands.add_parser("index", help="write one JSONL document per row of a Parquet file, then `annif index`")
    run.add_argument("home", type=Path)
    run.add_argument("input", type=Path)
    run.add_argument("output", type=Path)
    run.add_argument("--text-column", default="abstract")
    args = parser.parse_args()
    if args.command == "train":
        from mlc.pipeline.training_data import ColumnOptions, load_labelled, prepare

        split = prepare(load_labelled(Path(args.data), ColumnOptions(), source=args.data))
        train(args.annif, args.home, split.train.texts, split.train.labels)
    else:
        documents = args.output.with_suffix(".documents.jsonl")
        with open(documents, "w", encoding="utf-8") as out:
            for batch in pq.ParquetFile(args.input).iter_batches(batch_size=8192, columns=[args.text_column]):
                for text in batch.column(0).to_pylist():
                    out.write(json.dumps({"text": text or ""}) + "\n")
        index(args.annif, args.home, documents, limit=3).replace(args.output)
        documents.unlink()


if __name__ == "__main__":
    main()
