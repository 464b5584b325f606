"""Why a label: each n-gram's part in its logit, gradient x input through the ReLU layers. With the text's units
fixed on or off the network is linear, so the parts plus a baseline are the logit exactly (docs/explanations.md);
computed in row chunks from the sparse entries, never as a dense `rows x vocabulary` matrix."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from mlc.models.errors import ModelError
from mlc.models.tf_backend.runtime import tensorflow
from mlc.models.tf_backend.scorer import TfScorer

CHUNK_FLOATS = 1 << 22  # gathered first-layer rows held at once per slice: rows x terms x hidden units
WIDTH_STEP = 64  # a chunk's terms per row, rounded up to a multiple of this


def explained_top_k_function(
    scorer: TfScorer, k: int, thresholds: np.ndarray, n: int, against: bool = False
) -> Callable[[Any], tuple[Any, ...]]:
    """A traceable `texts -> (top-k scores, top-k indices, above-threshold mask, term columns [rows, k, n], their
    weights [rows, k, n])`: the n n-grams that raise each top label's logit most, weight -inf where a row has
    fewer. With `against`, two more: the n that lower it most, their weights negated."""
    tf = tensorflow()
    if scorer.activations[-1] != "sigmoid" or any(a not in ("relu", "linear") for a in scorer.activations[:-1]):
        raise ModelError(f"explanations need ReLU hidden layers and a sigmoid output, not {scorer.activations}")
    k = min(k, scorer.n_outputs)
    limits = tf.constant(thresholds, dtype=tf.float32)

    def run(texts: Any) -> tuple[Any, ...]:
        logits, masks = _logits_and_masks(scorer, texts)
        probabilities = tf.math.sigmoid(logits)
        top = tf.math.top_k(probabilities, k=k, sorted=True)
        rows, columns, values = scorer.input_entries(texts)
        terms = _top_terms_in_chunks(scorer, masks, top.indices, rows, columns, values, n, against)
        return (top.values, top.indices, probabilities >= limits, *terms)

    return tf.autograph.experimental.do_not_convert(run)


def _logits_and_masks(scorer: TfScorer, texts: Any) -> tuple[Any, list[Any]]:
    """The output layer's logits, and per hidden layer which units are on for each row (bool)."""
    tf = tensorflow()
    kernel, bias, activation = scorer.weights[0]
    before = scorer.first_layer(texts) + bias
    masks = []
    for (kernel, bias, next_activation), name in zip(scorer.weights[1:], scorer.activations):
        masks.append(before > 0 if name == "relu" else tf.ones_like(before, tf.bool))
        before = tf.matmul(activation(before), kernel) + bias
        activation = next_activation
    return before, masks


def _input_gradients(scorer: TfScorer, masks: list[Any], labels: Any) -> Any:
    """d logit[label] / d first layer's output, per row and top label [rows, k, units]: back through the layers."""
    tf = tensorflow()
    masks = [tf.cast(mask, tf.float32)[:, None, :] for mask in masks]
    gradient = tf.gather(tf.transpose(scorer.weights[-1][0]), labels)
    for (kernel, _, _), mask in zip(reversed(scorer.weights[1:-1]), reversed(masks[1:])):
        gradient = tf.einsum("rku,vu->rkv", gradient * mask, kernel)
    return gradient * masks[0]


def _top_terms_in_chunks(
    scorer: TfScorer, masks: list[Any], labels: Any, rows: Any, columns: Any, values: Any, n: int, against: bool
) -> tuple[Any, ...]:
    """Per row and top label, the n entries with the largest `value * kernel[column] . gradient`. Rows go by
    length, in chunks padded to their longest row, so that padding costs little; a chunk's gradients and gathered
    kernel rows exist only while it runs, within about `CHUNK_FLOATS`."""
    tf = tensorflow()
    kernel = scorer.weights[0][0]
    n_rows = tf.shape(labels, out_type=tf.int64)[0]
    k = tf.shape(labels, out_type=tf.int64)[1]
    lengths = tf.math.bincount(tf.cast(rows, tf.int32), minlength=tf.cast(n_rows, tf.int32), dtype=tf.int64)
    order = tf.argsort(lengths)
    by_length = tf.RaggedTensor.from_row_lengths(
        tf.range(tf.size(columns, out_type=tf.int64)), lengths
    )  # entry positions, row by row
    by_length = tf.gather(by_length, order)
    sorted_lengths = tf.gather(lengths, order)
    padded_columns = tf.concat([columns, tf.zeros([1], columns.dtype)], 0)  # one more entry, for padding to read
    padded_values = tf.concat([values, tf.zeros([1], values.dtype)], 0)
    longest = tf.maximum(tf.reduce_max(tf.concat([lengths, [0]], 0)), n)
    chunk = tf.maximum(CHUNK_FLOATS // (int(kernel.shape[1]) * longest), 1)
    steps = tf.cast((n_rows + chunk - 1) // chunk, tf.int32)
    outputs = 4 if against else 2
    arrays = tuple(
        tf.TensorArray(tf.int64 if i % 2 == 0 else tf.float32, size=steps, infer_shape=False) for i in range(outputs)
    )

    def one_chunk(step: Any, arrays: tuple[Any, ...]) -> tuple[Any, tuple[Any, ...]]:
        start = tf.cast(step, tf.int64) * chunk
        stop = tf.minimum(start + chunk, n_rows)
        part_lengths = sorted_lengths[start:stop]
        width = tf.maximum(tf.reduce_max(tf.concat([part_lengths, [0]], 0)), n)
        width = (width + WIDTH_STEP - 1) // WIDTH_STEP * WIDTH_STEP  # few distinct shapes: the allocator reuses them
        positions = by_length[start:stop].to_tensor(default_value=-1, shape=tf.stack([stop - start, width]))
        present = positions >= 0
        safe = tf.where(present, positions, tf.size(columns, out_type=tf.int64))  # padding: the extra last entry
        part_columns = tf.gather(padded_columns, safe)
        part_values = tf.gather(padded_values, safe)
        part_rows = order[start:stop]
        gradient = _input_gradients(scorer, [tf.gather(m, part_rows) for m in masks], tf.gather(labels, part_rows))
        weights = tf.einsum("rtu,rku->rkt", tf.gather(kernel, part_columns), gradient)
        weights *= part_values[:, None, :]
        shown = tf.broadcast_to(present[:, None, :], tf.shape(weights))
        nothing = tf.fill(tf.shape(weights), -np.inf)
        found = _top_terms(tf.where(shown, weights, nothing), part_columns, n)
        if against:
            found += _top_terms(tf.where(shown, -weights, nothing), part_columns, n)
        return step + 1, tuple(array.write(step, value) for array, value in zip(arrays, found))

    _, arrays = tf.while_loop(lambda step, _: step < steps, one_chunk, (tf.constant(0), arrays), parallel_iterations=1)
    back = tf.math.invert_permutation(order)
    return tuple(tf.gather(tf.reshape(array.concat(), tf.stack([-1, k, n])), back) for array in arrays)


def _top_terms(weights: Any, columns: Any, n: int) -> tuple[Any, Any]:
    """The n largest weights per (row, label) of a [rows, k, terms] grid, with the columns they belong to."""
    tf = tensorflow()
    top = tf.math.top_k(weights, k=n, sorted=True)
    column_of = tf.broadcast_to(columns[:, None, :], tf.shape(weights))
    return tf.gather(column_of, top.indices, batch_dims=2), top.values
