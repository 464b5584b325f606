"""mlc's defaults on bench/quality.py's folds, fold by fold, to compare two source trees (or package sets) paired:
the same test rows for both, so the difference is the training's, not the folds'.

Each run fits the defaults (`mlc train`'s thresholds) on every fold of `--repeats` repeats and writes the per-fold
metrics as JSON; `--compare` reads two such files (checking the folds are the same rows) and prints the paired
table: mean difference, its standard error, and in how many folds the second was at least as good.

    python bench/quality_pair.py ../shared/data/arxiv_abstracts.csv --out /tmp/now.json
    PYTHONPATH=/tmp/old_tree_parent python bench/quality_pair.py ../shared/data/arxiv_abstracts.csv --out /tmp/old.json
    python bench/quality_pair.py --compare /tmp/old.json /tmp/now.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import numpy as np
from quality import METRICS, usable_rows

import mlc
from mlc.models.metrics import evaluate_scores
from mlc.models.splits import combination_key, stratified_folds, stratified_split
from mlc.pipeline.training_data import ColumnOptions, load_labelled


def run(data_path: Path, out: Path, repeats: int, folds: int, seed: int) -> None:
    from mlc.models.tf_backend.fit import fit
    from mlc.models.train_config import TrainConfig

    data = load_labelled(data_path, ColumnOptions())
    rows = usable_rows(data)
    keys = [combination_key(data.labels[i]) for i in rows]
    results, started = [], time.perf_counter()
    for repeat in range(repeats):
        for fold, test_positions in enumerate(
            stratified_folds(keys, folds, np.random.default_rng(seed + 1000 * repeat))
        ):
            fold_seed = seed + fold + 1000 * repeat  # as bench/quality.py seeds its mlc runs
            held = set(test_positions)
            train_rows = [rows[p] for p in range(len(rows)) if p not in held]
            test_rows = [rows[p] for p in test_positions]
            texts, labels = [data.texts[i] for i in train_rows], [data.labels[i] for i in train_rows]
            rest, val = stratified_split([combination_key(x) for x in labels], 0.05, np.random.default_rng(fold_seed))
            model = fit(
                [texts[i] for i in rest],
                [labels[i] for i in rest],
                [texts[i] for i in val],
                [labels[i] for i in val],
                TrainConfig(seed=fold_seed),
            )
            truth, scores = [data.labels[i] for i in test_rows], model.scores([data.texts[i] for i in test_rows])
            report = evaluate_scores(truth, scores, model.labels, threshold=model.thresholds())
            entry = {m: float(report[m]) for m in METRICS}
            entry["test_rows"] = hashlib.sha256(str(sorted(test_rows)).encode()).hexdigest()[:16]
            results.append(entry)
            print(
                f"repeat {repeat + 1}/{repeats}, fold {fold + 1}/{folds}: micro-F1 {entry['micro_f1']:.4f}", flush=True
            )
    out.write_text(json.dumps({"tree": str(Path(mlc.__file__).parent), "folds": results}, indent=1))
    print(f"{len(results)} folds in {time.perf_counter() - started:.0f} s -> {out}")


def compare(before: Path, after: Path) -> None:
    a, b = (json.loads(path.read_text())["folds"] for path in (before, after))
    if [x["test_rows"] for x in a] != [x["test_rows"] for x in b]:
        raise SystemExit("the two runs scored different folds")
    print(f"{after.name} minus {before.name}, paired by fold ({len(a)} folds):\n")
    print("| metric | before | after | mean difference | standard error | folds after >= before |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for metric in METRICS:
        x, y = np.array([f[metric] for f in a]), np.array([f[metric] for f in b])
        d = y - x
        error = d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else float("nan")
        print(
            f"| {metric} | {x.mean():.4f} | {y.mean():.4f} | {d.mean():+.4f} | {error:.4f} | "
            f"{int((d >= -1e-12).sum())} of {len(d)} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path, nargs="?")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--repeats", type=int, default=6)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("BEFORE", "AFTER"))
    args = parser.parse_args()
    if args.compare:
        compare(*args.compare)
    elif args.data and args.out:
        run(args.data, args.out, args.repeats, args.folds, args.seed)
    else:
        parser.error("give DATA and --out, or --compare BEFORE AFTER")


if __name__ == "__main__":
    main()
