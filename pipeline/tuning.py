"""Decision thresholds for a model just trained: which rows they are tuned on, then `tune_thresholds`.

The validation split alone is the default for large data. Below `CROSS_FIT_BELOW` validation rows the thresholds
are also tuned on cross-fitted scores of every training row (`mlc.models.crossfit`), at the cost of `AUTO_FOLDS`
more training runs on the training split minus a fold: 12.5-14 s -> 31-35 s for `mlc train` on the 800 shared
rows, and cross-validated micro-F1 0.560 -> 0.582 on the shared metadata, 0.741 -> 0.747 on the abstracts
(BENCHMARKS.md, issue 6). The 500-row line (about 10,000 rows of data at the default split) is a judgement, not a
measurement: by then the split holds hundreds of positives of each frequent label, and five more runs would cost
minutes.

The same rows choose the logistic head's share (`mlc.models.linear.SHARES`) unless `--linear-share` fixes it: for
each share the thresholds are tuned as above and the share whose tuned micro-F1 on those rows is highest wins (a tie
goes to the even mix). Against the fixed even mix, paired over 30 folds of the abstracts: P@1 +0.0045 ± 0.0017
(at least as good in 27), micro-F1 +0.0019 ± 0.0016; on the metadata it mostly keeps the even mix (BENCHMARKS.md,
issue 6, session 13). The share is a choice among three, made on hundreds of rows, as the thresholds are.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from mlc.models.linear import PROVISIONAL_SHARE, SHARES
from mlc.models.mixing import LogitParts
from mlc.models.thresholds import Thresholds, micro_f1, tune_thresholds
from mlc.models.train import TrainConfig, multi_hot
from mlc.pipeline.training_data import combination_key, stratified_folds

AUTO_FOLDS = 5
CROSS_FIT_BELOW = 500  # validation rows


@dataclass
class TunedThresholds:
    thresholds: Thresholds
    folds: int  # cross-fitting folds used; 0: the validation split alone
    share: float  # the logistic head's share the thresholds are for (0: no head)
    share_note: str  # how it was chosen


def threshold_folds(requested: int | None, validation_rows: int, training_rows: int) -> int:
    """The folds to cross-fit: `requested` (0 = none), or by default `AUTO_FOLDS` when the validation split is
    small. Never more folds than half the training rows, so every fold and every fold's complement has rows."""
    folds = requested if requested is not None else (AUTO_FOLDS if validation_rows < CROSS_FIT_BELOW else 0)
    if folds == 1 or folds < 0:
        raise ValueError(f"threshold folds must be 0 or at least 2, got {folds}")
    return folds if training_rows >= 2 * folds else 0


def fit_thresholds(
    labels: Sequence[str],
    val_parts: LogitParts,
    train_texts: Sequence[str],
    train_labels: Sequence[Sequence[str]],
    val_texts: Sequence[str],
    val_labels: Sequence[Sequence[str]],
    config: TrainConfig,
    folds: int | None = None,
    on_fold: Callable[[int, int], None] | None = None,
) -> TunedThresholds:
    """The head's share and thresholds for a model with output `labels` and these validation logits (the caller has
    them already): tuned on them, plus out-of-fold logits of the training rows when cross-fitting applies
    (`threshold_folds`)."""
    from mlc.models.crossfit import out_of_fold_logits

    truth = multi_hot(val_labels, labels)
    parts = val_parts
    k = threshold_folds(folds, len(val_texts), len(train_texts))
    where = f"{len(val_texts)} validation rows"
    if k:
        positions = stratified_folds([combination_key(list(l)) for l in train_labels], k, np.random.default_rng(config.seed))
        oof = out_of_fold_logits(train_texts, train_labels, positions, val_texts, val_labels, labels, config, on_fold)
        truth = np.vstack([multi_hot(train_labels, labels), truth])
        parts = LogitParts.stack([oof, parts])
        where = f"out-of-fold scores of {len(train_texts)} training rows ({k} models) and {where}"
    share, tuned, note = choose_share(truth, parts, config.linear_share)
    tuned.note = f"{tuned.note}: {where}"
    return TunedThresholds(tuned, k, share, note)


def choose_share(truth: np.ndarray, parts: LogitParts, fixed: float | None) -> tuple[float, Thresholds, str]:
    """(share, its thresholds, how it was chosen): `fixed` when given, 0 without a head, else the share of `SHARES`
    whose tuned thresholds give the highest micro-F1 on these rows (ties to `PROVISIONAL_SHARE`)."""
    if parts.head is None:
        return 0.0, tune_thresholds(truth, parts.probabilities(0.0)), "no logistic head"
    if fixed is not None:
        return fixed, tune_thresholds(truth, parts.probabilities(fixed)), "set by --linear-share"
    tried = []
    for share in SHARES:
        scores = parts.probabilities(share)
        tuned = tune_thresholds(truth, scores)
        tried.append((micro_f1(truth, scores >= tuned.per_label), -abs(share - PROVISIONAL_SHARE), share, tuned))
    best = max(tried, key=lambda t: t[:2])
    note = "the highest tuned micro-F1 on the tuning rows of " + ", ".join(f"{s}: {m:.4f}" for m, _, s, _ in tried)
    return best[2], best[3], note

