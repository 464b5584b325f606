"""Sparse TF-IDF x dense kernel with TensorFlow's CSR kernels, for prediction and for training the first layer.

They are far faster than `tf.sparse.sparse_dense_matmul` for these shapes, forward and for the kernel's
gradient. On a CPU, prediction multiplies column by column so each kernel row is read once per batch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mlc.models.tf_backend.index_pairs import pair_keys, split_keys, stack_pairs
from mlc.models.tf_backend.internals import csr_ops
from mlc.models.tf_backend.runtime import tensorflow, tf_keras

if TYPE_CHECKING:
    from mlc.models.vectorizer import SparseRows


def _unless_no_rows(n_rows: Any, product: Callable[[], Any], kernel: Any) -> Any:
    """`product()`, or the [0, units] result for a batch of no rows: the CSR conversion dies with SIGFPE on a
    matrix of zero rows, so an empty batch never reaches it."""
    tf = tensorflow()
    return tf.cond(
        n_rows > 0, product, lambda: tf.zeros(tf.stack([tf.constant(0, tf.int32), tf.shape(kernel)[1]]), kernel.dtype)
    )


def sparse_matmul(indices: Any, values: Any, dense_shape: Any, kernel: Any) -> Any:
    """Sparse [n, V] (indices in row order) x dense [V, h]."""
    csr = csr_ops()

    def product() -> Any:
        matrix = csr.sparse_tensor_to_csr_sparse_matrix(indices, values, dense_shape)
        return csr.sparse_matrix_mat_mul(matrix, kernel)

    return _unless_no_rows(dense_shape[0], product, kernel)


def sparse_matmul_by_columns(indices: Any, values: Any, dense_shape: Any, kernel: Any) -> Any:
    """The same product, column by column: the batch's CSR matrix is transposed (a counting sort) and multiplied as
    `(x^T)^T @ kernel`, so each kernel row is read once per batch instead of once per entry."""
    csr = csr_ops()

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


def count_repeats_by_rows(rows: Any, columns: Any, width: Any) -> tuple[Any, Any, Any]:
    """Entries in row order, repeats allowed -> the distinct (row, column) pairs in row order and their counts, for
    the row-order product (GPUs): sorted keys, then runs of equal keys."""
    tf = tensorflow()
    keys = tf.sort(rows * width + columns)
    starts, counts = runs_of_equal_keys(keys)
    keys = tf.gather(keys, starts)
    return keys // width, keys % width, counts


def count_repeats_by_columns(rows: Any, columns: Any, n_rows: Any, width: Any) -> tuple[Any, Any, Any]:
    """Entries in row order, repeats allowed -> the distinct (column, row) pairs in column order and how often each
    occurred. The CSR transpose is a counting sort, stable in row, so repeats come out adjacent; the pairs feed
    `sparse_matmul_transposed` as they are."""
    tf = tensorflow()
    csr = csr_ops()

    def counted() -> tuple[Any, Any, Any]:
        ones = tf.ones_like(rows, tf.float32)
        matrix = csr.sparse_tensor_to_csr_sparse_matrix(stack_pairs(rows, columns), ones, tf.stack([n_rows, width]))
        entries = csr.csr_sparse_matrix_to_sparse_tensor(
            csr.sparse_matrix_transpose(matrix, type=tf.float32), type=tf.float32
        )
        keys = pair_keys(entries.indices)  # (column, row) pairs as one word each: repeats are runs of equal keys
        starts, counts = runs_of_equal_keys(keys)
        distinct_columns, distinct_rows = split_keys(tf.gather(keys, starts))
        return distinct_columns, distinct_rows, counts

    def empty() -> tuple[Any, Any, Any]:
        return tf.zeros([0], tf.int64), tf.zeros([0], tf.int64), tf.zeros([0], tf.float32)

    return tf.cond((n_rows > 0) & (tf.size(rows) > 0), counted, empty)


def sparse_matmul_transposed(columns: Any, rows: Any, values: Any, n_rows: Any, kernel: Any) -> Any:
    """`x @ kernel` from x's entries in column order (as `count_repeats_by_columns` gives them): they already
    are x^T's CSR order, so the column-order product needs no transpose."""
    tf = tensorflow()
    csr = csr_ops()

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


def sparse_tensor(rows: SparseRows, width: int) -> Any:
    """CSR rows as a canonical SparseTensor [n, width] (20 bytes an entry), built by TensorFlow in the memory its
    allocator keeps from training, not in new numpy arrays."""
    tf = tensorflow()
    row_ids = tf.repeat(tf.range(rows.n_rows, dtype=tf.int64), tf.constant(rows.row_lengths))
    indices = tf.stack([row_ids, tf.cast(tf.constant(rows.columns), tf.int64)], axis=1)
    return tf.SparseTensor(indices, tf.constant(rows.values), [rows.n_rows, width])


def tf_variable(weight: Any) -> Any:
    """A Keras variable's own `tf.Variable` (or `weight` itself), through which `tf.gather` reads a kernel's rows."""
    variable = getattr(weight, "value", None)
    return weight if variable is None or callable(variable) else variable


def trainable_sparse_matmul(x: Any, kernel: Any) -> Any:
    """`x @ kernel` for a SparseTensor batch, differentiable in `kernel` (inputs are data, never trained). Only the
    kernel rows of the batch's columns are read, gathered through the variable, so the kernel's gradient is
    `IndexedSlices` of those rows: the wide kernel is never read, nor its gradient written, whole at a step."""
    tf = tensorflow()
    columns, compact = tf.unique(x.indices[:, 1])
    rows = tf.gather(tf_variable(kernel), columns)
    indices = tf.stack([x.indices[:, 0], tf.cast(compact, tf.int64)], axis=1)
    shape = tf.stack([x.dense_shape[0], tf.cast(tf.size(columns), tf.int64)])
    return _rows_product()(indices, x.values, shape, rows)


_product: list[Any] = []


def _rows_product() -> Any:
    """`(indices, values, shape, rows) -> x @ rows` with the gradient `x^T @ dy` in `rows`, one graph function for
    the process: `tf.custom_gradient` in a graph registers its closure in TensorFlow's global registry for good,
    so inside a model's own traced step it would keep that step's graph, and the model's variables, alive."""
    if not _product:
        tf = tensorflow()

        @tf.function(reduce_retracing=True)
        def product(indices: Any, values: Any, shape: Any, rows: Any) -> Any:
            @tf.custom_gradient
            def attached(r: Any) -> Any:
                def gradient(dy: Any) -> Any:
                    xt = transposed(tf.SparseTensor(indices, values, shape))
                    return sparse_matmul(xt.indices, xt.values, xt.dense_shape, dy)

                return sparse_matmul(indices, values, shape, r), gradient

            return attached(rows)

        _product.append(product)
    return _product[0]


def sparse_input_dense(units: int, activation: str, name: str) -> Any:
    """A `keras.layers.Dense` whose matmul on sparse input is `trainable_sparse_matmul`. Training only: the saved
    model is built from the weights with stock Dense layers, so nothing custom is ever loaded."""
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
