"""A one-vs-rest logistic regression on the MLP's TF-IDF rows, its logit mixed into the MLP's at a share `s`
and folded exactly into the MLP's own three Dense layers, so the saved model keeps the example's architecture
(`folded_weights` says how). The linear model ranks frequent labels well, the MLP rare ones."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlc.models.tf_backend.internals import csr_ops
from mlc.models.tf_backend.runtime import tensorflow
from mlc.models.tf_backend.sparse_ops import sparse_matmul, sparse_tensor
from mlc.models.train_config import TrainConfig
from mlc.models.vectorizer import SparseRows
from mlc.models.weights import widened

STEPS = 500
LEARNING_RATE = 3.0  # with the cosine decay
FULL_BATCH_ROWS = 8192  # above this many rows, each step takes one chunk of a shuffled partition of the rows
EPOCHS = 20  # passes over the rows in those `STEPS` steps: chunks of n * EPOCHS / STEPS rows
MIN_CHUNK_ROWS = 256
SHARES = (0.25, 0.5, 0.75)  # the head's shares `mlc train` chooses from; both parts always count
EVEN_SHARE = 0.5  # the choice on a tie
ABSENT_LOGIT = -30.0  # a label a model never saw: probability about 1e-13, below every threshold


def fit_logistic(
    rows: SparseRows,
    width: int,
    targets: np.ndarray,
    c: float,
    *,
    steps: int = STEPS,
    learning_rate: float = LEARNING_RATE,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """One-vs-rest logistic regression on TF-IDF rows [n, width]: minimises the mean binary cross-entropy plus
    `|W|^2 / (2 c n)` (scikit-learn's `C=c`, unpenalised bias) by Adam with a cosine-decayed rate; full batch up
    to `FULL_BATCH_ROWS` rows, above that chunks, `EPOCHS` passes in all. Returns kernel [V, L] and bias [L]."""
    tf = tensorflow()
    n, labels = rows.n_rows, targets.shape[1]
    if n == 0:
        raise ValueError("no training rows for the logistic head")
    l2 = 1.0 / (c * n)
    state = tuple(tf.zeros(shape) for _ in range(3) for shape in ([width, labels], [labels]))  # W, b, Adam moments
    run = _adam_steps(steps, learning_rate, l2, width)
    if n <= FULL_BATCH_ROWS:
        state = run(*_tensors(rows), tf.constant(targets, tf.float32), state, tf.constant(0), tf.constant(steps))
    else:
        size = max(MIN_CHUNK_ROWS, -(-n * EPOCHS // steps))
        chunks = shuffled_chunks(rows, targets, size, np.random.default_rng(seed))
        for step in range(steps):
            state = run(*chunks[step % len(chunks)], state, tf.constant(step), tf.constant(1))
    return state[0].numpy(), state[1].numpy()


def linear_logits(rows: SparseRows, width: int, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """`x @ kernel + bias` for TF-IDF rows [n, width]: the head's logits, [n, L]."""
    tf = tensorflow()
    x = sparse_tensor(rows, width)
    return (sparse_matmul(x.indices, x.values, x.dense_shape, tf.constant(kernel)) + bias).numpy()


def shuffled_chunks(
    rows: SparseRows, targets: np.ndarray, size: int, rng: np.random.Generator
) -> list[tuple[Any, Any, Any, Any]]:
    """The rows in a random order, cut into chunks of `size` rows: (indptr, columns, values, targets) tensors each,
    CSR at 8 bytes an entry, made one chunk at a time; each step makes its x and x^T from them and drops them."""
    tf = tensorflow()
    order = rng.permutation(rows.n_rows)
    return [
        (*_tensors(rows.take(ids)), tf.constant(targets[ids], tf.float32))
        for ids in (order[first : first + size] for first in range(0, rows.n_rows, size))
    ]


def _tensors(rows: SparseRows) -> tuple[Any, Any, Any]:
    tf = tensorflow()
    return tf.constant(rows.indptr), tf.constant(rows.columns), tf.constant(rows.values)


def _adam_steps(total: int, learning_rate: float, l2: float, width: int) -> Any:
    """A graph function `(indptr, columns, values, y, state, first, count) -> state` that runs `count` Adam steps
    from step `first` of `total` (cosine-decayed rate) on one batch of CSR rows; x and x^T are made once a call."""
    tf = tensorflow()
    csr = csr_ops()

    @tf.function(autograph=False, reduce_retracing=True)
    def run(indptr: Any, columns: Any, values: Any, y: Any, state: tuple, first: Any, count: Any) -> tuple:
        n = tf.size(indptr, out_type=tf.int64) - 1
        row_ids = tf.repeat(tf.range(n), indptr[1:] - indptr[:-1])
        indices = tf.stack([row_ids, tf.cast(columns, tf.int64)], axis=1)
        matrix = csr.sparse_tensor_to_csr_sparse_matrix(indices, values, tf.stack([n, width]))
        matrix_t = csr.sparse_matrix_transpose(matrix, type=tf.float32)  # a counting sort: x^T's rows in x's order
        rows = tf.cast(n, tf.float32)

        def step(i: Any, kernel: Any, bias: Any, m_k: Any, m_b: Any, v_k: Any, v_b: Any) -> tuple:
            residual = (tf.math.sigmoid(csr.sparse_matrix_mat_mul(matrix, kernel) + bias) - y) / rows
            g_k = csr.sparse_matrix_mat_mul(matrix_t, residual) + l2 * kernel
            g_b = tf.reduce_sum(residual, 0)
            t = tf.cast(first + i, tf.float32)
            rate = 0.5 * learning_rate * (1 + tf.cos(np.pi * t / total))
            t += 1
            m_k, m_b = 0.9 * m_k + 0.1 * g_k, 0.9 * m_b + 0.1 * g_b
            v_k, v_b = 0.999 * v_k + 0.001 * g_k * g_k, 0.999 * v_b + 0.001 * g_b * g_b
            size = rate * tf.sqrt(1 - 0.999**t) / (1 - 0.9**t)
            return (
                i + 1,
                kernel - size * m_k / (tf.sqrt(v_k) + 1e-7),
                bias - size * m_b / (tf.sqrt(v_b) + 1e-7),
                m_k,
                m_b,
                v_k,
                v_b,
            )

        kernel, bias, m_k, m_b, v_k, v_b = state
        out = tf.while_loop(lambda i, *_: i < count, step, (tf.constant(0), kernel, bias, m_k, m_b, v_k, v_b))
        return tuple(out[1:])

    return run


def head_unit_count(labels: int, config: TrainConfig) -> int:
    """How many first-layer units folding the head adds to a model of `labels` labels (`head_units`)."""
    return 0 if config.linear_share == 0 else labels * (1 if config.normalize else 2)


def head_units(kernel: np.ndarray, bias: np.ndarray, unit_rows: bool) -> tuple[np.ndarray, np.ndarray]:
    """The first-layer units folding adds, (their kernel columns, their biases): per label `x @ w_j + |w_j| + 1`
    (positive when rows have unit norm), else two, `x @ w_j + b_j` and its negation."""
    if unit_rows:
        return kernel, np.linalg.norm(kernel, axis=0) + 1.0  # the shift is > |x @ w_j| when |x| <= 1
    return np.hstack([kernel, -kernel]), np.concatenate([bias, -bias])


def folded_weights(
    dense: Sequence[tuple[np.ndarray, np.ndarray]],
    kernel: np.ndarray,
    bias: np.ndarray,
    share: float,
    *,
    unit_rows: bool = True,
    first: np.ndarray | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The three (kernel, bias) pairs whose output logit is `(1 - share) * MLP's + share * (x @ kernel + bias)`: the
    hidden layers gain `head_units`, which ReLU passes unchanged, and the output mixes. `first`: the first layer's
    kernel joined already (`widened`), else it is made here."""
    if len(dense) != 3:
        raise ValueError(f"expected the example's three Dense layers, found {len(dense)}")
    (k1, b1), (k2, b2), (k3, b3) = dense
    labels = kernel.shape[1]
    eye = np.eye(labels, dtype=np.float32)
    extra_kernel, extra_bias = head_units(kernel, bias, unit_rows)
    if unit_rows:
        out_rows, out_bias = share * eye, share * (bias - extra_bias)
    else:
        out_rows, out_bias = share * np.vstack([eye, -eye]), np.zeros(labels, np.float32)
    extra = extra_kernel.shape[1]
    weights = [
        (widened(k1, extra_kernel) if first is None else first, np.concatenate([b1, extra_bias])),
        (
            np.block(
                [
                    [k2, np.zeros((k2.shape[0], extra), np.float32)],
                    [np.zeros((extra, k2.shape[1]), np.float32), np.eye(extra, dtype=np.float32)],
                ]
            ),
            np.concatenate([b2, np.zeros(extra, np.float32)]),
        ),
        (np.vstack([(1 - share) * k3, out_rows]), (1 - share) * b3 + out_bias),
    ]
    return [(k.astype(np.float32, copy=False), b.astype(np.float32, copy=False)) for k, b in weights]


@dataclass
class LogitParts:
    """[rows, labels] logits of the MLP and of the head (None: no head), kept apart so that every candidate share is
    a sum, not another model run. Logits, not probabilities: a float32 sigmoid saturates at about 17."""

    mlp: np.ndarray
    head: np.ndarray | None

    def probabilities(self, share: float) -> np.ndarray:
        """The folded model's output at `share`: sigmoid((1 - share) * MLP + share * head)."""
        logits = self.mlp if self.head is None or share == 0 else (1 - share) * self.mlp + share * self.head
        return (1.0 / (1.0 + np.exp(-logits.astype(np.float64)))).astype(np.float32)

    @staticmethod
    def stack(parts: Sequence[LogitParts]) -> LogitParts:
        heads = [p.head for p in parts]
        return LogitParts(
            np.vstack([p.mlp for p in parts]), None if any(h is None for h in heads) else np.vstack(heads)
        )  # type: ignore[misc]
