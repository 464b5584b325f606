"""Sparse TF-IDF x dense kernel, for inference and for training the first layer.

TensorFlow's CSR kernel (`tf.linalg.sparse` internals) measured ~15x faster than `tf.sparse.sparse_dense_matmul`
for the first layer at inference (280k vs 18k rows/s, 4096-row batches, identical results). In training, the
kernel's gradient `x^T @ dy` through `sparse_dense_matmul(adjoint_a=True)` took 55 ms of a 88 ms step at a 63k
vocabulary; the same product as a CSR matmul of the transposed batch takes 7 ms.

Prediction on a CPU multiplies column by column (`sparse_matmul_by_columns`): the first layer alone went from
37-44 to 18-22 µs per abstract on one thread at 63k columns (BENCHMARKS.md, session 7).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mlc.models.backend import tensorflow, tf_keras
from mlc.models.pairs import pair_keys, split_keys, stack_pairs


def _csr_ops() -> Any:
    try:
        from tensorflow.python.ops.linalg.sparse import sparse_csr_matrix_ops as csr
    except ImportError:  # pragma: no cover - depends on the TensorFlow build
        return None
    return csr


def csr_ops() -> Any:
    """TensorFlow's CSR sparse-matrix ops; raises where the build lacks them (none we know of)."""
    csr = _csr_ops()
    if csr is None:  # pragma: no cover - depends on the TensorFlow build
        raise RuntimeError("this TensorFlow build has no CSR sparse-matrix ops")
    return csr


def csr_ops_available() -> bool:
    """Whether this TensorFlow build has the CSR ops the column-order path needs (all builds we know do)."""
    return _csr_ops() is not None


def _unless_no_rows(n_rows: Any, product: Callable[[], Any], kernel: Any) -> Any:
    """`product()`, or the [0, units] result for a batch of no rows: the CSR conversion dies with SIGFPE on a
    matrix of zero rows (TF 2.21), so an empty batch never reaches it."""
    tf = tensorflow()
    return tf.cond(n_rows > 0, product, lambda: tf.zeros(tf.stack([tf.constant(0, tf.int32), tf.shape(kernel)[1]]), kernel.dtype))


def sparse_matmul(indices: Any, values: Any, dense_shape: Any, kernel: Any) -> Any:
    """Sparse [n, V] (indices in row order) x dense [V, h]; the public op where the CSR ops are missing."""
    tf = tensorflow()
    csr = _csr_ops()
    if csr is None:  # pragma: no cover - depends on the TensorFlow build
        return tf.sparse.sparse_dense_matmul(tf.SparseTensor(indices, values, dense_shape), kernel)

    def product() -> Any:
        matrix = csr.sparse_tensor_to_csr_sparse_matrix(indices, values, dense_shape)
        return csr.sparse_matrix_mat_mul(matrix, kernel)

    return _unless_no_rows(dense_shape[0], product, kernel)


def sparse_matmul_by_columns(indices: Any, values: Any, dense_shape: Any, kernel: Any) -> Any:
    """The same product, for inference: the batch's CSR matrix is transposed (a counting sort, O(entries)) and
    multiplied as `(x^T)^T @ kernel`, which TensorFlow's CPU kernel runs column by column: each kernel row is read
    once per batch and added into every row that has that n-gram, instead of once per entry. Row order streams
    ~160 kernel rows (2 KB each at 512 units) per abstract from a kernel far larger than the cache."""
    csr = _csr_ops()
    if csr is None:  # pragma: no cover - depends on the TensorFlow build
        return sparse_matmul(indices, values, dense_shape, kernel)

    def product() -> Any:
        matrix = csr.sparse_tensor_to_csr_sparse_matrix(indices, values, dense_shape)
        transposed = csr.sparse_matrix_transpose(matrix, type=values.dtype)
        return csr.sparse_matrix_mat_mul(transposed, kernel, transpose_a=True)

    return _unless_no_rows(dense_shape[0], product, kernel)


def runs_of_equal_keys(keys: Any) -> tuple[Any, Any]:
    """For sorted keys: where each run of equal keys starts, and its length (as float32 counts)."""
    tf = tensorflow()
    size = tf.size(keys, out_type=tf.int64)
    first = tf.ones([tf.minimum(size, 1)], tf.bool)  # the first key starts a run; no key, no run
    starts = tf.reshape(tf.where(tf.concat([first, keys[1:] != keys[:-1]], 0)), [-1])
    return starts, tf.cast(tf.concat([starts[1:], [size]], 0) - starts, tf.float32)


def count_repeats_by_columns(rows: Any, columns: Any, n_rows: Any, width: Any) -> tuple[Any, Any, Any]:
    """Entries in row order, repeats allowed -> the distinct (column, row) pairs in column order (column, then
    row) and how often each occurred. The batch's CSR matrix transposed is a counting sort (O(entries + width)),
    stable in row, so repeats come out adjacent; `tf.sort` of the same keys (TopK underneath) took 14 µs per
    abstract of a 4,096-row batch on one thread. The pairs feed `sparse_matmul_transposed` as they are."""
    tf = tensorflow()
    csr = _csr_ops()

    def counted() -> tuple[Any, Any, Any]:
        ones = tf.ones_like(rows, tf.float32)
        matrix = csr.sparse_tensor_to_csr_sparse_matrix(stack_pairs(rows, columns), ones, tf.stack([n_rows, width]))
        entries = csr.csr_sparse_matrix_to_sparse_tensor(csr.sparse_matrix_transpose(matrix, type=tf.float32), type=tf.float32)
        keys = pair_keys(entries.indices)  # (column, row) pairs as one word each: repeats are runs of equal keys
        starts, counts = runs_of_equal_keys(keys)
        distinct_columns, distinct_rows = split_keys(tf.gather(keys, starts))
        return distinct_columns, distinct_rows, counts

    def empty() -> tuple[Any, Any, Any]:
        return tf.zeros([0], tf.int64), tf.zeros([0], tf.int64), tf.zeros([0], tf.float32)

    # the CSR conversion dies with SIGFPE on a matrix of zero rows (TF 2.21); no entries, nothing to count
    return tf.cond((n_rows > 0) & (tf.size(rows) > 0), counted, empty)


def sparse_matmul_transposed(columns: Any, rows: Any, values: Any, n_rows: Any, kernel: Any) -> Any:
    """`x @ kernel` from x's entries in column order (as `count_repeats_by_columns` gives them): they already
    are x^T's CSR order, so the column-order product needs no transpose."""
    tf = tensorflow()
    csr = _csr_ops()

    def product() -> Any:
        shape = tf.stack([tf.cast(tf.shape(kernel)[0], tf.int64), n_rows])
        matrix = csr.sparse_tensor_to_csr_sparse_matrix(stack_pairs(columns, rows), values, shape)
        return csr.sparse_matrix_mat_mul(matrix, kernel, transpose_a=True)

    return _unless_no_rows(n_rows, product, kernel)


def transposed(x: Any) -> Any:
    """x^T of a SparseTensor, canonical order; index columns swapped by hand: tf.sparse.transpose's int64
    transpose logs a oneDNN error line on CPUs without AVX-512."""
    tf = tensorflow()
    swapped = tf.stack([x.indices[:, 1], x.indices[:, 0]], axis=1)
    return tf.sparse.reorder(tf.SparseTensor(swapped, x.values, tf.stack([x.dense_shape[1], x.dense_shape[0]])))


def trainable_sparse_matmul(x: Any, kernel: Any) -> Any:
    """`x @ kernel` for a SparseTensor batch, differentiable in `kernel` (inputs are data, never trained)."""
    tf = tensorflow()

    @tf.custom_gradient
    def product(k: Any) -> Any:
        def gradient(dy: Any) -> Any:
            xt = transposed(x)
            return sparse_matmul(xt.indices, xt.values, xt.dense_shape, dy)

        return sparse_matmul(x.indices, x.values, x.dense_shape, k), gradient

    return product(tf.convert_to_tensor(kernel))


def sparse_input_dense(units: int, activation: str, name: str) -> Any:
    """A `keras.layers.Dense` whose matmul on sparse input is `trainable_sparse_matmul`. Training only: the
    saved model gets a plain Dense with the same weights (`plain_dense`), so nothing custom is ever loaded."""
    tf, keras = tf_keras()

    class SparseInputDense(keras.layers.Dense):
        def call(self, inputs: Any, training: Any = None) -> Any:
            if not isinstance(inputs, tf.SparseTensor):
                return super().call(inputs, training=training)
            outputs = trainable_sparse_matmul(inputs, self.kernel)
            if self.use_bias:
                outputs = outputs + self.bias
            return self.activation(outputs) if self.activation is not None else outputs

    return SparseInputDense(units, activation=activation, name=name)


def plain_dense(layer: Any) -> Any:
    """A stock Dense with `layer`'s configuration and weights (shape known from its kernel)."""
    _, keras = tf_keras()
    dense = keras.layers.Dense.from_config(layer.get_config())
    dense.build((None, layer.kernel.shape[0]))
    dense.set_weights(layer.get_weights())
    return dense
