"""k-fold cross-validation of prediction quality on labelled data: the Keras example's settings, mlc's defaults and
a scikit-learn baseline (TF-IDF + one-vs-rest logistic regression), on the same folds.

Every mlc model is fitted by `mlc.models.tf_backend.fit.fit`, as `mlc train` fits it, and scored at threshold 0.5, with
thresholds tuned on its validation split alone (`--threshold-folds 0`), and with `mlc train`'s thresholds (the
validation split plus cross-fitted training rows while the split is small). `--variant NAME=VALUE` adds mlc runs
with other `TrainConfig` settings (e.g. `linear_share=0` for the MLP alone).

Rows are prepared as `mlc train` prepares them (dedupe titles, drop label combinations seen once), then split into
k folds stratified by label combination. For each fold the other folds train (mlc keeps 5% of them for
validation and early stopping; scikit-learn trains on all of them) and the fold is scored. Figures are the mean
and standard deviation over folds; `--repeats R` runs the k-fold split R times with other seeds, `--first-repeat F`
starts at repeat F so a long run can go in parts. Two more tables give mlc's defaults minus scikit-learn, and
minus the same model with thresholds from the validation split alone, fold by fold: the mean difference, its
standard error, and in how many folds mlc's defaults were at least as good.

    pip install -e '.[bench]'
    python bench/quality.py ../shared/data/arxiv_abstracts.csv
    python bench/quality.py ../shared/data/arxiv_abstracts.csv --annif /tmp/annif/bin/annif   # Annif too
    python bench/quality.py ../shared/data/arxiv_metadata.jsonl --text-column abstract \
        --labels-column categories --label-sep ' '
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from mlc.models.metrics import evaluate_scores
from mlc.models.splits import combination_key, stratified_folds, stratified_split
from mlc.pipeline.training_data import ColumnOptions, LabelledData, load_labelled

METRICS = ("binary_accuracy", "micro_f1", "macro_f1", "precision@1", "precision@3", "recall@3")
DEFAULT_ROW = (
    "**mlc defaults, `mlc train`'s thresholds (validation split + cross-fitted training rows while it is small)**"
)
VALIDATION_ONLY_ROW = "mlc defaults, thresholds on the validation split alone (`--threshold-folds 0`)"
SKLEARN_ROW = "scikit-learn TF-IDF (1-2 grams, sublinear) + one-vs-rest logistic regression (C=10)"
ANNIF_ROW = "Annif, Omikuji backend with its defaults (threshold 0.5)"


def usable_rows(data: LabelledData) -> list[int]:
    """The rows `mlc train` keeps: first of each title, label combinations seen at least twice."""
    indices = list(range(len(data)))
    if data.titles is not None:
        seen: set[str] = set()
        indices = [i for i in indices if not (data.titles[i] in seen or seen.add(data.titles[i]))]
    counts: dict[str, int] = defaultdict(int)
    for i in indices:
        counts[combination_key(data.labels[i])] += 1
    return [i for i in indices if counts[combination_key(data.labels[i])] > 1]


def mlc_scores(
    train_texts,
    train_labels,
    test_texts,
    seed: int,
    val_share: float = 0.05,
    example: bool = False,
    threshold_folds: int | None = None,
    **overrides,
):
    """Fit as `mlc train` does on these rows. Returns the labels and two (test scores, thresholds, head's share)
    triples: `mlc train`'s (`threshold_folds` None) and `--threshold-folds 0`'s (the validation split alone)."""
    from mlc.models.tf_backend.fit import fit
    from mlc.models.train_config import TrainConfig

    rng = np.random.default_rng(seed)
    rest, val = stratified_split([combination_key(labels) for labels in train_labels], val_share, rng)
    tx, ty = [train_texts[i] for i in rest], [train_labels[i] for i in rest]
    vx, vy = [train_texts[i] for i in val], [train_labels[i] for i in val]
    config = TrainConfig.example(seed=seed, **overrides) if example else TrainConfig(seed=seed, **overrides)
    runs = []
    for folds_asked in (threshold_folds, 0):
        model = fit(tx, ty, vx, vy, config, threshold_folds=folds_asked)
        runs.append((model.scores(test_texts), model.thresholds(), model.metadata.hyperparameters["linear_share"]))
    return model.labels, runs[0], runs[1]


def sklearn_scores(train_texts, train_labels, test_texts):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.preprocessing import MultiLabelBinarizer

    binarizer = MultiLabelBinarizer()
    y = binarizer.fit_transform(train_labels)
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    x = vectorizer.fit_transform(train_texts)
    model = OneVsRestClassifier(LogisticRegression(C=10, max_iter=1000)).fit(x, y)
    return list(binarizer.classes_), model.predict_proba(vectorizer.transform(test_texts))


def _value(text: str) -> int | float | bool | str:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--repeats", type=int, default=1, help="run the k-fold split this many times (seeds seed, seed+1, ...)"
    )
    parser.add_argument(
        "--first-repeat",
        type=int,
        default=0,
        help="number the repeats from here: `--first-repeat 3 --repeats 3` runs repeats 3-5 (fresh folds and seeds), "
        "so a long run can go in parts",
    )
    parser.add_argument("--text-column")
    parser.add_argument("--labels-column")
    parser.add_argument("--label-sep")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=VALUE[,NAME=VALUE]",
        help="also run mlc with these TrainConfig overrides, e.g. dropout=0.5 or weight_decay=0.01",
    )
    parser.add_argument("--with-titles", action="store_true", help="feed 'title. abstract' to every model")
    parser.add_argument(
        "--annif", help="also run Annif (Omikuji) with this annif command, from its own virtualenv (bench/annif_way.py)"
    )
    args = parser.parse_args()
    variants = {v: {k: _value(x) for k, x in (kv.split("=") for kv in v.split(","))} for v in args.variant}

    data = load_labelled(args.data, ColumnOptions(args.text_column, args.labels_column, None, args.label_sep))
    rows = usable_rows(data)
    if args.with_titles:
        if data.titles is None:
            raise SystemExit(f"{args.data}: no title column")
        data.texts = [f"{title}. {text}" for title, text in zip(data.titles, data.texts)]
    keys = [combination_key(data.labels[i]) for i in rows]
    results: dict[str, list[dict]] = defaultdict(list)
    shares: dict[str, list[float]] = defaultdict(list)  # the logistic head's share each mlc run chose
    started = time.perf_counter()
    splits = [
        (repeat, fold, test_positions)
        for repeat in range(args.first_repeat, args.first_repeat + args.repeats)
        for fold, test_positions in enumerate(
            stratified_folds(keys, args.folds, np.random.default_rng(args.seed + 1000 * repeat))
        )
    ]
    for repeat, fold, test_positions in splits:
        seed = args.seed + fold + 1000 * repeat  # repeat 0 keeps the seeds of earlier single runs
        held = set(test_positions)
        train_rows = [rows[p] for p in range(len(rows)) if p not in held]
        test_rows = [rows[p] for p in test_positions]
        train_texts, train_labels = [data.texts[i] for i in train_rows], [data.labels[i] for i in train_rows]
        test_texts, test_labels = [data.texts[i] for i in test_rows], [data.labels[i] for i in test_rows]
        e_labels, (e_scores, e_tuned, _), (e_val_scores, e_val, _) = mlc_scores(
            train_texts, train_labels, test_texts, seed, example=True
        )
        results["the Keras example's model and settings (threshold 0.5)"].append(
            evaluate_scores(test_labels, e_scores, e_labels)
        )
        results["the example's settings, thresholds on the validation split alone"].append(
            evaluate_scores(test_labels, e_val_scores, e_labels, threshold=e_val)
        )
        results["the example's settings, `mlc train`'s thresholds"].append(
            evaluate_scores(test_labels, e_scores, e_labels, threshold=e_tuned)
        )
        labels, (scores, tuned, share), (val_scores, val_tuned, val_share) = mlc_scores(
            train_texts, train_labels, test_texts, seed
        )
        shares[DEFAULT_ROW].append(share)
        shares[VALIDATION_ONLY_ROW].append(val_share)
        results[
            "mlc defaults (punctuation split, sublinear tf, L2 rows, lr 1e-2, dropout 0.5, logistic head), "
            "threshold 0.5"
        ].append(evaluate_scores(test_labels, scores, labels))
        results[VALIDATION_ONLY_ROW].append(evaluate_scores(test_labels, val_scores, labels, threshold=val_tuned))
        results[DEFAULT_ROW].append(evaluate_scores(test_labels, scores, labels, threshold=tuned))
        for name, overrides in variants.items():
            v_labels, (v_scores, v_tuned, v_share), _ = mlc_scores(
                train_texts, train_labels, test_texts, seed, **overrides
            )
            shares[f"mlc {name}, `mlc train`'s thresholds"].append(v_share)
            results[f"mlc {name}, `mlc train`'s thresholds"].append(
                evaluate_scores(test_labels, v_scores, v_labels, threshold=v_tuned)
            )
        sk_labels, sk_scores = sklearn_scores(train_texts, train_labels, test_texts)
        results[SKLEARN_ROW].append(evaluate_scores(test_labels, sk_scores, sk_labels))
        if args.annif:
            import tempfile

            import annif_way

            with tempfile.TemporaryDirectory() as home:
                annif_way.train(args.annif, Path(home), train_texts, train_labels)
                annif_scores = annif_way.scores(args.annif, Path(home), test_texts, sk_labels)
            results[ANNIF_ROW].append(evaluate_scores(test_labels, annif_scores, sk_labels))
        print(
            f"repeat {repeat + 1}/{args.first_repeat + args.repeats}, fold {fold + 1}/{args.folds}: "
            f"{len(train_rows)} train, "
            f"{len(test_rows)} test rows",
            flush=True,
        )

    print(
        f"\n{args.data.name}: {len(rows)} usable rows of {len(data)}, {args.folds}-fold CV x {args.repeats} "
        f"(repeats {args.first_repeat}-{args.first_repeat + args.repeats - 1}), "
        f"seed {args.seed}, {time.perf_counter() - started:.0f} s\n"
    )
    print("| model | " + " | ".join(METRICS) + " |")
    print("| --- |" + " ---: |" * len(METRICS))
    for name, reports in results.items():
        cells = [f"{np.mean([r[m] for r in reports]):.3f} ± {np.std([r[m] for r in reports]):.3f}" for m in METRICS]
        print(f"| {name} | " + " | ".join(cells) + " |")
    print("\nthe logistic head's share chosen by each fold's run (mlc.models.tf_backend.fit.choose_share):")
    for name, chosen in shares.items():
        print(f"  {name.strip('*')}: " + " ".join(f"{s:g}" for s in chosen))
    print(paired_table(results, DEFAULT_ROW, SKLEARN_ROW))
    print(paired_table(results, DEFAULT_ROW, VALIDATION_ONLY_ROW))
    if args.annif:
        print(paired_table(results, DEFAULT_ROW, ANNIF_ROW))


def paired_table(results: dict[str, list[dict]], ours: str, theirs: str) -> str:
    """Ours minus theirs, fold by fold (same rows for both): mean, standard error, folds at least as good."""
    lines = [
        f"\n{ours.strip('*')} minus {theirs}, paired by fold ({len(results[ours])} folds):\n",
        "| metric | mean difference | standard error | folds at least as good |",
        "| --- | ---: | ---: | ---: |",
    ]
    for metric in METRICS:
        differences = np.array([a[metric] - b[metric] for a, b in zip(results[ours], results[theirs])])
        error = differences.std(ddof=1) / np.sqrt(len(differences)) if len(differences) > 1 else float("nan")
        lines.append(
            f"| {metric} | {differences.mean():+.4f} | {error:.4f} | {int((differences >= -1e-12).sum())} of "
            f"{len(differences)} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
