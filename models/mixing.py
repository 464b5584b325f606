"""The MLP's and the logistic head's logits kept apart, so the head's share can be chosen after training.

`train` folds the head into the MLP's layers at one share (`mlc.models.linear`). Choosing that share on the rows
the thresholds are tuned on needs each part's logit for those rows; the mix is linear in them, so every candidate
share is then a sum, not another model run. Logits, not probabilities: a sigmoid saturates in float32 (1.0 above
a logit of about 17) and would hide the order of the most confident labels.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from mlc.models.archive import DenseWeights, ModelWeights, weights_from_model
from mlc.models.predictor import Predictor
from mlc.models.train import TrainResult

ABSENT_LOGIT = -30.0  # a label a model never saw: probability about 1e-13, below every threshold


@dataclass
class LogitParts:
    """[rows, labels] logits of the MLP and of the head (None: no head was fitted)."""

    mlp: np.ndarray
    head: np.ndarray | None

    def probabilities(self, share: float) -> np.ndarray:
        """The folded model's output at `share`: sigmoid((1 - share) * MLP + share * head)."""
        logits = self.mlp if self.head is None or share == 0 else (1 - share) * self.mlp + share * self.head
        return (1.0 / (1.0 + np.exp(-logits.astype(np.float64)))).astype(np.float32)

    @staticmethod
    def stack(parts: Sequence[LogitParts]) -> LogitParts:
        heads = [p.head for p in parts]
        return LogitParts(np.vstack([p.mlp for p in parts]),
                          None if any(h is None for h in heads) else np.vstack(heads))  # type: ignore[misc]


def logits(weights: ModelWeights, labels: Sequence[str], texts: Sequence[str]) -> np.ndarray:
    """The model's output before its last sigmoid, through the same sparse path as prediction."""
    last = replace(weights.dense[-1], activation="linear")
    return Predictor(replace(weights, dense=[*weights.dense[:-1], last]), labels).predict(list(texts))


def logit_parts(result: TrainResult, texts: Sequence[str]) -> LogitParts:
    """Each part's logits for `texts`, in one pass: the folded weights at share 0 are the MLP alone and at share 1
    the head alone, and they differ only in the output layer, so one output layer of both gives both. Numpy
    weights into a Predictor, no Keras model: TensorFlow keeps every Keras model's variables allocated
    (BENCHMARKS.md, issue 6), and cross-fitting would build two more per fold."""
    weights = weights_from_model(result.model)
    if result.head is None:
        return LogitParts(logits(weights, result.labels, texts), None)
    mlp_only, head_only = result.head.weights(0.0), result.head.weights(1.0)
    both = (np.hstack([mlp_only[-1][0], head_only[-1][0]]), np.concatenate([mlp_only[-1][1], head_only[-1][1]]))
    dense = [DenseWeights(k, b, d.activation) for (k, b), d in zip([*mlp_only[:-1], both], weights.dense)]
    n = len(result.labels)
    out = logits(replace(weights, dense=dense), [*result.labels, *(f"{label} (head)" for label in result.labels)], texts)
    return LogitParts(out[:, :n], out[:, n:])
