"""Index pairs for the sparse hot path without TensorFlow's Pack, which copies int64 vectors one element at a time.

Both values go into one int64 word whose two int32 halves `tf.bitcast` exposes as an [n, 2] view: the same
tensor as `tf.stack([a, b], axis=1)`, for values that fit in int32 (batch rows, vocabulary columns, -1 markers).
"""

from __future__ import annotations

import sys
from typing import Any

from mlc.models.tf_backend.runtime import tensorflow

_LOW_FIRST = sys.byteorder == "little"  # which half of an int64 `tf.bitcast` puts first
_LOW_BITS = 0xFFFFFFFF


def _word(first: Any, second: Any) -> Any:
    """One int64 per entry whose int32 halves, in memory order, are `first` and `second`."""
    tf = tensorflow()
    low, high = (first, second) if _LOW_FIRST else (second, first)
    return tf.bitwise.bitwise_or(
        tf.bitwise.left_shift(high, 32), tf.bitwise.bitwise_and(low, tf.constant(_LOW_BITS, tf.int64))
    )


def stack_pairs(first: Any, second: Any) -> Any:
    """int64 [n, 2], equal to `tf.stack([first, second], axis=1)` for int64 vectors of int32-range values."""
    tf = tensorflow()
    return tf.cast(tf.bitcast(_word(first, second), tf.int32), tf.int64)


def interleave(first: Any, second: Any) -> Any:
    """int64 [2n]: first[0], second[0], first[1], second[1], ... (int32-range values)."""
    return tensorflow().reshape(stack_pairs(first, second), [-1])


def pair_keys(pairs: Any) -> Any:
    """int64 [n] for int64 [n, 2] pairs of int32-range values: equal keys exactly where the pairs are equal, and
    `split_keys` gives the pair back. Not ordered like the pairs: for runs of equal pairs, not for sorting."""
    tf = tensorflow()
    return tf.bitcast(tf.cast(pairs, tf.int32), tf.int64)


def split_keys(keys: Any) -> tuple[Any, Any]:
    """(first, second) int64 vectors of the pairs `pair_keys` made these keys from."""
    tf = tensorflow()
    high = tf.bitwise.right_shift(keys, 32)  # arithmetic shifts: both halves come back sign-extended
    low = tf.bitwise.right_shift(tf.bitwise.left_shift(keys, 32), 32)
    return (low, high) if _LOW_FIRST else (high, low)
