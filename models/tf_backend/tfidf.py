"""TF-IDF features as sparse TensorFlow entries: the numbers of `TextVectorization(output_mode="tf_idf")`, non-zeros
only. `SparseTfIdf` counts with Keras's own layer and is exact (training); `NgramTfIdf`, prediction's path for the
settings `mlc train` writes, looks unigrams up once and finds bigrams by an integer key of two unigram ids."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mlc.models.features import (
    OOV_COLUMN,
    SPLIT_PUNCTUATION,
    STRIP_PUNCTUATION,
    ngram_settings_supported,
    ngram_tables,
    standardize_name,
)
from mlc.models.scaling import Scaling
from mlc.models.tf_backend.index_pairs import interleave
from mlc.models.tf_backend.runtime import tensorflow, tf_keras
from mlc.models.tf_backend.scaling_ops import scale_sparse


def standardize_texts(texts: Any, name: Any) -> Any:
    """The standardize step of TextVectorization for the names `NgramTfIdf` supports, op for op."""
    tf = tensorflow()
    if name in ("lower", "lower_and_strip_punctuation", SPLIT_PUNCTUATION):
        texts = tf.strings.lower(texts)
    if name in ("strip_punctuation", "lower_and_strip_punctuation"):
        texts = tf.strings.regex_replace(texts, STRIP_PUNCTUATION, "")
    if name == SPLIT_PUNCTUATION:
        texts = tf.strings.regex_replace(texts, STRIP_PUNCTUATION, " ")
    return texts


def keras_standardize(value: Any) -> Any:
    """What TextVectorization takes for a `standardize` read from a model file: mlc's function by reference."""
    if standardize_name(value) == SPLIT_PUNCTUATION:
        from mlc.models.tf_backend.keras_layers import lower_and_split_punctuation

        return lower_and_split_punctuation
    return value


class SparseTfIdf:
    """Callable `texts (string tensor, shape [n]) -> SparseTensor [n, vocabulary] of TF-IDF values`."""

    def __init__(
        self, settings: dict[str, Any], vocabulary: list[str], idf: np.ndarray, scaling: Scaling | None = None
    ) -> None:
        tf, keras = tf_keras()
        self.vocabulary_size = len(vocabulary)
        self.scaling = scaling if scaling is not None and scaling.active else None
        self.counter = keras.layers.TextVectorization(
            standardize=keras_standardize(settings["standardize"]),
            split=settings["split"],
            ngrams=settings["ngrams"],
            output_mode="count",
            sparse=True,
            vocabulary=vocabulary,
        )
        self.idf = tf.constant(idf)

    def __call__(self, texts: Any) -> Any:
        tf = tensorflow()
        counts = self.counter(texts)
        columns = counts.indices[:, 1]
        values = tf.gather(self.idf, columns) * tf.cast(counts.values, tf.float32)
        tfidf = tf.SparseTensor(counts.indices, values, counts.dense_shape)
        return tfidf if self.scaling is None else scale_sparse(tfidf, counts.values, self.idf, self.scaling)


@dataclass
class TfIdfEntries:
    """One batch of TF-IDF as entries in row order. Out-of-vocabulary tokens are not entries but a count per row,
    folded into one product, which keeps the float sums as close to the dense model's as the canonical path."""

    rows: Any  # int64 [entries], non-decreasing
    columns: Any  # int64 [entries], vocabulary index >= 1, may repeat within a row
    values: Any  # float32 [entries], the column's IDF (one entry per occurrence)
    oov_counts: Any  # float32 [n], out-of-vocabulary uni- and bigrams per row
    n_rows: Any  # int64 scalar


class NgramTfIdf:
    """Callable `texts -> TfIdfEntries` for a TextVectorization layer whose configuration `supports` accepts."""

    supports = staticmethod(ngram_settings_supported)

    def __init__(self, settings: dict[str, Any], vocabulary: list[str], idf: np.ndarray) -> None:
        tf = tensorflow()
        self.standardize = standardize_name(settings.get("standardize"))
        self.bigrams = settings.get("ngrams") not in (None, 1)
        self.vocabulary_size = len(vocabulary)
        words, word_columns, pair_keys, pair_columns = ngram_tables(vocabulary)
        self.n_words = len(words)
        self.idf = tf.constant(idf)
        self.oov_idf = float(idf[OOV_COLUMN])
        self.words = _table(
            tf,
            tf.constant(words or [""], tf.string),
            tf.constant(np.arange(max(len(words), 1), dtype=np.int64)),
            len(words),
        )
        # word id -> its unigram column; the extra last slot, id n_words, is every unknown word's: the OOV column
        self.word_columns = tf.constant(np.append(word_columns, OOV_COLUMN).astype(np.int64))
        self.pairs = _table(
            tf,
            tf.constant(pair_keys if len(pair_keys) else np.array([-2], np.int64)),
            tf.constant(pair_columns if len(pair_columns) else np.array([OOV_COLUMN], np.int64)),
            OOV_COLUMN,
        )

    def tokens(self, texts: Any) -> Any:
        """The layer's standardize and whitespace split, op for op."""
        return tensorflow().strings.split(standardize_texts(texts, self.standardize))

    def __call__(self, texts: Any) -> TfIdfEntries:
        tf = tensorflow()
        tokens = self.tokens(texts)
        n_rows = tf.shape(texts, out_type=tf.int64)[0]
        rows = tokens.value_rowids()
        ids = self.words.lookup(tokens.flat_values)  # unknown words get id n_words, whose unigram column is OOV
        columns = tf.gather(self.word_columns, ids)
        if self.bigrams:
            # the bigram starting at each token: (id, next id) when the next token is in the same row, else none (-1)
            size = tf.size(ids)
            next_ids = tf.concat([ids[1:], [self.n_words]], 0)[:size]
            has_next = tf.concat([tf.equal(rows[1:], rows[:-1]), [False]], 0)[:size]
            known_pair = (ids < self.n_words) & (next_ids < self.n_words)
            pair_columns = self.pairs.lookup(tf.where(known_pair, ids * self.n_words + next_ids, -1))
            # interleave (unigram, bigram) per token so the entries stay in row order
            columns = interleave(columns, tf.where(has_next, pair_columns, -1))
            rows = interleave(rows, rows)
        unknown = tf.equal(columns, OOV_COLUMN)
        oov_counts = tf.math.unsorted_segment_sum(tf.cast(unknown, tf.float32), rows, tf.cast(n_rows, tf.int32))
        known = tf.reshape(
            tf.where(columns > OOV_COLUMN), [-1]
        )  # one index list for both (boolean_mask twice: two `where`s)
        columns, rows = tf.gather(columns, known), tf.gather(rows, known)
        return TfIdfEntries(rows, columns, tf.gather(self.idf, columns), oov_counts, n_rows)


def _table(tf: Any, keys: Any, values: Any, default: int) -> Any:
    return tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(keys, values), default_value=default)
