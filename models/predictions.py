"""A batch's result as numpy arrays: what every backend's scorer returns and every output is built from."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class Predictions:
    """A batch's named result: the top-k label indices and scores per row, best first, and which labels reach
    their decision threshold."""

    indices: np.ndarray  # int32 [rows, k]
    scores: np.ndarray  # float32 [rows, k]
    above: np.ndarray  # bool [rows, labels]
    terms: np.ndarray | None = None  # int64 [rows, k, n]: vocabulary columns explaining each top label (explain)
    term_weights: np.ndarray | None = None  # float32 [rows, k, n]: their weights, -inf past a row's last term
    against: np.ndarray | None = None  # int64 [rows, k, n]: the columns that lower each top label's logit most
    against_weights: np.ndarray | None = None  # float32 [rows, k, n]: minus their weights, -inf past the last

    def __len__(self) -> int:
        return len(self.indices)

    @classmethod
    def from_outputs(cls, outputs: Sequence[Any]) -> Predictions:
        """From a batch function's arrays or tensors: (scores, indices, above[, terms, weights[, against, ...]])."""
        values, indices, above, *explained = (np.asarray(t) for t in outputs)
        return cls(indices, values, above, *explained)

    @staticmethod
    def concat(parts: Sequence[Predictions]) -> Predictions:
        if len(parts) == 1:
            return parts[0]
        names = [name for name in FIELDS if getattr(parts[0], name) is not None]
        return Predictions(**{name: np.concatenate([getattr(p, name) for p in parts]) for name in names})

    def explanations(self, vocabulary: Sequence[str], row: int) -> list[list[dict[str, Any]]]:
        """One row's `why`: per top label, its terms of positive weight as {"term", "weight"}, largest first."""
        if self.terms is None:
            return []
        return [
            [
                {"term": vocabulary[column], "weight": rounded_weight(weight)}
                for column, weight in zip(self.terms[row, j].tolist(), self.term_weights[row, j].tolist())
                if rounded_weight(weight) > 0
            ]
            for j in range(self.terms.shape[1])
        ]


FIELDS = ("indices", "scores", "above", "terms", "term_weights", "against", "against_weights")
WEIGHT_DECIMALS = 4  # a term's weight as every output writes it: a share of a logit, finer is noise


def rounded_weight(weight: float) -> float:
    return float(np.round(float(weight), WEIGHT_DECIMALS))
