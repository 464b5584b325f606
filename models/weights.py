"""A fitted model's weights as numpy arrays: what every backend scores with and `model.keras` is built from."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from mlc.models.scaling import Scaling

ACTIVATIONS = ("relu", "sigmoid", "linear", "tanh", "softmax")


@dataclass
class DenseWeights:
    kernel: np.ndarray  # [inputs, units] float32
    bias: np.ndarray  # [units] float32
    activation: str


@dataclass
class ModelWeights:
    """The vectorizer's settings, vocabulary and IDF, the TF-IDF scaling, and the Dense stack."""

    vectorizer: dict[str, Any]  # standardize (by name), split, ngrams, output_mode, max_tokens
    vocabulary: list[str]
    idf: np.ndarray
    dense: list[DenseWeights]
    scaling: Scaling | None = None  # None: raw TF-IDF (the example's)

    @property
    def n_outputs(self) -> int:
        return int(self.dense[-1].kernel.shape[1])

    def with_logits(self) -> ModelWeights:
        """The same model without its last sigmoid: it outputs logits."""
        return replace(self, dense=[*self.dense[:-1], replace(self.dense[-1], activation="linear")])
