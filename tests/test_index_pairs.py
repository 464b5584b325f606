"""The bitcast index pairs against TensorFlow's own stack, at the edges of the int32 range they promise."""

from __future__ import annotations

import numpy as np
import pytest

from mlc.models.tf_backend.index_pairs import interleave, pair_keys, split_keys, stack_pairs
from mlc.models.tf_backend.runtime import tensorflow

EDGES = [0, 1, -1, 2**31 - 1, -(2**31), 2**16, 65_535, 63_406]


@pytest.fixture(scope="module")
def tf():
    return tensorflow()


@pytest.fixture(scope="module")
def vectors():
    rng = np.random.default_rng(7)
    first = np.concatenate([EDGES, EDGES, rng.integers(-(2**31), 2**31, 5_000)]).astype(np.int64)
    second = np.concatenate([EDGES, EDGES[::-1], rng.integers(-(2**31), 2**31, 5_000)]).astype(np.int64)
    return first, second


def test_stack_pairs_equals_tf_stack(tf, vectors):
    first, second = (tf.constant(v) for v in vectors)
    got = stack_pairs(first, second)
    assert got.dtype == tf.int64 and got.shape == (len(vectors[0]), 2)
    np.testing.assert_array_equal(got.numpy(), tf.stack([first, second], axis=1).numpy())


def test_interleave_equals_stack_then_flatten(tf, vectors):
    first, second = (tf.constant(v) for v in vectors)
    np.testing.assert_array_equal(interleave(first, second).numpy(), np.stack(vectors, axis=1).reshape(-1))
    np.testing.assert_array_equal(interleave(first, first).numpy(), np.repeat(vectors[0], 2))


def test_keys_are_equal_exactly_where_pairs_are_and_split_back(tf, vectors):
    rng = np.random.default_rng(3)
    pairs = np.stack(vectors, axis=1)
    pairs = pairs[rng.integers(0, len(pairs), 20_000)]  # many repeats
    keys = pair_keys(tf.constant(pairs)).numpy()
    assert keys.shape == (len(pairs),)
    _, pair_groups = np.unique(pairs, axis=0, return_inverse=True)
    _, key_groups = np.unique(keys, return_inverse=True)
    # the same partition of the rows: a key identifies its pair and nothing else
    assert len(set(zip(pair_groups.ravel(), key_groups))) == len(np.unique(pair_groups)) == len(np.unique(key_groups))
    first, second = split_keys(tf.constant(keys))
    np.testing.assert_array_equal(first.numpy(), pairs[:, 0])
    np.testing.assert_array_equal(second.numpy(), pairs[:, 1])


def test_empty(tf):
    empty = tf.zeros([0], tf.int64)
    assert stack_pairs(empty, empty).shape == (0, 2)
    assert interleave(empty, empty).shape == (0,)
    assert pair_keys(tf.zeros([0, 2], tf.int64)).shape == (0,)
