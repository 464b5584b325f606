"""Label probabilities from numpy weights with TensorFlow, on sparse TF-IDF: the non-zeros only, never the dense
`rows x vocabulary` matrix the saved Keras model would build, with the same probabilities to float rounding.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from mlc.models.errors import ModelError
from mlc.models.features import OOV_COLUMN, NgramTfIdf, SparseTfIdf, TfIdfEntries
from mlc.models.index_pairs import stack_pairs
from mlc.models.scaling import row_scale, sublinear_values
from mlc.models.sparse_ops import (
    count_repeats_by_columns, count_repeats_by_rows, sparse_matmul, sparse_matmul_by_columns, sparse_matmul_transposed,
)
from mlc.models.tf_runtime import gpu_count, tensorflow
from mlc.models.weights import DenseWeights, ModelWeights


def _activations() -> dict[str, Callable[[Any], Any]]:
    tf = tensorflow()
    return {"relu": tf.nn.relu, "sigmoid": tf.math.sigmoid, "tanh": tf.math.tanh, "softmax": tf.nn.softmax, "linear": lambda x: x}


class TfScorer:
    """`probabilities(texts) -> [n, n_outputs]` for a string tensor, usable inside a tf.data map; `scores` for lists."""

    def __init__(self, weights: ModelWeights) -> None:
        tf = tensorflow()
        settings, vocabulary, idf = weights.vectorizer, weights.vocabulary, weights.idf
        self.n_outputs = weights.n_outputs
        self.scaling = weights.scaling if weights.scaling is not None and weights.scaling.active else None
        self.features = NgramTfIdf(settings, vocabulary, idf) if NgramTfIdf.supports(settings) else SparseTfIdf(settings, vocabulary, idf, self.scaling)
        self.activations = [d.activation for d in weights.dense]
        self.weights = [(tf.constant(d.kernel), tf.constant(d.bias), _activations()[d.activation]) for d in weights.dense]
        if self.weights[0][0].shape[0] != self.features.vocabulary_size:
            raise ModelError("model's first layer does not match its vectorizer's vocabulary size")
        # Column order pays off where kernel rows come from memory far slower than cache (CPUs); a GPU's cuSPARSE
        # product would only transpose the matrix back, so there the batch goes in row order.
        self._by_columns = not gpu_count()
        self._matmul = sparse_matmul_by_columns if self._by_columns else sparse_matmul
        # autograph off: no tensor-dependent Python control flow here, and its source rewrite costs start-up
        self._compiled = tf.function(self.probabilities, input_signature=[tf.TensorSpec([None], tf.string)], autograph=False)

    def dense_weights(self) -> list[DenseWeights]:
        """The Dense layers back as numpy arrays (copies of the tensors)."""
        return [DenseWeights(k.numpy(), b.numpy(), name) for (k, b, _), name in zip(self.weights, self.activations)]

    def first_layer(self, texts: Any) -> Any:
        """TF-IDF(texts) @ kernel, without ever forming the dense TF-IDF rows."""
        tf = tensorflow()
        kernel = self.weights[0][0]
        if isinstance(self.features, SparseTfIdf):
            tfidf = self.features(texts)
            return self._matmul(tfidf.indices, tfidf.values, tfidf.dense_shape, kernel)
        entries = self.features(texts)
        if self.scaling is not None:
            return self._scaled_first_layer(entries, kernel)
        indices = stack_pairs(entries.rows, entries.columns)
        shape = tf.stack([entries.n_rows, tf.constant(self.features.vocabulary_size, tf.int64)])
        known = self._matmul(indices, entries.values, shape, kernel)
        unknown = (entries.oov_counts * self.features.oov_idf)[:, None] * kernel[OOV_COLUMN][None, :]
        return unknown + known

    def _scaled_first_layer(self, entries: TfIdfEntries, kernel: Any) -> Any:
        """The same with the model's TfIdfScaling: repeated n-grams merged into counts first (sublinear tf is not
        linear in the count), then `idf * (1 + log count)`, and the row norm applied after the matmul."""
        tf = tensorflow()
        width = tf.constant(self.features.vocabulary_size, tf.int64)
        if self._by_columns:
            columns, rows, counts = count_repeats_by_columns(entries.rows, entries.columns, entries.n_rows, width)
        else:
            rows, columns, counts = count_repeats_by_rows(entries.rows, entries.columns, width)
        idf = tf.gather(self.features.idf, columns)
        oov_idf = tf.constant(self.features.oov_idf, tf.float32)
        if self.scaling.sublinear:
            values = sublinear_values(counts, idf)
            oov_values = tf.where(entries.oov_counts > 0, sublinear_values(tf.maximum(entries.oov_counts, 1.0), oov_idf), 0.0)
        else:
            values, oov_values = idf * counts, oov_idf * entries.oov_counts
        if self._by_columns:
            hidden = sparse_matmul_transposed(columns, rows, values, entries.n_rows, kernel)
        else:
            hidden = sparse_matmul(stack_pairs(rows, columns), values, tf.stack([entries.n_rows, width]), kernel)
        hidden += oov_values[:, None] * kernel[OOV_COLUMN][None, :]
        if self.scaling.normalize:
            squares = tf.math.unsorted_segment_sum(values * values, rows, tf.cast(entries.n_rows, tf.int32))
            hidden *= row_scale(squares + oov_values * oov_values)[:, None]
        return hidden

    def probabilities(self, texts: Any) -> Any:
        """Graph-friendly: string tensor [n] -> float32 tensor [n, n_labels]."""
        tf = tensorflow()
        _, bias, activation = self.weights[0]
        hidden = activation(self.first_layer(texts) + bias)
        for kernel, bias, activation in self.weights[1:]:
            hidden = activation(tf.matmul(hidden, kernel) + bias)
        return hidden

    def scores(self, texts: Sequence[str], batch_size: int = 4096) -> np.ndarray:
        """Probabilities for a Python list of texts, in batches."""
        tf = tensorflow()
        if not len(texts):
            return np.zeros((0, self.n_outputs), dtype=np.float32)
        parts = [
            self._compiled(tf.constant(list(texts[start : start + batch_size]))).numpy()
            for start in range(0, len(texts), batch_size)
        ]
        return np.concatenate(parts)

    def top_k_function(self, k: int, thresholds: np.ndarray) -> Callable[[Any], tuple[Any, Any, Any]]:
        """A traceable function `texts -> (top-k scores, top-k indices, scores >= thresholds)`, for tf.data's map."""
        tf = tensorflow()
        k = min(k, self.n_outputs)
        limits = tf.constant(thresholds, dtype=tf.float32)

        def run(texts: Any) -> tuple[Any, Any, Any]:
            probabilities = self.probabilities(texts)
            top = tf.math.top_k(probabilities, k=k, sorted=True)
            return top.values, top.indices, probabilities >= limits

        # traced as written: autograph's source rewrite of everything this calls would only cost start-up
        return tf.autograph.experimental.do_not_convert(run)
