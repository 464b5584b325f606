"""The sparse first layer (training's and prediction's) and the fused optimiser against stock Keras/dense maths:
same products, same gradients, same weights."""

from __future__ import annotations

import numpy as np
import pytest

from mlc.models.tf_backend.index_pairs import stack_pairs
from mlc.models.tf_backend.internals import fused_adam
from mlc.models.tf_backend.mlp import _copy, make_mlp
from mlc.models.tf_backend.runtime import tf_keras
from mlc.models.tf_backend.sparse_ops import (
    count_repeats_by_columns,
    count_repeats_by_rows,
    sparse_matmul,
    sparse_matmul_by_columns,
    sparse_matmul_transposed,
    trainable_sparse_matmul,
)


def _batch(rows: int = 16, width: int = 300, seed: int = 0):
    tf, _ = tf_keras()
    rng = np.random.default_rng(seed)
    dense = (rng.random((rows, width)) < 0.05) * rng.random((rows, width)) * 3
    dense[3] = 0  # an empty row (a text of unknown words only)
    return tf.sparse.from_dense(dense.astype(np.float32)), dense.astype(np.float32)


def test_sparse_matmul_gradient_equals_dense():
    tf, _ = tf_keras()
    sparse, dense = _batch()
    kernel = tf.Variable(np.random.default_rng(1).normal(size=(dense.shape[1], 8)).astype(np.float32))
    with tf.GradientTape(persistent=True) as tape:
        ours = tf.reduce_sum(tf.sin(trainable_sparse_matmul(sparse, kernel)))
        reference = tf.reduce_sum(tf.sin(dense @ kernel))
    np.testing.assert_allclose(ours.numpy(), reference.numpy(), rtol=1e-5)
    gradient = tape.gradient(ours, kernel)  # the rows of the batch's columns only
    assert isinstance(gradient, tf.IndexedSlices)
    np.testing.assert_allclose(
        tf.convert_to_tensor(gradient).numpy(), tape.gradient(reference, kernel).numpy(), atol=1e-5
    )


@pytest.mark.parametrize("rows, empty", [(0, False), (1, False), (37, False), (5, True)])
def test_column_order_product_equals_dense(rows, empty):
    """Prediction's first layer as the predictor feeds it: entries in row order, columns unsorted and repeated
    within a row (the unmerged n-gram path), empty rows, the last columns used; and a batch of no rows."""
    tf, _ = tf_keras()
    rng = np.random.default_rng(rows)
    width, units = 500, 24
    entries = []
    for row in range(rows):
        if empty or row % 5 == 2:
            continue  # an empty row (a text of unknown words only); `empty`: a whole batch of them
        columns = rng.integers(0, width, size=int(rng.integers(1, 40)))
        columns[0] = width - 1
        entries += [(row, int(c), float(v)) for c, v in zip(columns, rng.random(len(columns)) * 4)]
    dense = np.zeros((rows, width), np.float32)
    for row, column, value in entries:
        dense[row, column] += value  # repeats add up, as the matmul sums them
    indices = np.array([(r, c) for r, c, _ in entries], np.int64).reshape(-1, 2)
    values = np.array([v for _, _, v in entries], np.float32)
    kernel = rng.normal(size=(width, units)).astype(np.float32)
    ours = sparse_matmul_by_columns(
        tf.constant(indices), tf.constant(values), tf.constant([rows, width], tf.int64), tf.constant(kernel)
    )
    assert ours.shape == (rows, units)
    np.testing.assert_allclose(ours.numpy(), dense @ kernel, rtol=1e-5, atol=1e-4)
    assert np.array_equal(np.abs(ours.numpy()).sum(axis=1) == 0, ~dense.any(axis=1))  # empty rows stay exactly 0


@pytest.mark.parametrize("rows", [0, 1, 3, 40])
def test_repeats_counted_in_column_order_and_multiplied_as_given(rows):
    """The scaled model's merge: entries in row order with repeats and unsorted columns in, distinct pairs out with
    their counts, in column order (CPUs) and in row order (GPUs); then each order's product."""
    tf, _ = tf_keras()
    rng = np.random.default_rng(rows)
    width, units = 60, 8
    lengths = rng.integers(0, 25, size=rows)
    if rows == 3:
        lengths[:] = 0  # a batch of texts with no known n-gram at all
    row_ids = np.repeat(np.arange(rows), lengths).astype(np.int64)
    column_ids = rng.integers(1, width, size=len(row_ids)).astype(np.int64)  # small width: many repeats
    columns, row_out, counts = count_repeats_by_columns(
        tf.constant(row_ids), tf.constant(column_ids), tf.constant(rows, tf.int64), tf.constant(width, tf.int64)
    )
    expected: dict[tuple[int, int], int] = {}
    for r, c in zip(row_ids, column_ids):
        expected[(int(c), int(r))] = expected.get((int(c), int(r)), 0) + 1
    got = list(zip(columns.numpy().tolist(), row_out.numpy().tolist()))
    assert got == sorted(expected)  # column order, then row; each pair once
    assert counts.numpy().tolist() == [expected[pair] for pair in got]

    values = rng.random(len(got)).astype(np.float32)
    kernel = rng.normal(size=(width, units)).astype(np.float32)
    dense = np.zeros((rows, width), np.float32)
    for (c, r), v in zip(got, values):
        dense[r, c] = v
    product = sparse_matmul_transposed(
        columns, row_out, tf.constant(values), tf.constant(rows, tf.int64), tf.constant(kernel)
    )
    assert product.shape == (rows, units)
    np.testing.assert_allclose(product.numpy(), dense @ kernel, rtol=1e-5, atol=1e-5)

    # the same merge in row order (GPUs), and its product
    by_rows, by_columns, row_counts = count_repeats_by_rows(
        tf.constant(row_ids), tf.constant(column_ids), tf.constant(width, tf.int64)
    )
    pairs = list(zip(by_rows.numpy().tolist(), by_columns.numpy().tolist()))
    assert pairs == sorted((r, c) for c, r in expected)
    assert row_counts.numpy().tolist() == [expected[(c, r)] for r, c in pairs]
    row_values = np.array([dense[r, c] for r, c in pairs], np.float32)
    product = sparse_matmul(
        stack_pairs(by_rows, by_columns),
        tf.constant(row_values),
        tf.constant([rows, width], tf.int64),
        tf.constant(kernel),
    )
    np.testing.assert_allclose(product.numpy(), dense @ kernel, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
def test_fused_training_equals_stock_keras(weight_decay):
    """Five steps of our MLP + fused Adam(W) end at Keras's stock Dense + Adam(W) weights."""
    tf, keras = tf_keras()
    sparse, dense = _batch()
    targets = (np.random.default_rng(2).random((16, 5)) < 0.3).astype(np.float32)
    keras.utils.set_random_seed(0)
    ours = make_mlp(dense.shape[1], 5)
    stock_input = keras.Input(shape=(dense.shape[1],))
    hidden = stock_input
    for layer in ours.layers[1:]:
        hidden = keras.layers.Dense.from_config(layer.get_config())(hidden)
    stock = keras.Model(stock_input, hidden)
    stock.set_weights(ours.get_weights())
    stock_optimizer = (
        keras.optimizers.AdamW(1e-2, weight_decay=weight_decay) if weight_decay else keras.optimizers.Adam(1e-2)
    )
    ours.compile(optimizer=fused_adam(1e-2, weight_decay), loss="binary_crossentropy")
    stock.compile(optimizer=stock_optimizer, loss="binary_crossentropy")
    for _ in range(5):
        ours.train_on_batch(sparse, targets)
        stock.train_on_batch(dense, targets)
    # Adam divides by sqrt(v): float rounding of tiny gradients shows up to ~2e-5 here, against steps of 1e-2
    # (a missing bias correction or a wrong moment would be off by ~1e-3 or more).
    for a, b in zip(ours.get_weights(), stock.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-4)
    assert not np.allclose(ours.get_weights()[0], make_mlp(dense.shape[1], 5).get_weights()[0])  # it trained


def test_first_layer_updates_only_the_rows_a_batch_touches():
    """The first kernel's gradient is the batch's columns only (IndexedSlices), and Adam moves those rows alone, as
    "lazy" Adam does for embeddings: a row the batch does not touch keeps its weights, whatever earlier batches did."""
    tf, keras = tf_keras()
    sparse, dense = _batch(rows=32, seed=3)
    targets = (np.random.default_rng(4).random((32, 5)) < 0.3).astype(np.float32)
    first, second = dense[:16], dense[16:]
    model = make_mlp(dense.shape[1], 5)
    model.compile(optimizer=fused_adam(1e-2), loss="binary_crossentropy")
    model.train_on_batch(tf.sparse.from_dense(first), targets[:16])
    before = model.get_weights()[0]
    model.train_on_batch(tf.sparse.from_dense(second), targets[16:])
    after = model.get_weights()[0]
    touched = np.flatnonzero(second.any(axis=0))
    untouched = np.flatnonzero(~second.any(axis=0) & first.any(axis=0))  # moved by the first batch only
    assert len(untouched) and len(touched)
    np.testing.assert_array_equal(after[untouched], before[untouched])
    assert not np.allclose(after[touched], before[touched])
    kernel = tf.Variable(before)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(trainable_sparse_matmul(tf.sparse.from_dense(second), kernel))
    gradient = tape.gradient(loss, kernel)
    assert isinstance(gradient, tf.IndexedSlices)
    assert sorted(gradient.indices.numpy().tolist()) == touched.tolist()


def test_weights_copied_in_slabs_equal_a_whole_read():
    """After sparse updates, each Dense weight copied a slab of rows at a time (`_copy`, how the best epoch's
    weights are kept) equals Keras's whole read."""
    tf, keras = tf_keras()
    _, dense = _batch(rows=32, seed=5)
    model = make_mlp(dense.shape[1], 5)
    model.compile(optimizer=fused_adam(1e-2), loss="binary_crossentropy")
    targets = (np.random.default_rng(6).random((32, 5)) < 0.3).astype(np.float32)
    model.train_on_batch(tf.sparse.from_dense(dense), targets)
    layers = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    for rows in (7, 300, 4096):  # slabs that do not divide the rows, one slab exactly, more than the rows
        for layer in layers:
            for weight, whole in zip(layer.weights, layer.get_weights(), strict=True):
                np.testing.assert_array_equal(_copy(weight, rows), whole)
