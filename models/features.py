"""TF-IDF features as a sparse tensor: the same numbers as `TextVectorization(output_mode="tf_idf")`, non-zeros only.

An abstract has a few hundred distinct uni- and bigrams out of a vocabulary of 10^4-10^5, so the dense TF-IDF
row is >99% zeros. Keras's own `tf_idf` + `sparse=True` fails (GatherNd) in Keras 3.15/TF 2.21, so we count
sparsely with the same vocabulary and multiply by the adapted layer's IDF weights: exactly the dense values.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from mlc.models.backend import tf_keras


def vectorizer_state(layer: Any) -> tuple[list[str], np.ndarray]:
    """Vocabulary and IDF weights of an adapted (or loaded) `tf_idf` TextVectorization layer."""
    vocabulary = [str(token) for token in layer.get_vocabulary()]
    lookup = getattr(layer, "_lookup_layer", None)
    idf = getattr(lookup, "idf_weights", None)
    if idf is None:
        raise ValueError("the TextVectorization layer carries no IDF weights (not output_mode='tf_idf')")
    idf = np.asarray(idf, dtype=np.float32)[: len(vocabulary)]
    return vocabulary, idf


class SparseTfIdf:
    """Callable `texts (string tensor, shape [n]) -> SparseTensor [n, vocabulary] of TF-IDF values`."""

    def __init__(self, layer: Any) -> None:
        tf, keras = tf_keras()
        config = layer.get_config()
        vocabulary, idf = vectorizer_state(layer)
        self.vocabulary_size = len(vocabulary)
        self.counter = keras.layers.TextVectorization(
            standardize=config["standardize"],
            split=config["split"],
            ngrams=config["ngrams"],
            output_mode="count",
            sparse=True,
            vocabulary=vocabulary,
        )
        self.idf = tf.constant(idf)

    def __call__(self, texts: Any) -> Any:
        tf, _ = tf_keras()
        counts = self.counter(texts)
        columns = counts.indices[:, 1]
        values = tf.gather(self.idf, columns) * tf.cast(counts.values, tf.float32)
        return tf.SparseTensor(counts.indices, values, counts.dense_shape)
