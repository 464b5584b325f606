"""Decision thresholds for a model just trained: which rows they are tuned on, then `tune_thresholds`.

The validation split alone is the default for large data. Below `CROSS_FIT_BELOW` validation rows the thresholds
are also tuned on cross-fitted scores of every training row (`mlc.models.crossfit`), at the cost of `AUTO_FOLDS`
more training runs on the training split minus a fold: 12.5-14 s -> 31-35 s for `mlc train` on the 800 shared
rows, and cross-validated micro-F1 0.560 -> 0.582 on the shared metadata, 0.741 -> 0.747 on the abstracts
(BENCHMARKS.md, issue 6). The 500-row line (about 10,000 rows of data at the default split) is a judgement, not a
measurement: by then the split holds hundreds of positives of each frequent label, and five more runs would cost
minutes.
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


def threshold_folds(requested: int | None, validation_rows: int, training_rows: int) -> int:
    """The folds to cross-fit: `requested` (0 = none), or by default `AUTO_FOLDS` when the validation split is
    small. Never more folds than half the training rows, so every fold and every fold's complement has rows."""
    folds = requested if requested is not None else (AUTO_FOLDS if validation_rows < CROSS_FIT_BELOW else 0)
    if folds == 1 or folds < 0:
        raise ValueError(f"threshold folds must be 0 or at least 2, got {folds}")
    return folds if training_rows >= 2 * folds else 0


def fit_thresholds(
    labels: Sequence[str],
    val_scores: np.ndarray,
    train_texts: Sequence[str],
    train_labels: Sequence[Sequence[str]],
    val_texts: Sequence[str],
    val_labels: Sequence[Sequence[str]],
    config: TrainConfig,
    folds: int | None = None,
    on_fold: Callable[[int, int], None] | None = None,
) -> TunedThresholds:
    """Thresholds for a model with output `labels` and these validation scores (the caller has them already):
    tuned on them, plus out-of-fold scores of the training rows when cross-fitting applies (`threshold_folds`)."""
    from mlc.models.crossfit import out_of_fold_scores

    truth = multi_hot(val_labels, labels)
    scores = val_scores
    k = threshold_folds(folds, len(val_texts), len(train_texts))
    where = f"{len(val_texts)} validation rows"
    if k:
        positions = stratified_folds([combination_key(list(l)) for l in train_labels], k, np.random.default_rng(config.seed))
        oof = out_of_fold_scores(train_texts, train_labels, positions, val_texts, val_labels, labels, config, on_fold)
        truth = np.vstack([multi_hot(train_labels, labels), truth])
        scores = np.vstack([oof, scores])
        where = f"out-of-fold scores of {len(train_texts)} training rows ({k} models) and {where}"
    tuned = tune_thresholds(truth, scores)
    tuned.note = f"{tuned.note}: {where}"
    return TunedThresholds(tuned, k)
