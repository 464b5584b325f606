"""`mlc train` end to end: read and split the data as the example does, fit, score the test split, save."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlc.models.metadata import versions
from mlc.models.metrics import evaluate_scores
from mlc.models.mlp import EpochHook
from mlc.models.model import Model
from mlc.models.targets import label_shares
from mlc.models.train_config import TrainConfig
from mlc.pipeline.readers import regular_file
from mlc.pipeline.training_data import ColumnOptions, file_sha256, load_labelled, prepare, resolve_data


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
    """Prepare the data, fit (`mlc.models.fit`), score the test split at the tuned thresholds and at 0.5, and
    write the model directory with everything recorded in its metadata."""
    started = time.perf_counter()
    path, source = resolve_data(data, quiet=quiet)
    with regular_file(path) as readable:  # a pipe is read once: its bytes are both the data and their hash
        labelled = load_labelled(Path(readable), columns, source=source)
        data_sha256 = file_sha256(Path(readable))
    split = prepare(labelled, test_size=test_size, seed=config.seed)
    model = Model.fit(
        split.train.texts,
        split.train.labels,
        split.validation.texts,
        split.validation.labels,
        config,
        threshold_folds=threshold_folds,
        on_epoch=on_epoch,
        on_fold=on_fold,
    )
    test_scores = model.scores(split.test.texts)
    test_metrics = evaluate_scores(split.test.labels, test_scores, model.labels, threshold=model.thresholds())
    at_half = evaluate_scores(split.test.labels, test_scores, model.labels, threshold=0.5)
    metadata = model.metadata
    metadata.created = datetime.now(UTC).isoformat(timespec="seconds")
    metadata.data = {
        "source": source,
        "sha256": data_sha256,
        "columns": labelled.columns,
        "label_sep": columns.label_sep,
    }
    metadata.steps = split.steps
    fitted = {k: v for k, v in metadata.hyperparameters.items() if k != "ngrams"}
    metadata.hyperparameters = {**fitted, "test_size": test_size, "ngrams": metadata.hyperparameters.get("ngrams")}
    metadata.metrics = {
        "test": {k: v for k, v in test_metrics.items() if k != "per_label"},
        "test_at_0.5": {k: at_half[k] for k in ("micro_f1", "macro_f1", "subset_accuracy")},
    }
    metadata.label_shares = label_shares(split.train.labels, model.labels)
    metadata.versions = versions()
    model.save(model_dir)
    return TrainSummary(
        model_dir=model_dir,
        steps=split.steps,
        metrics=metadata.metrics["test"],
        labels=len(model.labels),
        max_tokens=metadata.hyperparameters["max_tokens"],
        epochs_run=metadata.training["epochs_run"],
        best_epoch=metadata.training["best_epoch"],
        seconds=time.perf_counter() - started,
    )
