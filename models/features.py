"""TF-IDF features as sparse entries: the numbers of `TextVectorization(output_mode="tf_idf")`, non-zeros only.
`SparseTfIdf` counts with Keras's own layer and is exact (training); `NgramTfIdf`, prediction's path for the
settings `mlc train` writes, looks unigrams up once and finds bigrams by an integer key of two unigram ids."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mlc.models.index_pairs import interleave
from mlc.models.scaling import Scaling, scale_sparse
from mlc.models.tf_runtime import tensorflow, tf_keras

# Keras's own `lower_and_strip_punctuation` pattern (keras/src/layers/preprocessing/text_vectorization.py).
STRIP_PUNCTUATION = r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']'
OOV_COLUMN = 0
# mlc's default standardize: Keras's, except that punctuation becomes a space instead of nothing, so
# "graph-based" is "graph based". Registered as "mlc>lower_and_split_punctuation" (mlc.models.keras_layers).
SPLIT_PUNCTUATION = "lower_and_split_punctuation"
SPLIT_PUNCTUATION_REF = f"mlc>{SPLIT_PUNCTUATION}"
KERAS_STANDARDIZE = ("lower_and_strip_punctuation", "lower", "strip_punctuation", None)


def standardize_name(value: Any) -> Any:
    """A vectorizer's `standardize` as a name: Keras's strings as they are, mlc's function (the callable, or its
    serialized form in a model file) as `SPLIT_PUNCTUATION`; anything else unchanged, so checks reject it."""
    if (
        isinstance(value, dict)
        and value.get("class_name") == "function"
        and value.get("config") == SPLIT_PUNCTUATION_REF
    ):
        return SPLIT_PUNCTUATION
    if (
        callable(value)
        and getattr(value, "__name__", None) == SPLIT_PUNCTUATION
        and getattr(value, "__module__", "").startswith("mlc.")
    ):
        return SPLIT_PUNCTUATION
    return value


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
        from mlc.models.keras_layers import lower_and_split_punctuation

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

    @staticmethod
    def supports(settings: dict[str, Any]) -> bool:
        return (
            standardize_name(settings.get("standardize")) in (*KERAS_STANDARDIZE, SPLIT_PUNCTUATION)
            and settings.get("split") == "whitespace"
            and settings.get("ngrams") in (None, 1, 2, (1, 2), [1, 2])
        )

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


def ngram_tables(vocabulary: list[str]) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """Words (every unigram entry and every part of a bigram entry), each word's unigram column (OOV if the word
    is only part of bigrams), and bigram keys `first id * n_words + second id` with their columns."""
    word_ids: dict[str, int] = {}
    word_columns: list[int] = []

    def word_id(word: str) -> int:
        if word not in word_ids:
            word_ids[word] = len(word_ids)
            word_columns.append(OOV_COLUMN)
        return word_ids[word]

    pairs: list[tuple[str, str, int]] = []
    for column, token in enumerate(vocabulary):
        if column == OOV_COLUMN:
            continue
        parts = token.split(" ")
        if len(parts) == 1:
            word_columns[word_id(token)] = column
        elif len(parts) == 2:
            pairs.append((parts[0], parts[1], column))
        else:
            raise ValueError(f"vocabulary entry {token!r} is neither a word nor a bigram")
    pair_ids = [(word_id(a), word_id(b), column) for a, b, column in pairs]
    n_words = len(word_ids)
    keys = np.array([a * n_words + b for a, b, _ in pair_ids], dtype=np.int64)
    columns = np.array([c for _, _, c in pair_ids], dtype=np.int64)
    return list(word_ids), np.array(word_columns, dtype=np.int64), keys, columns


def _table(tf: Any, keys: Any, values: Any, default: int) -> Any:
    return tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(keys, values), default_value=default)
