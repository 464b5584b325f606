"""TfIdfScaling's arithmetic in TensorFlow (`mlc.models.scaling` holds the settings): for the layer, the scorer and
training's sparse rows."""

from __future__ import annotations

from typing import Any

import numpy as np

from mlc.models.scaling import EPSILON, Scaling
from mlc.models.tf_backend.runtime import tensorflow


def sublinear_values(counts: Any, idf: Any) -> Any:
    """`idf * (1 + log(count))`, for entries with count >= 1."""
    tf = tensorflow()
    return idf * (1.0 + tf.math.log(tf.cast(counts, idf.dtype)))


def row_scale(squares_per_row: Any) -> Any:
    """1 / L2 norm per row, from each row's sum of squares (l2_normalize's epsilon)."""
    tf = tensorflow()
    return tf.math.rsqrt(tf.maximum(squares_per_row, EPSILON))


def layer_class() -> Any:
    """The Keras layer class (`mlc.models.tf_backend.keras_layers` imports TensorFlow, so only when needed)."""
    from mlc.models.tf_backend.keras_layers import TfIdfScaling

    return TfIdfScaling


def make_layer(idf: np.ndarray, scaling: Scaling) -> Any:
    """A built layer carrying the vectorizer's IDF weights (it needs them to recover counts)."""
    layer = layer_class()(len(idf), sublinear=scaling.sublinear, normalize=scaling.normalize, name="tfidf_scaling")
    layer.build((None, len(idf)))
    layer.idf.assign(np.asarray(idf, dtype=np.float32))
    return layer


def scale_sparse(tfidf: Any, counts: Any, idf: Any, scaling: Scaling) -> Any:
    """The layer's arithmetic on a canonical SparseTensor of TF-IDF (no duplicate entries) and its counts."""
    tf = tensorflow()
    values = tfidf.values
    if scaling.sublinear:
        values = sublinear_values(counts, tf.gather(idf, tfidf.indices[:, 1]))
    if scaling.normalize:
        rows = tfidf.indices[:, 0]
        squares = tf.math.unsorted_segment_sum(values * values, rows, tf.cast(tfidf.dense_shape[0], tf.int32))
        values = values * tf.gather(row_scale(squares), rows)
    return tf.SparseTensor(tfidf.indices, values, tfidf.dense_shape)
