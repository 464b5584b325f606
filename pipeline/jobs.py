"""`train`, `evaluate` and `info` end to end: read data, call the model code, return a summary to print."""
from __future__ import annotations

import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from mlc.models.archive import check_archive
from mlc.models.bundle import MODEL_FILE, load_bundle, read_metadata, save_bundle
from mlc.models.errors import InputError
from mlc.models.metrics import evaluate_scores
from mlc.models.train import EpochHook, TrainConfig, train
from mlc.pipeline.download import DEFAULT_DATA_URL, fetch, is_url
from mlc.pipeline.training_data import ColumnOptions, file_sha256, load_labelled, prepare


def resolve_data(source: str | None, *, quiet: bool = False) -> tuple[Path, str]:
    """A local path for `--data` (downloaded into the cache when it is a URL or absent) and its display name."""
    source = source or DEFAULT_DATA_URL
    if is_url(source):
        return fetch(source, quiet=quiet), source
    path = Path(source).expanduser()
    if not path.exists():
        raise InputError(f"{source}: no such file")
    return path, source


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in ("mlc", "tensorflow", "keras", "numpy", "pyarrow", "pandas"):
        try:
            found[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            pass
    if "tensorflow" not in found:
        import tensorflow as tf

        found["tensorflow"] = tf.__version__
    return found


@dataclass
class TrainSummary:
    model_dir: Path
    steps: dict[str, int]
    metrics: dict[str, Any]
    labels: int
    max_tokens: int
    epochs_run: int
    best_epoch: int
    seconds: float


def run_train(
    data: str | None,
    model_dir: Path,
    columns: ColumnOptions,
    config: TrainConfig,
    *,
    test_size: float = 0.1,
    quiet: bool = False,
    on_epoch: EpochHook | None = None,
    threshold_folds: int | None = None,
    on_fold: Callable[[int, int], None] | None = None,
) -> TrainSummary:
    """Prepare the data as the example does, train, tune thresholds (`mlc.pipeline.tuning`; `threshold_folds`
    None: cross-fitted on small data), score the test split, write the model directory."""
    started = time.perf_counter()
    path, source = resolve_data(data, quiet=quiet)
    labelled = load_labelled(path, columns, source=source)
    split = prepare(labelled, test_size=test_size, seed=config.seed)
    result = train(
        split.train.texts, split.train.labels, split.validation.texts, split.validation.labels, config, on_epoch
    )
    from mlc.models.mixing import logit_parts
    from mlc.models.predictor import Predictor
    from mlc.pipeline.tuning import fit_thresholds

    fitted = fit_thresholds(result.labels, logit_parts(result, split.validation.texts), split.train.texts,
                            split.train.labels, split.validation.texts, split.validation.labels, config,
                            threshold_folds, on_fold)
    result = result.with_share(fitted.share)
    predictor = Predictor.from_model(result.model, result.labels)
    tuned = fitted.thresholds
    test_scores = predictor.predict(split.test.texts)
    test_metrics = evaluate_scores(split.test.labels, test_scores, result.labels, threshold=tuned.per_label)
    at_half = evaluate_scores(split.test.labels, test_scores, result.labels, threshold=0.5)
    metadata = {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "data": {
            "source": source,
            "sha256": file_sha256(path),
            "columns": labelled.columns,
            "label_sep": columns.label_sep,
        },
        "steps": split.steps,
        "hyperparameters": {**config.as_dict(), "max_tokens": result.max_tokens, "test_size": test_size, "ngrams": 2,
                            "linear_share": fitted.share},
        "linear_share_choice": fitted.share_note,
        "n_labels": len(result.labels),
        # global (maximises micro-F1), and per label with >= MIN_SUPPORT positives where that raises micro-F1;
        # tuned on the validation split, plus cross-fitted training rows when it is small (`threshold_folds`)
        "threshold": tuned.global_threshold,
        "thresholds": {label: round(float(t), 2) for label, t, own in zip(result.labels, tuned.per_label, tuned.tuned)
                       if own and round(float(t), 2) != round(tuned.global_threshold, 2)},
        "threshold_tuning": tuned.note,
        "threshold_folds": fitted.folds,
        "training": {"epochs_run": result.epochs_run, "best_epoch": result.best_epoch},
        "metrics": {
            "test": {k: v for k, v in test_metrics.items() if k != "per_label"},
            "test_at_0.5": {k: at_half[k] for k in ("micro_f1", "macro_f1", "subset_accuracy")},
        },
        "versions": versions(),
    }
    save_bundle(model_dir, result.model, result.labels, metadata, result.history)
    return TrainSummary(
        model_dir=model_dir,
        steps=split.steps,
        metrics=metadata["metrics"]["test"],
        labels=len(result.labels),
        max_tokens=result.max_tokens,
        epochs_run=result.epochs_run,
        best_epoch=result.best_epoch,
        seconds=time.perf_counter() - started,
    )


def run_evaluate(
    data: str,
    model_dirs: Sequence[Path],
    columns: ColumnOptions,
    *,
    threshold: float | None = None,
    ks: Sequence[int] = (1, 3),
) -> list[dict[str, Any]]:
    """Score every labelled row of `data` with each model (the data is read once); one report per model."""
    from mlc.models.predictor import Predictor

    bundles = [load_bundle(model_dir) for model_dir in model_dirs]  # a bad model dir fails before the data is read
    path, source = resolve_data(data)
    # by default, the text column(s) the (first) model was trained on, where the data has them
    labelled = load_labelled(path, columns, source=source, preferred_text=bundles[0].text_columns)
    reports = []
    for model_dir, bundle in zip(model_dirs, bundles):
        scores = Predictor(bundle.weights, bundle.labels).predict(labelled.texts)
        report = evaluate_scores(labelled.labels, scores, bundle.labels, threshold=bundle.thresholds(threshold), ks=ks)
        report["data"] = {"source": source, "columns": labelled.columns, "steps": labelled.steps}
        report["model_dir"] = str(model_dir)
        reports.append(report)
    return reports


def run_info(model_dir: Path) -> dict[str, Any]:
    """What a model directory holds, from its metadata and a quick look at model.keras (no TensorFlow start-up)."""
    metadata, labels = read_metadata(model_dir)
    check_archive(Path(model_dir) / MODEL_FILE)
    return {"model_dir": str(model_dir), "labels": labels, **metadata}
