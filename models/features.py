"""What every backend's TF-IDF shares, TensorFlow-free: the vectorizer settings by name, which of them the n-gram
paths support, and the vocabulary as word ids plus bigram keys (`ngram_tables`)."""

from __future__ import annotations

from typing import Any

import numpy as np

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


def ngram_settings_supported(settings: dict[str, Any]) -> bool:
    """A TextVectorization configuration the n-gram paths reproduce: Keras's standardize names or mlc's,
    whitespace split, unigrams or uni+bigrams."""
    return (
        standardize_name(settings.get("standardize")) in (*KERAS_STANDARDIZE, SPLIT_PUNCTUATION)
        and settings.get("split") == "whitespace"
        and settings.get("ngrams") in (None, 1, 2, (1, 2), [1, 2])
    )
