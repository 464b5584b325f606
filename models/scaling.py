"""Sublinear term frequency and L2 row normalisation of TF-IDF (scikit-learn's `sublinear_tf=True, norm="l2"`),
the one layer of mlc's own in a saved model: a long abstract or a repeated word no longer dominates the first
layer. The settings live here, TensorFlow-free; the arithmetic and the Keras layer in `mlc.models.tf_backend`."""

from __future__ import annotations

from dataclasses import dataclass

CLASS_NAME = "TfIdfScaling"
REGISTERED_NAME = f"mlc>{CLASS_NAME}"
EPSILON = 1e-12  # as tf.math.l2_normalize: rows of zeros stay zeros


@dataclass(frozen=True)
class Scaling:
    sublinear: bool = True
    normalize: bool = True

    @property
    def active(self) -> bool:
        return self.sublinear or self.normalize
