"""The vocabulary and IDF weights that Keras's `TextVectorization(output_mode="tf_idf").adapt` learns, computed
with numpy and pyarrow: the same n-grams, the same order (count, then the token's bytes, both descending), the
same IDF. Counting runs in chunks of rows, so memory follows the distinct n-grams, not the corpus."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlc.models.errors import InputError
from mlc.models.vectorizer import Tokenizer, positions_in, text_array

OOV_TOKEN = "[UNK]"
CHUNK_ROWS = 16_384


def learn_vocabulary(
    texts: Sequence[str] | pa.Array, settings: dict[str, Any], max_tokens: int | None, chunk_rows: int = CHUNK_ROWS
) -> tuple[list[str], np.ndarray]:
    """(vocabulary with `OOV_TOKEN` first, float32 IDF with the OOV weight first) for these vectorizer settings:
    the `max_tokens - 1` most frequent n-grams, IDF `log(1 + documents / (1 + documents holding it))`, and the OOV
    weight the mean of the others, as Keras pads it."""
    tokenize = Tokenizer(settings.get("standardize"))
    bigrams = settings.get("ngrams") not in (None, 1)
    array = text_array(texts)
    starts = range(0, len(array), max(chunk_rows, 1))
    words = pa.chunked_array([tokenize(array[i : i + chunk_rows])[0].unique() for i in starts], pa.large_binary())
    words = words.unique()  # every word once: n-gram keys are integers from here on
    n_words = max(len(words), 1)
    rows_per_key = max(1, min(chunk_rows, 2**62 // ((n_words + 1) * n_words)))  # (n-gram, row) keys fit 64 bits
    parts = [
        ngram_counts(tokenize(array[i : i + rows_per_key]), words, bigrams) for i in range(0, len(array), rows_per_key)
    ]
    keys, count, documents = merged(parts)
    oov = positions_in(pa.array([OOV_TOKEN.encode()], pa.large_binary()), words)[0]
    keep = (keys != oov) | (oov == len(words))  # Keras drops its own OOV token from the counts
    keys, count, documents = keys[keep], count[keep], documents[keep]
    if len(keys) == 0:
        raise InputError("no training text holds a word to learn a vocabulary from")
    size = len(keys) if max_tokens is None else min(max(max_tokens - 1, 0), len(keys))
    if size < len(keys):  # only n-grams as frequent as the size-th most frequent can be chosen
        cutoff = np.partition(count, len(count) - size)[len(count) - size]
        candidates = count >= cutoff
        keys, count, documents = keys[candidates], count[candidates], documents[candidates]
    table = pa.table({"token": ngram_tokens(keys, words), "count": count, "documents": documents})
    chosen = table.take(pc.sort_indices(table, sort_keys=[("count", "descending"), ("token", "descending")])[:size])
    idf = np.log(1.0 + len(array) / (1.0 + chosen["documents"].to_numpy().astype(np.float64))).astype(np.float32)
    vocabulary = [OOV_TOKEN, *(token.decode() for token in chosen["token"].to_pylist())]
    return vocabulary, np.concatenate([[idf.mean(dtype=np.float64)], idf]).astype(np.float32)


def ngram_counts(tokens: tuple[pa.Array, np.ndarray, int], words: pa.Array, bigrams: bool) -> tuple[np.ndarray, ...]:
    """(distinct n-gram keys, occurrences, rows holding each) of one chunk of rows. A word's key is its index in
    `words`; the bigram (a, b) is `n + a * n + b` for n words."""
    tokens, rows, n = tokens
    n_words = len(words)
    ids = positions_in(tokens, words)
    keys, key_rows = ids, rows
    if bigrams and len(ids) > 1:
        has_next = rows[1:] == rows[:-1]
        pairs = n_words + ids[:-1][has_next] * n_words + ids[1:][has_next]
        keys, key_rows = np.concatenate([ids, pairs]), np.concatenate([rows, rows[:-1][has_next]])
    entries = np.sort(keys * max(n, 1) + key_rows)  # one sort: by n-gram, then row
    key_of = entries // max(n, 1)
    starts = np.flatnonzero(np.diff(key_of, prepend=-1))
    new_pair = np.diff(entries, prepend=-1) != 0
    count = np.diff(np.append(starts, len(entries)))
    documents = np.add.reduceat(new_pair, starts, dtype=np.int64) if len(starts) else count
    return key_of[starts], count, documents


def merged(parts: list[tuple[np.ndarray, ...]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The chunks' (keys, occurrences, rows) summed per key."""
    keys = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64)
    count = np.concatenate([p[1] for p in parts]) if parts else keys
    documents = np.concatenate([p[2] for p in parts]) if parts else keys
    if len(parts) < 2:
        return keys, count, documents
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    starts = np.flatnonzero(np.diff(keys, prepend=-1))
    return keys[starts], np.add.reduceat(count[order], starts), np.add.reduceat(documents[order], starts)


def ngram_tokens(keys: np.ndarray, words: pa.Array) -> pa.Array:
    """The n-grams' texts: a word as it is, a bigram as its two words joined by one space (`tf.strings.ngrams`)."""
    n_words = len(words)
    is_word = keys < n_words
    pairs = keys[~is_word] - n_words
    tokens = words.take(pa.array(np.where(is_word, keys, 0)))
    joined = pc.binary_join_element_wise(
        words.take(pa.array(pairs // n_words)),
        words.take(pa.array(pairs % n_words)),
        pa.scalar(b" ", pa.large_binary()),
    )
    out = np.empty(len(keys), dtype=object)
    out[is_word] = tokens.filter(pa.array(is_word)).to_numpy(zero_copy_only=False)
    out[~is_word] = joined.to_numpy(zero_copy_only=False)
    return pa.array(out, pa.large_binary())
