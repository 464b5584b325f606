"""What every backend's TF-IDF shares, TensorFlow-free: the vectorizer settings by name, which of them the n-gram
paths support, and the vocabulary as word ids plus bigram keys (`ngram_tables`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# Keras's own `lower_and_strip_punctuation` pattern (keras/src/layers/preprocessing/text_vectorization.py).
STRIP_PUNCTUATION = r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']'
OOV_COLUMN = 0
# mlc's default standardize: Keras's, except that punctuation becomes a space instead of nothing, so
# "graph-based" is "graph based". Registered as "mlc>lower_and_split_punctuation" (mlc.models.tf_backend.keras_layers).
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


def ngram_tables(vocabulary: list[str]) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """Words (every unigram entry and every part of a bigram entry, in order of first appearance), each word's
    unigram column (OOV if the word is only part of bigrams), and bigram keys `first id * n_words + second id` with
    their columns. Arrow's kernels, not a Python loop: a process that scores pays this at start-up."""
    columns = np.arange(OOV_COLUMN + 1, len(vocabulary), dtype=np.int64)
    parts = pc.split_pattern(pa.array(vocabulary[OOV_COLUMN + 1 :], pa.large_string()), " ")
    lengths = pc.list_value_length(parts).to_numpy(zero_copy_only=False)
    if len(lengths) and lengths.max() > 2:
        raise ValueError(
            f"vocabulary entry {vocabulary[int(columns[np.argmax(lengths > 2)])]!r} is neither a word nor a bigram"
        )
    flat = pc.list_flatten(parts)
    words = pc.unique(flat)
    ids = pc.index_in(flat, value_set=words).to_numpy(zero_copy_only=False).astype(np.int64)
    starts = (np.cumsum(lengths) - lengths).astype(np.int64)  # each entry's first part in `flat`
    unigram = lengths == 1
    word_columns = np.full(len(words), OOV_COLUMN, dtype=np.int64)
    word_columns[ids[starts[unigram]]] = columns[unigram]
    n_words = len(words)
    keys = ids[starts[~unigram]] * n_words + ids[starts[~unigram] + 1]
    return words.to_pylist(), word_columns, keys, columns[~unigram]


def ngram_settings_supported(settings: dict[str, Any]) -> bool:
    """A TextVectorization configuration the n-gram paths reproduce: Keras's standardize names or mlc's,
    whitespace split, unigrams or uni+bigrams."""
    return (
        standardize_name(settings.get("standardize")) in (*KERAS_STANDARDIZE, SPLIT_PUNCTUATION)
        and settings.get("split") == "whitespace"
        and settings.get("ngrams") in (None, 1, 2, (1, 2), [1, 2])
    )
