"""Explanations: are they faithful, and what do they cost?

`faithfulness DATA`: fit the default model on half of a labelled file (prepared as `mlc train` prepares it) and,
on the held-out half, delete each row's 3 explained n-grams for its top label from its TF-IDF row (the row then
scaled to unit length again, as the model scales any row) and, separately, 3 of its n-grams drawn at random. A
faithful explanation lowers the label's score more than the random deletion in most rows.

`cost MODEL_DIR INPUT.parquet`: `mlc batch-predict` with and without `--explain 5`, alternated, in the same run;
the median of each and their ratio (rows/s, peak RSS).

    python bench/explain.py faithfulness ../shared/data/arxiv_abstracts.csv
    python bench/explain.py cost runs/arxiv /tmp/corpus_100k.parquet --repeat 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DELETED = 3


def scores_without(model, texts: list[str], deleted: list[list[int]]) -> np.ndarray:
    """Each row's probabilities with the entries at `deleted` (positions in its own entry list) taken out of its
    TF-IDF row, the rest scaled to unit length again; numpy from the first layer's output on."""
    from mlc.models.tf_backend.runtime import tensorflow

    tf = tensorflow()
    scorer = model.scorer
    batch = tf.constant(texts)
    first = scorer.first_layer(batch).numpy()  # x @ kernel, x of unit length
    rows, columns, values = (t.numpy() for t in scorer.input_entries(batch))
    kernel = scorer.weights[0][0].numpy()
    normalized = model.weights.scaling is not None and model.weights.scaling.normalize
    starts = np.searchsorted(rows, np.arange(len(texts)))
    for row, positions in enumerate(deleted):
        entries = starts[row] + np.asarray(positions, dtype=np.int64)
        first[row] -= values[entries] @ kernel[columns[entries]]
        if normalized:
            first[row] /= np.sqrt(max(1.0 - float(np.sum(values[entries] ** 2)), 1e-12))
    hidden = first
    for layer, (weight, bias, _) in enumerate(scorer.weights):
        if layer:
            hidden = hidden @ weight.numpy()
        hidden = hidden + bias.numpy()
        if layer < len(scorer.weights) - 1:
            hidden = np.maximum(hidden, 0.0)
    return 1.0 / (1.0 + np.exp(-hidden))


def faithfulness(
    data: Path, seed: int, draws: int, text_column: str | None, labels_column: str | None, label_sep: str | None
) -> None:
    from mlc.models.model import Model
    from mlc.models.tf_backend.runtime import tensorflow
    from mlc.models.train_config import TrainConfig
    from mlc.pipeline.training_data import ColumnOptions, load_labelled, prepare

    tf = tensorflow()
    split = prepare(
        load_labelled(data, ColumnOptions(text_column, labels_column, None, label_sep)), test_size=0.5, seed=seed
    )
    model = Model.fit(
        split.train.texts, split.train.labels, split.validation.texts, split.validation.labels, TrainConfig(seed=seed)
    )
    texts = [t for t in split.test.texts if t.strip()]
    predictions = model.predict_batch(texts, k=1, explain=DELETED)
    rows, columns, _ = (t.numpy() for t in model.scorer.input_entries(tf.constant(texts)))
    starts = np.searchsorted(rows, np.arange(len(texts) + 1))
    top = predictions.indices[:, 0]
    base = predictions.scores[:, 0]
    explained, drawn = [], [[] for _ in range(draws)]
    rng = np.random.default_rng(seed)
    usable = []
    for row in range(len(texts)):
        own = columns[starts[row] : starts[row + 1]]
        chosen = [c for c, w in zip(predictions.terms[row, 0], predictions.term_weights[row, 0]) if np.isfinite(w)]
        if len(own) <= DELETED or len(chosen) < DELETED:
            continue
        usable.append(row)
        explained.append([int(np.flatnonzero(own == c)[0]) for c in chosen])
        for draw in range(draws):
            drawn[draw].append(rng.choice(len(own), size=DELETED, replace=False).tolist())
    subset = [texts[r] for r in usable]
    picked = np.array([top[r] for r in usable])
    start = np.array([base[r] for r in usable])
    unchanged = scores_without(model, subset, [[] for _ in subset])[np.arange(len(usable)), picked]
    np.testing.assert_allclose(unchanged, start, atol=1e-4)  # the numpy path scores as the model does
    explained_drop = start - scores_without(model, subset, explained)[np.arange(len(usable)), picked]
    random_drops = np.stack([start - scores_without(model, subset, d)[np.arange(len(usable)), picked] for d in drawn])
    wins = explained_drop[None, :] > random_drops
    print(
        f"{data.name}: model fitted on {len(split.train.texts)} rows; {len(usable)} held-out rows with more than "
        f"{DELETED} n-grams; {draws} random draws per row\n"
    )
    print("| deleted from the row | mean drop of the top label's score | median drop |")
    print("| --- | ---: | ---: |")
    print(f"| its 3 explained n-grams | {explained_drop.mean():.4f} | {np.median(explained_drop):.4f} |")
    print(f"| 3 of its n-grams at random | {random_drops.mean():.4f} | {np.median(random_drops):.4f} |")
    per_draw = wins.mean(axis=1)
    print(
        f"\nrows where the explained deletion lowers the score more: {wins.mean():.1%} "
        f"(per draw {per_draw.min():.1%} to {per_draw.max():.1%})"
    )


def cost(model_dir: Path, source: Path, repeat: int) -> None:
    import pyarrow.parquet as pq

    sys.path.insert(0, str(HERE))
    from batch_predict import machine, median_run

    rows = pq.ParquetFile(source).metadata.num_rows
    runs: dict[str, list[tuple[float, float]]] = {"plain": [], "explain": []}
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "out.parquet"
        command = [
            sys.executable,
            "-m",
            "mlc.cli.app",
            "batch-predict",
            str(source),
            "-m",
            str(model_dir),
            "-o",
            str(out),
            "--quiet",
            "--force",
        ]
        for _ in range(repeat):
            runs["plain"].append(median_run(command, 1))
            runs["explain"].append(median_run([*command, "--explain", "5"], 1))
    seconds = {name: statistics.median(s for s, _ in values) for name, values in runs.items()}
    rss = {name: statistics.median(r for _, r in values) for name, values in runs.items()}
    print(f"{rows:,} rows, model {model_dir}, {repeat} alternated runs each, medians\n")
    print("| run | seconds | rows/s | peak RSS (MB) |")
    print("| --- | ---: | ---: | ---: |")
    for name, label in (("plain", "batch-predict"), ("explain", "batch-predict --explain 5")):
        print(f"| {label} | {seconds[name]:.1f} | {rows / seconds[name]:,.0f} | {rss[name]:,.0f} |")
    print(
        f"\n--explain 5 / plain: rows/s {seconds['plain'] / seconds['explain']:.2f}x, peak RSS "
        f"{rss['explain'] / rss['plain']:.2f}x\nmachine: {machine()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    faithful = commands.add_parser("faithfulness")
    faithful.add_argument("data", type=Path)
    faithful.add_argument("--seed", type=int, default=42)
    faithful.add_argument("--draws", type=int, default=10, help="random deletions per row")
    faithful.add_argument("--text-column")
    faithful.add_argument("--labels-column")
    faithful.add_argument("--label-sep")
    costs = commands.add_parser("cost")
    costs.add_argument("model_dir", type=Path)
    costs.add_argument("input", type=Path)
    costs.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.command == "faithfulness":
        faithfulness(args.data, args.seed, args.draws, args.text_column, args.labels_column, args.label_sep)
    else:
        cost(args.model_dir, args.input, args.repeat)


if __name__ == "__main__":
    main()
