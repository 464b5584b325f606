"""The logistic head: its fit reaches the regularised optimum, and folding it into the MLP gives the stated mix of
logits exactly, through Keras and through mlc's sparse prediction path, for unit rows and for raw rows."""

from __future__ import annotations

import numpy as np
import pytest

from mlc.models.keras_file import load_keras_model, vectorizer_settings, write_keras_file
from mlc.models.scaling import Scaling
from mlc.models.targets import label_vocabulary, multi_hot
from mlc.models.tf_backend.internals import vectorizer_state
from mlc.models.tf_backend.logistic_head import fit_logistic, folded_weights
from mlc.models.tf_backend.mlp import ACTIVATIONS, make_mlp, make_vectorizer, vectorize, vocabulary_size
from mlc.models.tf_backend.runtime import tf_keras
from mlc.models.tf_backend.scorer import TfScorer
from mlc.models.tf_backend.sparse_ops import sparse_tensor
from mlc.models.tf_backend.tfidf import SparseTfIdf
from mlc.models.vectorizer import NgramVectorizer, SparseRows
from mlc.models.weights import DenseWeights, ModelWeights
from mlc.pipeline.training_data import ColumnOptions, load_labelled

HOSTILE = [
    "",
    "   ",
    "\x00\x01 \u202e evil",
    "ünïcödé façade – naïve",
    "the the the the",
    "x" * 5000,
    "Graph-based, deep: networks!",
]


@pytest.fixture(scope="module")
def rows(labelled_csv):
    data = load_labelled(labelled_csv, ColumnOptions())
    return data.texts[:240], data.labels[:240], data.texts[240:300]


def _logits(p: np.ndarray) -> np.ndarray:
    p = np.clip(p.astype(np.float64), 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))


def _features(vectorizer, scaling: Scaling) -> SparseTfIdf:
    return SparseTfIdf(vectorizer.get_config(), *vectorizer_state(vectorizer), scaling)


def _rows(vectorizer, scaling: Scaling, texts: list[str]) -> tuple[SparseRows, int]:
    """The texts' TF-IDF rows as training computes them, and their width."""
    settings = vectorizer_settings(vectorizer.get_config())
    features = NgramVectorizer(settings, *vectorizer_state(vectorizer), scaling)
    return vectorize(features, texts), features.width


def _dense_weights(mlp) -> list:
    _, keras = tf_keras()
    return [layer.get_weights() for layer in mlp.layers if isinstance(layer, keras.layers.Dense)]


def _forward(x: np.ndarray, weights: list) -> np.ndarray:
    for i, (kernel, bias) in enumerate(weights):
        x = x @ kernel + bias
        x = np.maximum(x, 0) if i < len(weights) - 1 else 1 / (1 + np.exp(-x))
    return x


def _dense(x) -> np.ndarray:
    """A SparseTensor or (rows, width) as a float64 array."""
    tf, _ = tf_keras()
    x = sparse_tensor(*x) if isinstance(x, tuple) else x
    return tf.sparse.to_dense(x).numpy().astype(np.float64)


def test_fit_reaches_the_optimum_of_the_stated_objective(rows):
    """Gradient of mean BCE + |W|^2 / (2 c n), in float64 at the returned weights, is near zero next to its size
    at 0."""
    tf, _ = tf_keras()
    texts, label_lists, _ = rows
    labels = label_vocabulary(label_lists)
    y = multi_hot(label_lists, labels).astype(np.float64)
    vectorizer = make_vectorizer(texts, vocabulary_size(texts), split_punctuation=True)
    x_sparse = _rows(vectorizer, Scaling(True, True), texts)
    x = _dense(x_sparse)
    c = 10.0
    kernel, bias = fit_logistic(*x_sparse, y, c, steps=2000)

    def gradient(w: np.ndarray, b: np.ndarray) -> np.ndarray:
        residual = (1 / (1 + np.exp(-(x @ w + b))) - y) / len(x)
        return np.concatenate([(x.T @ residual + w / (c * len(x))).ravel(), residual.sum(0)])

    at_zero = np.linalg.norm(gradient(np.zeros_like(kernel, np.float64), np.zeros_like(bias, np.float64)))
    assert np.linalg.norm(gradient(kernel.astype(np.float64), bias.astype(np.float64))) < 1e-3 * at_zero
    assert np.abs(kernel).max() > 0.5  # it learned something: weakly regularised weights are not small


def test_fit_in_chunks_of_rows_matches_the_full_batch(rows, monkeypatch):
    """Above FULL_BATCH_ROWS each step takes one chunk of a shuffled partition of the rows; with chunks of a
    quarter of the rows, the fit lands where the full-batch fit does (same objective, stochastic steps)."""
    import mlc.models.tf_backend.logistic_head as linear

    texts, label_lists, _ = rows
    labels = label_vocabulary(label_lists)
    y = multi_hot(label_lists, labels)
    vectorizer = make_vectorizer(texts, vocabulary_size(texts), split_punctuation=True)
    x = _rows(vectorizer, Scaling(True, True), texts)
    full_kernel, full_bias = fit_logistic(*x, y, 10.0, steps=1000)
    monkeypatch.setattr(linear, "FULL_BATCH_ROWS", 120)
    monkeypatch.setattr(linear, "MIN_CHUNK_ROWS", 60)
    kernel, bias = fit_logistic(*x, y, 10.0, steps=1000, seed=3)
    dense = _dense(x)
    full, chunked = dense @ full_kernel + full_bias, dense @ kernel + bias
    assert np.corrcoef(full.ravel(), chunked.ravel())[0, 1] > 0.99
    assert (full.argmax(1) == chunked.argmax(1)).mean() > 0.95


def test_chunks_partition_the_rows(rows):
    """Every row lands in exactly one chunk, with its own entries and targets."""
    from mlc.models.tf_backend.logistic_head import shuffled_chunks

    texts, label_lists, _ = rows
    labels = label_vocabulary(label_lists)
    y = multi_hot(label_lists, labels)
    x = _rows(make_vectorizer(texts, 3000, split_punctuation=True), Scaling(True, True), texts)
    rng_order = np.random.default_rng(5).permutation(len(texts))
    chunks = shuffled_chunks(x[0], y, 70, np.random.default_rng(5))
    parts = [SparseRows(*(t.numpy() for t in c[:3]), len(c[0]) - 1) for c in chunks]
    assert [part.n_rows for part in parts] == [70, 70, 70, 30]
    stacked = np.vstack([_dense((part, x[1])) for part in parts])
    np.testing.assert_array_equal(stacked, _dense(x)[rng_order])
    np.testing.assert_array_equal(np.vstack([c[3].numpy() for c in chunks]), y[rng_order])


@pytest.mark.parametrize("unit_rows", [True, False])
def test_folded_model_outputs_the_stated_mix_of_logits(rows, unit_rows, tmp_path):
    """Through mlc's sparse scorer and through the saved Keras model alike."""
    tf, _ = tf_keras()
    texts, label_lists, unseen = rows
    labels = label_vocabulary(label_lists)
    scaling = Scaling(True, unit_rows)
    vectorizer = make_vectorizer(texts, vocabulary_size(texts), split_punctuation=True)
    features = _features(vectorizer, scaling)
    mlp = make_mlp(features.vocabulary_size, len(labels), dropout=0.5)  # random weights: the fold is algebra
    rng = np.random.default_rng(0)
    kernel = rng.normal(0, 3, (features.vocabulary_size, len(labels))).astype(np.float32)
    bias = rng.normal(0, 1, len(labels)).astype(np.float32)
    share = 0.3
    folded = folded_weights(_dense_weights(mlp), kernel, bias, share, unit_rows=unit_rows)
    extra = len(labels) * (1 if unit_rows else 2)
    assert [k.shape[1] for k, _ in folded] == [512 + extra, 256 + extra, len(labels)]

    probe = list(unseen) + HOSTILE
    x = features(tf.constant(probe))
    expected = 1 / (
        1 + np.exp(-((1 - share) * _logits(mlp(x, training=False).numpy()) + share * (_dense(x) @ kernel + bias)))
    )
    vocabulary, idf = vectorizer_state(vectorizer)
    weights = ModelWeights(
        vectorizer_settings(vectorizer.get_config()),
        vocabulary,
        idf,
        [DenseWeights(k, b, a) for (k, b), a in zip(folded, ACTIVATIONS)],
        scaling,
    )
    np.testing.assert_allclose(TfScorer(weights).scores(probe), expected, atol=2e-5)
    write_keras_file(weights, tmp_path / "model.keras")
    np.testing.assert_allclose(
        load_keras_model(tmp_path / "model.keras")(tf.constant(probe)).numpy(), expected, atol=2e-5
    )


def test_share_zero_and_one_are_the_mlp_and_the_regression(rows):
    tf, _ = tf_keras()
    texts, label_lists, unseen = rows
    labels = label_vocabulary(label_lists)
    vectorizer = make_vectorizer(texts, vocabulary_size(texts), split_punctuation=True)
    features = _features(vectorizer, Scaling(True, True))
    mlp = make_mlp(features.vocabulary_size, len(labels))
    kernel = np.random.default_rng(1).normal(0, 2, (features.vocabulary_size, len(labels))).astype(np.float32)
    bias = np.zeros(len(labels), np.float32)
    x = features(tf.constant(list(unseen)))
    dense = _dense_weights(mlp)
    np.testing.assert_allclose(_forward(_dense(x), folded_weights(dense, kernel, bias, 0.0)), mlp(x).numpy(), atol=1e-5)
    np.testing.assert_allclose(
        _forward(_dense(x), folded_weights(dense, kernel, bias, 1.0)),
        1 / (1 + np.exp(-(_dense(x) @ kernel))),
        atol=1e-5,
    )
