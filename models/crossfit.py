"""Out-of-fold scores for the training rows, so decision thresholds are tuned on many rows, not on a few.

On small data the validation split is tiny: 27 rows of the 800 shared abstracts, about 60 of the 1,500 metadata
rows. Thresholds tuned there swing from split to split (the global one from 0.11 to 0.31 across five folds of the
metadata). Cross-fitting trains k more models, each on the training rows outside one fold and early-stopped on the
same validation split as the final model, and scores that fold with it: every training row gets a score from a
model that never saw it. Thresholds tuned on those scores plus the final model's validation scores raised
cross-validated micro-F1 from 0.560 to 0.582 on the metadata (BENCHMARKS.md, issue 6). The k models are thrown
away; the saved model is the final one, so prediction costs nothing more. Their MLP's and head's logits are kept
apart (`LogitParts`), so the same rows also choose the head's share.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from mlc.models.mixing import ABSENT_LOGIT, LogitParts, logit_parts
from mlc.models.train import TrainConfig, train


def aligned(scores: np.ndarray, from_labels: Sequence[str], to_labels: Sequence[str], absent: float = 0.0) -> np.ndarray:
    """`scores`' columns reordered to `to_labels`; a label the model did not know scores `absent`."""
    column = {label: j for j, label in enumerate(from_labels)}
    out = np.full((len(scores), len(to_labels)), absent, dtype=np.float32)
    for k, label in enumerate(to_labels):
        if label in column:
            out[:, k] = scores[:, column[label]]
    return out


def out_of_fold_logits(
    texts: Sequence[str],
    label_lists: Sequence[Sequence[str]],
    folds: Sequence[Sequence[int]],
    val_texts: Sequence[str],
    val_labels: Sequence[Sequence[str]],
    labels: Sequence[str],
    config: TrainConfig,
    on_fold: Callable[[int, int], None] | None = None,
) -> LogitParts:
    """[len(texts), len(labels)] logits of each part: row i scored by the model trained without the fold holding
    i. Fold j's model uses seed `config.seed + j + 1`, so it is not the final model's twin."""
    mlp = np.full((len(texts), len(labels)), ABSENT_LOGIT, dtype=np.float32)
    head = None if config.linear_share == 0 else mlp.copy()
    for j, fold in enumerate(folds):
        held = set(fold)
        rest = [i for i in range(len(texts)) if i not in held]
        result = train([texts[i] for i in rest], [label_lists[i] for i in rest], val_texts, val_labels,
                       replace(config, seed=config.seed + j + 1))
        parts = logit_parts(result, [texts[i] for i in fold])
        mlp[list(fold)] = aligned(parts.mlp, result.labels, labels, ABSENT_LOGIT)
        if head is not None and parts.head is not None:
            head[list(fold)] = aligned(parts.head, result.labels, labels, ABSENT_LOGIT)
        if on_fold is not None:
            on_fold(j + 1, len(folds))
    return LogitParts(mlp, head)
