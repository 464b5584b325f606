"""Decision thresholds for a model just trained: which rows they are tuned on, then `tune_thresholds`.

The validation split alone is the default for large data. Below `CROSS_FIT_BELOW` validation rows the thresholds
are also tuned on cross-fitted scores of every training row (`mlc.models.crossfit`), at the cost of `AUTO_FOLDS`
more training runs of the same size minus a fold: seconds on a few thousand rows, and what moved cross-validated
micro-F1 on the shared metadata from 0.560 to 0.580 (BENCHMARKS.md, issue 6). At 500 validation rows (about
10,000 rows of data at the default split) the split alone holds enough positives; above it the extra runs would
cost minutes for little.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from mlc.models.thresholds import Thresholds, tune_thresholds
from mlc.models.train import TrainConfig, TrainResult, multi_hot
from mlc.pipeline.training_data import combination_key, stratified_folds

AUTO_FOLDS = 5
CROSS_FIT_BELOW = 500  # validation rows


@dataclass
class TunedThresholds:
    thresholds: Thresholds
    folds: int  # cross-fitting folds used; 0: the validation split alone
    rows: int  # rows the thresholds were tuned on


def threshold_folds(requested: int | None, validation_rows: int, training_rows: int) -> int:
    """The folds to cross-fit: `requested` (0 = none), or by default `AUTO_FOLDS` when the validation split is
    small. Never more folds than half the training rows, so every fold and every fold's complement has rows."""
    folds = requested if requested is not None else (AUTO_FOLDS if validation_rows < CROSS_FIT_BELOW else 0)
    if folds == 1 or folds < 0:
        raise ValueError(f"threshold folds must be 0 or at least 2, got {folds}")
    return folds if training_rows >= 2 * folds else 0


def fit_thresholds(
    result: TrainResult,
    train_texts: Sequence[str],
    train_labels: Sequence[Sequence[str]],
    val_texts: Sequence[str],
    val_labels: Sequence[Sequence[str]],
    config: TrainConfig,
    folds: int | None = None,
    on_fold: Callable[[int, int], None] | None = None,
) -> TunedThresholds:
    """Thresholds for `result`'s model: tuned on its validation scores, plus out-of-fold scores of the training
    rows when cross-fitting applies (`threshold_folds`)."""
    from mlc.models.crossfit import out_of_fold_scores
    from mlc.models.predictor import Predictor

    truth = multi_hot(val_labels, result.labels)
    scores = Predictor.from_model(result.model, result.labels).predict(list(val_texts))
    k = threshold_folds(folds, len(val_texts), len(train_texts))
    where = f"{len(val_texts)} validation rows"
    if k:
        positions = stratified_folds([combination_key(list(l)) for l in train_labels], k, np.random.default_rng(config.seed))
        oof = out_of_fold_scores(train_texts, train_labels, positions, val_texts, val_labels, result.labels, config, on_fold)
        truth = np.vstack([multi_hot(train_labels, result.labels), truth])
        scores = np.vstack([oof, scores])
        where = f"out-of-fold scores of {len(train_texts)} training rows ({k} models) and {where}"
    tuned = tune_thresholds(truth, scores)
    tuned.note = f"{tuned.note}: {where}"
    return TunedThresholds(tuned, k, len(truth))
