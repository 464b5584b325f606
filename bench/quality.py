"""k-fold cross-validation of prediction quality on labelled data: the Keras example's settings, mlc's defaults
(same model; punctuation split, sublinear tf + L2 rows, lr 1e-2, dropout 0.5), each at threshold 0.5 and with thresholds tuned on
its validation split, and the scikit-learn baseline of issue 6. `--variant` adds mlc runs with other settings.

Rows are prepared as `mlc train` prepares them (dedupe titles, drop label combinations seen once), then split
into k folds stratified by label combination. For each fold the other folds train (mlc keeps 5% of them for
validation and early stopping; scikit-learn trains on all of them) and the fold is scored. Figures are the
mean and standard deviation over folds.

    pip install -e '.[bench]'
    python bench/quality.py ../shared/data/arxiv_abstracts.csv
    python bench/quality.py ../shared/data/arxiv_metadata.jsonl --text-column abstract --labels-column categories --label-sep ' '
"""
from __future__ import annotations

import argparse
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from mlc.models.metrics import evaluate_scores
from mlc.pipeline.training_data import ColumnOptions, LabelledData, combination_key, load_labelled, stratified_split

METRICS = ("binary_accuracy", "micro_f1", "macro_f1", "precision@1", "precision@3", "recall@3")


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


def folds(keys: list[str], k: int, rng: np.random.Generator) -> list[list[int]]:
    """Positions in k folds; each label combination dealt round-robin after a shuffle."""
    groups: dict[str, list[int]] = defaultdict(list)
    for position, key in enumerate(keys):
        groups[key].append(position)
    out: list[list[int]] = [[] for _ in range(k)]
    offset = 0
    for key in sorted(groups):
        members = groups[key]
        rng.shuffle(members)
        for j, position in enumerate(members):
            out[(offset + j) % k].append(position)
        offset += len(members)
    return out


def mlc_scores(train_texts, train_labels, test_texts, seed: int, val_share: float = 0.05, example: bool = False, **overrides):
    from mlc.models.predictor import Predictor
    from mlc.models.thresholds import tune_thresholds
    from mlc.models.train import TrainConfig, multi_hot, train

    rng = np.random.default_rng(seed)
    rest, val = stratified_split([combination_key(l) for l in train_labels], val_share, rng)
    result = train([train_texts[i] for i in rest], [train_labels[i] for i in rest],
                   [train_texts[i] for i in val], [train_labels[i] for i in val],
                   TrainConfig.example(seed=seed, **overrides) if example else TrainConfig(seed=seed, **overrides))
    predictor = Predictor.from_model(result.model, result.labels)
    val_scores = predictor.predict([train_texts[i] for i in val])
    tuned = tune_thresholds(multi_hot([train_labels[i] for i in val], result.labels), val_scores, min_positives=0)
    return result.labels, predictor.predict(test_texts), tuned.per_label


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
    parser.add_argument("--text-column")
    parser.add_argument("--labels-column")
    parser.add_argument("--label-sep")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=VALUE[,NAME=VALUE]",
                        help="also run mlc with these TrainConfig overrides, e.g. dropout=0.5 or weight_decay=0.01")
    parser.add_argument("--with-titles", action="store_true", help="feed 'title. abstract' to every model")
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
    started = time.perf_counter()
    for fold, test_positions in enumerate(folds(keys, args.folds, np.random.default_rng(args.seed))):
        held = set(test_positions)
        train_rows = [rows[p] for p in range(len(rows)) if p not in held]
        test_rows = [rows[p] for p in test_positions]
        train_texts, train_labels = [data.texts[i] for i in train_rows], [data.labels[i] for i in train_rows]
        test_texts, test_labels = [data.texts[i] for i in test_rows], [data.labels[i] for i in test_rows]
        e_labels, e_scores, e_tuned = mlc_scores(train_texts, train_labels, test_texts, args.seed + fold, example=True)
        results["the Keras example's model and settings (threshold 0.5)"].append(evaluate_scores(test_labels, e_scores, e_labels))
        results["the example's settings, thresholds tuned on a 5% validation split"].append(
            evaluate_scores(test_labels, e_scores, e_labels, threshold=e_tuned))
        labels, scores, tuned = mlc_scores(train_texts, train_labels, test_texts, args.seed + fold)
        results["mlc defaults (punctuation split, sublinear tf, L2 rows, lr 1e-2, dropout 0.5), threshold 0.5"].append(
            evaluate_scores(test_labels, scores, labels))
        results["**mlc defaults, thresholds tuned on its 5% validation split**"].append(
            evaluate_scores(test_labels, scores, labels, threshold=tuned))
        for name, overrides in variants.items():
            v_labels, v_scores, v_tuned = mlc_scores(train_texts, train_labels, test_texts, args.seed + fold, **overrides)
            results[f"mlc {name}, tuned thresholds"].append(evaluate_scores(test_labels, v_scores, v_labels, threshold=v_tuned))
        sk_labels, sk_scores = sklearn_scores(train_texts, train_labels, test_texts)
        results["scikit-learn TF-IDF (1-2 grams, sublinear) + one-vs-rest logistic regression (C=10)"].append(
            evaluate_scores(test_labels, sk_scores, sk_labels))
        print(f"fold {fold + 1}/{args.folds}: {len(train_rows)} train, {len(test_rows)} test rows", flush=True)

    print(f"\n{args.data.name}: {len(rows)} usable rows of {len(data)}, {args.folds}-fold CV, seed {args.seed}, "
          f"{time.perf_counter() - started:.0f} s\n")
    print("| model | " + " | ".join(METRICS) + " |")
    print("| --- |" + " ---: |" * len(METRICS))
    for name, reports in results.items():
        cells = [f"{np.mean([r[m] for r in reports]):.3f} ± {np.std([r[m] for r in reports]):.3f}" for m in METRICS]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
