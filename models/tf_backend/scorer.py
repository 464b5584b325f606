"""The TensorFlow backend's scorer (`mlc.models.scorer.Scorer`): label probabilities from numpy weights on sparse
TF-IDF, the non-zeros only, never the dense `rows x vocabulary` matrix the saved Keras model would build, with the
same probabilities to float rounding. Graph functions inside, numpy at the edges.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from mlc.models.errors import ModelError
from mlc.models.features import OOV_COLUMN
from mlc.models.predictions import Predictions
from mlc.models.tf_backend.index_pairs import stack_pairs
from mlc.models.tf_backend.runtime import (
    device_summary,
    gpu_count,
    limit_op_threads,
    shared_constant,
    tensor_view,
    tensorflow,
)
from mlc.models.tf_backend.scaling_ops import row_scale, sublinear_values
from mlc.models.tf_backend.sparse_ops import (
    count_repeats_by_columns,
    count_repeats_by_rows,
    sparse_matmul,
    sparse_matmul_by_columns,
    sparse_matmul_transposed,
)
from mlc.models.tf_backend.tfidf import NgramTfIdf, SparseTfIdf, TfIdfEntries
from mlc.models.weights import DenseWeights, ModelWeights


def _activations() -> dict[str, Callable[[Any], Any]]:
    tf = tensorflow()
    return {
        "relu": tf.nn.relu,
        "sigmoid": tf.math.sigmoid,
        "tanh": tf.math.tanh,
        "softmax": tf.nn.softmax,
        "linear": lambda x: x,
    }


class TfScorer:
    """`probabilities(texts) -> [n, n_outputs]` for a string tensor, usable inside a tf.data map; `scores` for lists."""

    def __init__(self, weights: ModelWeights) -> None:
        tf = tensorflow()
        settings, vocabulary, idf = weights.vectorizer, weights.vocabulary, weights.idf
        self.n_outputs = weights.n_outputs
        self.scaling = weights.scaling if weights.scaling is not None and weights.scaling.active else None
        self.features = (
            NgramTfIdf(settings, vocabulary, idf)
            if NgramTfIdf.supports(settings)
            else SparseTfIdf(settings, vocabulary, idf, self.scaling)
        )
        self.activations = [d.activation for d in weights.dense]
        self.weights = [
            (shared_constant(d.kernel), tf.constant(d.bias), _activations()[d.activation]) for d in weights.dense
        ]
        if self.weights[0][0].shape[0] != self.features.vocabulary_size:
            raise ModelError("model's first layer does not match its vectorizer's vocabulary size")
        # Column order pays off where kernel rows come from memory far slower than cache (CPUs); a GPU's cuSPARSE
        # product would only transpose the matrix back, so there the batch goes in row order.
        self._by_columns = not gpu_count()
        self._matmul = sparse_matmul_by_columns if self._by_columns else sparse_matmul
        # autograph off: no tensor-dependent Python control flow here, and its source rewrite costs start-up
        self._compiled = tf.function(
            self.probabilities, input_signature=[tf.TensorSpec([None], tf.string)], autograph=False
        )
        self._batch_functions: dict[tuple[Any, ...], Any] = {}

    def device(self) -> str:
        return device_summary()

    @classmethod
    def before_streaming(cls) -> None:
        """Each op on as few threads as keep every core busy while the runner's slices run side by side; TensorFlow
        fixes this when its runtime starts, so before the first tensor."""
        from mlc.models.cores import parallel_batches
        from mlc.models.tf_backend.runner import op_threads

        limit_op_threads(op_threads(parallel_batches()))

    def dense_weights(self) -> list[DenseWeights]:
        """The Dense layers as read-only numpy views of the tensors: no second copy of a wide kernel in memory."""
        return [
            DenseWeights(tensor_view(k), tensor_view(b), name)
            for (k, b, _), name in zip(self.weights, self.activations)
        ]

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
        values, oov_values = self._tf_idf_values(counts, columns, entries.oov_counts)
        if self._by_columns:
            hidden = sparse_matmul_transposed(columns, rows, values, entries.n_rows, kernel)
        else:
            hidden = sparse_matmul(stack_pairs(rows, columns), values, tf.stack([entries.n_rows, width]), kernel)
        hidden += oov_values[:, None] * kernel[OOV_COLUMN][None, :]
        if self.scaling.normalize:
            hidden *= self._row_scales(values, rows, oov_values, entries.n_rows)[:, None]
        return hidden

    def _tf_idf_values(self, counts: Any, columns: Any, oov_counts: Any) -> tuple[Any, Any]:
        """TF-IDF values of merged entries and of each row's out-of-vocabulary count, sublinear if the model is."""
        tf = tensorflow()
        idf = tf.gather(self.features.idf, columns)
        oov_idf = tf.constant(self.features.oov_idf, tf.float32)
        if self.scaling is not None and self.scaling.sublinear:
            oov_values = tf.where(oov_counts > 0, sublinear_values(tf.maximum(oov_counts, 1.0), oov_idf), 0.0)
            return sublinear_values(counts, idf), oov_values
        return idf * counts, oov_idf * oov_counts

    @staticmethod
    def _row_scales(values: Any, rows: Any, oov_values: Any, n_rows: Any) -> Any:
        """1 / each row's L2 norm, its out-of-vocabulary value included."""
        tf = tensorflow()
        squares = tf.math.unsorted_segment_sum(values * values, rows, tf.cast(n_rows, tf.int32))
        return row_scale(squares + oov_values * oov_values)

    def input_entries(self, texts: Any) -> tuple[Any, Any, Any]:
        """The first layer's input as distinct (row, column, value) entries in row order, values as the first layer
        sees them (scaled); out-of-vocabulary n-grams are left out, though they count in a row's norm."""
        tf = tensorflow()
        if isinstance(self.features, SparseTfIdf):
            tfidf = self.features(texts)
            known = tf.reshape(tf.where(tfidf.indices[:, 1] > OOV_COLUMN), [-1])
            indices = tf.gather(tfidf.indices, known)
            return indices[:, 0], indices[:, 1], tf.gather(tfidf.values, known)
        entries = self.features(texts)
        width = tf.constant(self.features.vocabulary_size, tf.int64)
        rows, columns, counts = count_repeats_by_rows(entries.rows, entries.columns, width)
        values, oov_values = self._tf_idf_values(counts, columns, entries.oov_counts)
        if self.scaling is not None and self.scaling.normalize:
            values *= tf.gather(self._row_scales(values, rows, oov_values, entries.n_rows), rows)
        return rows, columns, values

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

    def batch_function(
        self, k: int, thresholds: np.ndarray, explain: int = 0, against: bool = False
    ) -> Callable[[Any], tuple[Any, ...]]:
        """A traceable `texts tensor -> (top-k scores, top-k indices, above-threshold mask[, explanations])` for
        tf.data pipelines (`mlc.models.tf_backend.attributions` for the explanations)."""
        if explain:
            from mlc.models.tf_backend.attributions import explained_top_k_function

            return explained_top_k_function(self, k, thresholds, explain, against=against)
        return self.top_k_function(k, thresholds)

    def predict(
        self, texts: Any, k: int, thresholds: np.ndarray, explain: int = 0, against: bool = False
    ) -> Predictions:
        """One batch through the same graph function batch-predict maps, compiled once per settings."""
        tf = tensorflow()
        key = (k, thresholds.tobytes(), explain, against)
        if key not in self._batch_functions:
            self._batch_functions[key] = tf.function(
                self.batch_function(k, thresholds, explain, against),
                input_signature=[tf.TensorSpec([None], tf.string)],
                autograph=False,
            )
        if hasattr(texts, "to_numpy"):  # an Arrow array
            texts = texts.to_numpy(zero_copy_only=False)
        batch = tf.constant(texts if isinstance(texts, np.ndarray) else list(texts), tf.string)
        return Predictions.from_outputs(self._batch_functions[key](batch))

    def runner(self, k: int, thresholds: np.ndarray, explain: int = 0) -> Any:
        """tf.data's ordered parallel map of the batch function (`mlc.models.tf_backend.runner`)."""
        from mlc.models.tf_backend.runner import LocalRunner, RunnerSettings

        settings = RunnerSettings.for_this_machine()
        return LocalRunner(lambda: self.batch_function(k, thresholds, explain), settings)
