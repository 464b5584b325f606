"""Fitting a model end to end: the MLP, the logistic head, the head's share, the decision thresholds.
While the validation split is small, share and thresholds are also tuned on out-of-fold scores of the training
rows, from `AUTO_FOLDS` more models thrown away after: every tuning row is scored by a model that never saw it."""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import numpy as np

from mlc.models.metadata import ModelMetadata, versions
from mlc.models.model import Model
from mlc.models.splits import combination_key, stratified_folds
from mlc.models.targets import label_shares, multi_hot
from mlc.models.tf_backend.logistic_head import (
    ABSENT_LOGIT,
    EVEN_SHARE,
    SHARES,
    LogitParts,
    fit_logistic,
    folded_weights,
    head_units,
    linear_logits,
)
from mlc.models.tf_backend.mlp import EpochHook, MlpFit, StepHook, train_mlp, vectorize
from mlc.models.tf_backend.scorer import TfScorer
from mlc.models.thresholds import Thresholds, micro_f1, tune_thresholds
from mlc.models.train_config import TrainConfig
from mlc.models.vectorizer import NgramVectorizer
from mlc.models.weights import ModelWeights, widened

AUTO_FOLDS = 5
CROSS_FIT_BELOW = 500  # validation rows; a judgement: by then the split holds hundreds of each frequent label
FoldHook = Callable[[int, int], None]


@dataclass
class FittedParts:
    """The MLP and the logistic head fitted on the same rows (head None: `linear_share` 0), before the share is set."""

    mlp: MlpFit
    head: tuple[np.ndarray, np.ndarray] | None  # kernel [vocabulary, labels], bias [labels]
    config: TrainConfig

    def weights(self, share: float) -> ModelWeights:
        """End-to-end weights with the head's logit folded in at `share`."""
        if self.head is None:
            return self.mlp.weights(self.mlp.dense, self.config.scaling)
        folded = folded_weights(self.mlp.dense, *self.head, share, unit_rows=self.config.normalize)
        return self.mlp.weights(folded, self.config.scaling)

    def final_weights(self, share: float) -> ModelWeights:
        """`weights(share)` for the model to keep, its first layer made in the memory of the MLP's first kernel
        where no scorer shares that any more (`widened`), so it is never held twice: the parts are spent."""
        if self.head is None:
            return self.weights(share)
        (k1, b1), *rest = self.mlp.dense
        self.mlp.dense = []
        alone = sys.getrefcount(k1) == 2  # this name and the call's argument: nothing else reads k1
        extra, _ = head_units(*self.head, unit_rows=self.config.normalize)
        first = widened(k1, extra, in_place=alone)
        dense = [(first[:, : k1.shape[1]], b1), *rest]
        del k1
        folded = folded_weights(dense, *self.head, share, unit_rows=self.config.normalize, first=first)
        return self.mlp.weights(folded, self.config.scaling)

    def logit_parts(self, texts: Sequence[str]) -> LogitParts:
        """Each part's logits for `texts`, part by part: the MLP as trained, and the head on the same TF-IDF rows
        (what the folded model computes at share 0 and 1, without a folded copy of the wide first layer)."""
        mlp = _scores(self.mlp.weights(self.mlp.dense, self.config.scaling).with_logits(), texts)
        if self.head is None:
            return LogitParts(mlp, None)
        features = NgramVectorizer(self.mlp.vectorizer, self.mlp.vocabulary, self.mlp.idf, self.config.scaling)
        return LogitParts(mlp, linear_logits(vectorize(features, texts), features.width, *self.head))


def _scores(weights: ModelWeights, texts: Sequence[str]) -> np.ndarray:
    """`weights`' outputs for `texts` from a scorer made for this one call and freed right after: its traced
    function refers back to it, so without a collection its copy of the weights would outlive it."""
    scorer = TfScorer(weights)
    outputs = scorer.scores(list(texts))
    del scorer
    gc.collect()
    return outputs


def fit_parts(
    train_texts: Sequence[str],
    train_labels: Sequence[Sequence[str]],
    val_texts: Sequence[str],
    val_labels: Sequence[Sequence[str]],
    config: TrainConfig,
    on_epoch: EpochHook | None = None,
    on_step: StepHook = lambda step: None,
) -> FittedParts:
    """Train the MLP, then the logistic head on the same TF-IDF rows unless `linear_share` is 0."""
    mlp, rows = train_mlp(train_texts, train_labels, val_texts, val_labels, config, on_epoch, on_step)
    head = None
    if config.linear_share != 0:
        on_step("logistic head")
        targets = multi_hot(train_labels, mlp.labels)
        head = fit_logistic(rows, len(mlp.vocabulary), targets, config.linear_c, seed=config.seed)
    return FittedParts(mlp, head, config)


def fit(
    train_texts: Sequence[str],
    train_labels: Sequence[Sequence[str]],
    val_texts: Sequence[str],
    val_labels: Sequence[Sequence[str]],
    config: TrainConfig = TrainConfig(),
    *,
    threshold_folds: int | None = None,
    on_epoch: EpochHook | None = None,
    on_fold: FoldHook | None = None,
    on_step: StepHook = lambda step: None,
) -> Model:
    """The model `mlc train` saves: MLP and head on the training rows, the head's share and the thresholds tuned on
    the validation rows (plus out-of-fold training rows while the validation split is small, `threshold_folds`)."""
    parts = fit_parts(train_texts, train_labels, val_texts, val_labels, config, on_epoch, on_step)
    labels = parts.mlp.labels
    truth = multi_hot(val_labels, labels)
    logits = parts.logit_parts(val_texts)
    k = cross_fit_folds(threshold_folds, len(val_texts), len(train_texts))
    where = f"{len(val_texts)} validation rows"
    if k:
        positions = stratified_folds(
            [combination_key(row) for row in train_labels], k, np.random.default_rng(config.seed)
        )
        oof = out_of_fold_logits(
            train_texts, train_labels, positions, val_texts, val_labels, labels, config, on_fold, on_step, on_epoch
        )
        truth = np.vstack([multi_hot(train_labels, labels), truth])
        logits = LogitParts.stack([oof, logits])
        where = f"out-of-fold scores of {len(train_texts)} training rows ({k} models) and {where}"
    on_step("thresholds: tuning on " + where)
    share, tuned, share_note = choose_share(truth, logits, config.linear_share)
    metadata = ModelMetadata(
        hyperparameters={**config.as_dict(), "max_tokens": parts.mlp.max_tokens, "ngrams": 2, "linear_share": share},
        linear_share_choice=share_note,
        n_labels=len(labels),
        threshold=tuned.global_threshold,
        thresholds={
            label: round(float(t), 2)
            for label, t, own in zip(labels, tuned.per_label, tuned.tuned)
            if own and round(float(t), 2) != round(tuned.global_threshold, 2)
        },
        threshold_tuning=f"{tuned.note}: {where}",
        threshold_folds=k,
        training={"epochs_run": parts.mlp.epochs_run, "best_epoch": parts.mlp.best_epoch},
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        label_shares=label_shares(train_labels, labels),
        versions=versions(),
    )
    return Model(parts.final_weights(share), labels, metadata, history=parts.mlp.history)


def cross_fit_folds(requested: int | None, validation_rows: int, training_rows: int) -> int:
    """The folds to cross-fit: `requested` (0 = none), or `AUTO_FOLDS` while the validation split is small. Never
    more folds than half the training rows, so every fold and every fold's complement has rows."""
    folds = requested if requested is not None else (AUTO_FOLDS if validation_rows < CROSS_FIT_BELOW else 0)
    if folds == 1 or folds < 0:
        raise ValueError(f"threshold folds must be 0 or at least 2, got {folds}")
    return folds if training_rows >= 2 * folds else 0


def out_of_fold_logits(
    texts: Sequence[str],
    label_lists: Sequence[Sequence[str]],
    folds: Sequence[Sequence[int]],
    val_texts: Sequence[str],
    val_labels: Sequence[Sequence[str]],
    labels: Sequence[str],
    config: TrainConfig,
    on_fold: FoldHook | None = None,
    on_step: StepHook = lambda step: None,
    on_epoch: EpochHook | None = None,
) -> LogitParts:
    """[len(texts), len(labels)] logits of each part: row i scored by the model trained without the fold holding i
    (seed `config.seed + j + 1` for fold j, so it is not the final model's twin)."""
    mlp = np.full((len(texts), len(labels)), ABSENT_LOGIT, dtype=np.float32)
    head = None if config.linear_share == 0 else mlp.copy()
    for j, fold in enumerate(folds):
        on_step(f"thresholds: cross-fitting model {j + 1}/{len(folds)}")
        held = set(fold)
        rest = [i for i in range(len(texts)) if i not in held]
        parts = fit_parts(
            [texts[i] for i in rest],
            [label_lists[i] for i in rest],
            val_texts,
            val_labels,
            replace(config, seed=config.seed + j + 1),
            on_epoch,
        )
        logits = parts.logit_parts([texts[i] for i in fold])
        mlp[list(fold)] = aligned(logits.mlp, parts.mlp.labels, labels, ABSENT_LOGIT)
        if head is not None and logits.head is not None:
            head[list(fold)] = aligned(logits.head, parts.mlp.labels, labels, ABSENT_LOGIT)
        if on_fold is not None:
            on_fold(j + 1, len(folds))
    return LogitParts(mlp, head)


def aligned(
    scores: np.ndarray, from_labels: Sequence[str], to_labels: Sequence[str], absent: float = 0.0
) -> np.ndarray:
    """`scores`' columns reordered to `to_labels`; a label the model did not know scores `absent`."""
    column = {label: j for j, label in enumerate(from_labels)}
    out = np.full((len(scores), len(to_labels)), absent, dtype=np.float32)
    for k, label in enumerate(to_labels):
        if label in column:
            out[:, k] = scores[:, column[label]]
    return out


def choose_share(truth: np.ndarray, parts: LogitParts, fixed: float | None) -> tuple[float, Thresholds, str]:
    """(share, its thresholds, how it was chosen): `fixed` when given, 0 without a head, else the share of `SHARES`
    whose tuned thresholds give the highest micro-F1 on these rows (ties to `EVEN_SHARE`)."""
    if parts.head is None:
        return 0.0, tune_thresholds(truth, parts.probabilities(0.0)), "no logistic head"
    if fixed is not None:
        return fixed, tune_thresholds(truth, parts.probabilities(fixed)), "set by linear_share"
    tried = []
    for share in SHARES:
        scores = parts.probabilities(share)
        tuned = tune_thresholds(truth, scores)
        tried.append((micro_f1(truth, scores >= tuned.per_label), -abs(share - EVEN_SHARE), share, tuned))
    best = max(tried, key=lambda t: t[:2])
    note = "the highest tuned micro-F1 on the tuning rows of " + ", ".join(f"{s}: {m:.4f}" for m, _, s, _ in tried)
    return best[2], best[3], note
