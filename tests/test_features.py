"""The fast n-gram TF-IDF path against Keras's own layer, on texts chosen to break it."""
from __future__ import annotations

import numpy as np
import pytest

from mlc.models.features import NgramTfIdf, SparseTfIdf, _ngram_tables, vectorizer_state

TRAINING = [
    "Deep learning for image segmentation.",
    "Graph neural networks: message passing on graphs!",
    "Image segmentation with deep convolutional networks",
    "Bayesian inference, variational methods and deep learning",
]
HOSTILE = [
    "",
    "   \t\n ",
    "!!! ... ???",
    "deep",
    "deep deep deep deep learning learning",  # repeated uni- and bigrams
    "Deep-Learning; IMAGE (segmentation)",  # punctuation glued to words, mixed case
    "segmentation image deep",  # known words, unknown bigrams
    "zzz unknown qqq words only",
    "Émile Noël naïve résumé αβγ 数学 deep learning",  # non-ASCII (Keras lower-cases ASCII only)
    "deep\u00a0learning\u2028image",  # non-ASCII spaces and a line separator
    "x " * 400,  # long, one OOV word repeated
]


def dense(features, texts, tf) -> np.ndarray:
    """Either path's output as a dense [n, vocabulary] matrix, OOV folded back into column 0."""
    out = features(tf.constant(texts))
    if isinstance(features, SparseTfIdf):
        return tf.sparse.to_dense(tf.sparse.reorder(out)).numpy()
    matrix = np.zeros((len(texts), features.vocabulary_size), np.float64)
    np.add.at(matrix, (out.rows.numpy(), out.columns.numpy()), out.values.numpy())
    matrix[:, 0] += out.oov_counts.numpy() * features.oov_idf
    return matrix


@pytest.fixture(scope="module")
def layer():
    from mlc.models.build import make_vectorizer

    return make_vectorizer(TRAINING, max_tokens=40)


def test_ngram_path_equals_keras_tf_idf(layer):
    from mlc.models.backend import tf_keras

    tf, _ = tf_keras()
    vocabulary, idf = vectorizer_state(layer)
    settings = layer.get_config()
    assert NgramTfIdf.supports(settings)
    fast = NgramTfIdf(settings, vocabulary, idf)
    keras_dense = layer(tf.constant(HOSTILE)).numpy()  # the example's own dense tf_idf output
    np.testing.assert_allclose(dense(fast, HOSTILE, tf), keras_dense, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(dense(SparseTfIdf(settings, vocabulary, idf), HOSTILE, tf), keras_dense, rtol=1e-6, atol=1e-6)
    assert keras_dense[4].sum() > 0 and keras_dense[7, 0] > 0  # the cases are not all empty


def test_empty_batch(layer):
    from mlc.models.backend import tf_keras

    tf, _ = tf_keras()
    vocabulary, idf = vectorizer_state(layer)
    out = NgramTfIdf(layer.get_config(), vocabulary, idf)(tf.constant([], tf.string))
    assert out.rows.shape[0] == 0 and out.oov_counts.shape[0] == 0


def test_ngram_tables_word_only_in_a_bigram_is_oov_as_a_unigram():
    words, word_columns, keys, columns = _ngram_tables(["[UNK]", "deep", "deep learning", "learning deep"])
    assert words == ["deep", "learning"]
    assert list(word_columns) == [1, 0]  # "learning" alone is not in the vocabulary
    n = len(words)
    assert dict(zip(keys.tolist(), columns.tolist())) == {0 * n + 1: 2, 1 * n + 0: 3}


def test_unsupported_settings_fall_back():
    assert not NgramTfIdf.supports({"standardize": "lower", "split": "character", "ngrams": 2})
    assert not NgramTfIdf.supports({"standardize": "lower", "split": "whitespace", "ngrams": 3})
