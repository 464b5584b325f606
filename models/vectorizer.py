"""The model's TF-IDF rows without TensorFlow: Keras `TextVectorization` (standardize, whitespace split, uni+bigrams,
vocabulary lookup, TF-IDF) and mlc's scaling, in numpy and pyarrow, for backends that have no TensorFlow.

Standardising works on the UTF-8 bytes, as TensorFlow's ops do: `tf.strings.lower` lowers ASCII letters only, the
punctuation class is ASCII, and the whitespace split breaks on ASCII whitespace only; no byte of a multi-byte
character is ever one of those, so one 256-entry table per setting gives the same tokens."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlc.models.errors import ModelError
from mlc.models.features import (
    OOV_COLUMN,
    SPLIT_PUNCTUATION,
    STRIP_PUNCTUATION,
    ngram_settings_supported,
    ngram_tables,
    standardize_name,
)
from mlc.models.scaling import EPSILON, Scaling

ASCII_WHITESPACE = b" \t\n\v\f\r"  # what `tf.strings.split` breaks on
SPACE = ord(" ")


@dataclass
class SparseRows:
    """TF-IDF rows in CSR form, one entry per distinct n-gram of a row; the out-of-vocabulary n-grams of a row are
    one entry in column 0 (their count's TF-IDF), as in the Keras layer's output."""

    indptr: np.ndarray  # int64 [n_rows + 1]
    columns: np.ndarray  # int32 [entries], ascending within a row
    values: np.ndarray  # float32 [entries], scaled as the model's first layer sees them
    n_rows: int

    @property
    def row_lengths(self) -> np.ndarray:
        return np.diff(self.indptr)

    def rows(self, start: int, stop: int) -> SparseRows:
        """Rows [start, stop) as rows of their own."""
        first, last = self.indptr[start], self.indptr[stop]
        return SparseRows(
            self.indptr[start : stop + 1] - first, self.columns[first:last], self.values[first:last], stop - start
        )

    def take(self, ids: np.ndarray) -> SparseRows:
        """The rows numbered `ids`, in that order, as rows of their own."""
        starts, lengths = self.indptr[ids], self.indptr[ids + 1] - self.indptr[ids]
        indptr = np.zeros(len(ids) + 1, np.int64)
        np.cumsum(lengths, out=indptr[1:])
        entries = np.arange(indptr[-1]) + np.repeat(starts - indptr[:-1], lengths)
        return SparseRows(indptr, self.columns[entries], self.values[entries], len(ids))


def _byte_tables(name: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """(byte -> byte after standardize, bytes standardize deletes or None) for one of the supported names."""
    mapping = np.arange(256, dtype=np.uint8)
    mapping[list(ASCII_WHITESPACE)] = SPACE
    punctuation = np.array([c for c in range(128) if re.fullmatch(STRIP_PUNCTUATION, chr(c))], dtype=np.int64)
    if name in ("lower", "lower_and_strip_punctuation", SPLIT_PUNCTUATION):
        mapping[ord("A") : ord("Z") + 1] += ord("a") - ord("A")
    deleted = None
    if name == SPLIT_PUNCTUATION:
        mapping[punctuation] = ord(" ")
    elif name in ("strip_punctuation", "lower_and_strip_punctuation"):
        deleted = np.zeros(256, dtype=bool)
        deleted[punctuation] = True
    return mapping, deleted


def text_array(texts: Any) -> pa.Array:
    """Texts as one Arrow string array without nulls (a null is an empty text)."""
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    if not isinstance(texts, pa.Array):
        texts = pa.array(list(texts) if not isinstance(texts, (list, np.ndarray)) else texts, pa.large_string())
    if texts.null_count:
        texts = pc.fill_null(texts, "")
    if not (pa.types.is_string(texts.type) or pa.types.is_large_string(texts.type)):
        texts = texts.cast(pa.large_string())
    return texts


class Tokenizer:
    """Callable `texts -> (tokens, row of each, number of rows)`: TextVectorization's standardize (one of the
    supported names) and whitespace split, on the texts' UTF-8 bytes."""

    def __init__(self, standardize: Any) -> None:
        self.byte_map, self.deleted = _byte_tables(standardize_name(standardize))

    def __call__(self, texts: Any) -> tuple[pa.Array, np.ndarray, int]:
        """(the tokens as UTF-8 bytes, the row of each, the number of rows): standardize and split."""
        array = text_array(texts)
        n = len(array)
        offset_type = np.int64 if pa.types.is_large_string(array.type) else np.int32
        offsets = np.frombuffer(array.buffers()[1], offset_type)[array.offset : array.offset + n + 1].astype(np.int64)
        data = array.buffers()[2]
        raw = (
            np.frombuffer(data, np.uint8)[offsets[0] : offsets[-1]] if data is not None and n else np.zeros(0, np.uint8)
        )
        offsets = offsets - offsets[0] if n else np.zeros(1, np.int64)
        if self.deleted is not None:
            kept = ~self.deleted[raw]
            offsets = np.concatenate([[0], np.cumsum(kept)])[offsets]
            raw = raw[kept]
        text = self.byte_map[raw]  # whitespace is a space from here on
        word = text != SPACE
        edges = np.ones(len(text) + 1, dtype=bool)  # between byte i-1 and byte i: a word may start or end there
        np.not_equal(word[1:], word[:-1], out=edges[1:-1])
        edges[offsets] = True  # where one text ends and the next begins
        starts = np.flatnonzero(edges[:-1] & word)
        ends = np.flatnonzero(edges[1:] & word) + 1
        rows = np.repeat(np.arange(n), np.diff(np.searchsorted(starts, offsets)))
        token_offsets = np.zeros(len(starts) + 1, dtype=np.int64)
        np.cumsum(ends - starts, out=token_offsets[1:])
        tokens = pa.Array.from_buffers(
            pa.large_binary(), len(starts), [None, pa.py_buffer(token_offsets), pa.py_buffer(text[word])]
        )
        return tokens, rows, n


class NgramVectorizer:
    """Callable `texts -> SparseRows` for the vectorizer settings `ngram_settings_supported` accepts."""

    def __init__(
        self, settings: dict[str, Any], vocabulary: list[str], idf: np.ndarray, scaling: Scaling | None = None
    ) -> None:
        if not ngram_settings_supported(settings):
            raise ModelError(
                f"this model's vectorizer ({settings.get('standardize')!r}, split {settings.get('split')!r}, "
                f"ngrams {settings.get('ngrams')!r}) has no TensorFlow-free form; score it with --backend tensorflow"
            )
        self.tokens = Tokenizer(settings.get("standardize"))
        self.bigrams = settings.get("ngrams") not in (None, 1)
        words, word_columns, pair_keys, pair_columns = ngram_tables(vocabulary)
        self.n_words = len(words)
        self.words = pa.array(words, pa.large_string()).cast(pa.large_binary())
        self.word_columns = np.append(word_columns, OOV_COLUMN).astype(np.int64)  # id n_words: unknown word
        self.pair_keys = pa.array(pair_keys, pa.int64())
        self.pair_columns = np.append(pair_columns, OOV_COLUMN).astype(np.int64)  # index len: unknown bigram
        self.width = len(vocabulary)
        self.idf = np.asarray(idf, dtype=np.float32)
        self.scaling = scaling if scaling is not None and scaling.active else None

    def __call__(self, texts: Any) -> SparseRows:
        tokens, rows, n = self.tokens(texts)
        ids = positions_in(tokens, self.words)
        columns = self.word_columns[ids]
        entry_rows = rows
        if self.bigrams and len(ids) > 1:
            has_next = rows[1:] == rows[:-1]  # the bigram starting at token i, when token i+1 is in its row
            first, second = ids[:-1][has_next], ids[1:][has_next]
            keys = np.where((first < self.n_words) & (second < self.n_words), first * self.n_words + second, -1)
            found = positions_in(pa.array(keys), self.pair_keys)
            columns = np.concatenate([columns, self.pair_columns[found]])
            entry_rows = np.concatenate([rows, rows[:-1][has_next]])
        entry_rows, columns = sorted_pairs(entry_rows, columns, n, self.width)
        first_of_run = np.ones(len(columns), dtype=bool)
        first_of_run[1:] = (entry_rows[1:] != entry_rows[:-1]) | (columns[1:] != columns[:-1])
        starts = np.flatnonzero(first_of_run)
        counts = np.diff(np.append(starts, len(columns))).astype(np.float32)
        entry_rows, columns = entry_rows[starts].astype(np.int64), columns[starts].astype(np.int32)
        idf = self.idf[columns]
        if self.scaling is not None and self.scaling.sublinear:
            values = idf * (1.0 + np.log(counts))
        else:
            values = idf * counts
        if self.scaling is not None and self.scaling.normalize:
            squares = np.bincount(entry_rows, weights=values.astype(np.float64) ** 2, minlength=n)
            values = values * (1.0 / np.sqrt(np.maximum(squares, EPSILON))).astype(np.float32)[entry_rows]
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(entry_rows, minlength=n), out=indptr[1:])
        return SparseRows(indptr, columns, values.astype(np.float32), n)


def sorted_pairs(rows: np.ndarray, columns: np.ndarray, n_rows: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, columns) ordered by row, then column: equal pairs side by side. Two stable sorts of 16-bit keys (a
    radix sort in numpy) where rows and columns fit in 16 bits, else one sort of `row * width + column` keys."""
    if n_rows <= 1 << 16 and width <= 1 << 16:
        rows, columns = rows.astype(np.uint16), columns.astype(np.uint16)
        by_column = np.argsort(columns, kind="stable")
        rows, columns = rows[by_column], columns[by_column]
        by_row = np.argsort(rows, kind="stable")
        return rows[by_row], columns[by_row]
    key_type = np.int32 if n_rows * width < 2**31 else np.int64  # 32-bit keys, where they fit, sort faster
    keys = np.sort(rows.astype(key_type) * key_type(width) + columns.astype(key_type))
    return keys // width, keys % width


def positions_in(values: pa.Array, value_set: pa.Array) -> np.ndarray:
    """Each value's index in `value_set` (a hash lookup), or len(value_set) where it is not there."""
    found = pc.fill_null(pc.index_in(values, value_set=value_set), len(value_set))
    return found.to_numpy(zero_copy_only=False).astype(np.int64)
