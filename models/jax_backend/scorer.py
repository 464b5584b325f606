"""The JAX backend's scorer (`mlc.models.scorer.Scorer`): TF-IDF rows from `mlc.models.vectorizer` (numpy and
pyarrow), then the sparse first layer, the dense layers, top-k and explanations as jitted JAX functions on the
model's numpy weights, on a GPU when JAX sees one. Needs no TensorFlow.

Shapes are padded to a few sizes (`padded_size`) so that each is compiled once; padding rows and entries are zeros
and are cut off before anything leaves."""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import Any

import numpy as np
import pyarrow as pa
import scipy.sparse

from mlc.models.allocator import one_malloc_arena
from mlc.models.cores import parallel_batches
from mlc.models.errors import ModelError
from mlc.models.features import OOV_COLUMN
from mlc.models.predictions import Predictions
from mlc.models.vectorizer import NgramVectorizer, SparseRows
from mlc.models.weights import DenseWeights, ModelWeights

one_malloc_arena()  # before XLA and the runner start their threads
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # take GPU memory as needed, not 75% up front
if "xla_cpu_multi_thread_eigen" not in os.environ.get("XLA_FLAGS", ""):
    # one thread per CPU op: the runner keeps one batch per core in flight (BENCHMARKS.md, backends)
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    ).strip()
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

ACTIVATIONS = {
    "relu": jax.nn.relu,
    "sigmoid": jax.nn.sigmoid,
    "tanh": jnp.tanh,
    "softmax": jax.nn.softmax,
    "linear": lambda x: x,
}
STEPS_PER_DOUBLING = 4  # padded sizes: 4 per power of two, so padding costs at most a quarter more
MIN_PADDED = 64
EXPLAIN_FLOATS = 1 << 23  # gathered first-layer rows held at once when explaining: rows x terms x hidden units
WIDTH_STEP = 64  # a row's terms, padded to a multiple of this when explaining
BLOCK_BYTES = 4 << 20  # first-layer outputs summed at once on a CPU: one block per core stays in the caches


def padded_size(n: int) -> int:
    """The smallest of MIN_PADDED * 2**(i / STEPS_PER_DOUBLING) (rounded up to a multiple of 8) that holds n."""
    if n <= MIN_PADDED:
        return MIN_PADDED
    exponent = np.ceil(np.log2(n / MIN_PADDED) * STEPS_PER_DOUBLING) / STEPS_PER_DOUBLING
    size = int(np.ceil(MIN_PADDED * 2**exponent / 8) * 8)
    return size if size >= n else size + 8


class JaxScorer:
    """One model's weights as JAX arrays on the default device; texts in, numpy out."""

    def __init__(self, weights: ModelWeights) -> None:
        names = [d.activation for d in weights.dense]
        unknown = [name for name in names if name not in ACTIVATIONS]
        if unknown:
            raise ModelError(f"the jax backend cannot score activation(s) {unknown}")
        self.vectorizer = NgramVectorizer(weights.vectorizer, weights.vocabulary, weights.idf, weights.scaling)
        if weights.dense[0].kernel.shape[0] != self.vectorizer.width:
            raise ModelError("model's first layer does not match its vectorizer's vocabulary size")
        self.activations = names
        self.n_outputs = weights.n_outputs
        self.gpus = len([d for d in jax.devices() if d.platform == "gpu"])
        # On a CPU the first layer is scipy's product with the model's own numpy kernel (`first_layer_by_columns`);
        # JAX gets a copy of that kernel only where it computes the layer itself (a GPU, explanations).
        self.first_kernel = weights.dense[0].kernel
        self.first_bias = jnp.asarray(weights.dense[0].bias)
        self.later_layers = [(jnp.asarray(d.kernel), jnp.asarray(d.bias)) for d in weights.dense[1:]]
        self._layers: list | None = None
        self._layers_lock = threading.Lock()  # the runner's threads explain side by side: one copy between them
        if self.gpus:
            self.layers  # noqa: B018 - onto the GPU now, not in the first batch

    @property
    def layers(self) -> list:
        """Every layer as (kernel, bias) JAX arrays on the default device."""
        with self._layers_lock:
            if self._layers is None:
                self._layers = [(jnp.asarray(self.first_kernel), self.first_bias), *self.later_layers]
            return self._layers

    def device(self) -> str:
        return f"GPU x{self.gpus}" if self.gpus else "CPU"

    @classmethod
    def before_streaming(cls) -> None:
        """Nothing: XLA's threads per op are set when this module is imported."""

    def dense_weights(self) -> list[DenseWeights]:
        kernels = [np.asarray(self.first_kernel), *(np.asarray(k) for k, _ in self.later_layers)]
        biases = [np.asarray(self.first_bias), *(np.asarray(b) for _, b in self.later_layers)]
        return [DenseWeights(k, b, a) for k, b, a in zip(kernels, biases, self.activations)]

    def scores(self, texts: Sequence[str], batch_size: int = 4096) -> np.ndarray:
        if not len(texts):
            return np.zeros((0, self.n_outputs), dtype=np.float32)
        parts = []
        for start in range(0, len(texts), batch_size):
            rows = self.vectorizer(texts[start : start + batch_size])
            if self.gpus:
                probabilities = _probabilities(self.layers, tuple(self.activations), *_padded(rows))
            else:
                probabilities = _probabilities_after_first(
                    self.first_bias, self.later_layers, tuple(self.activations), self._first_products(rows)
                )
            parts.append(np.asarray(probabilities)[: rows.n_rows])
        return np.concatenate(parts)

    def _first_products(self, rows: SparseRows) -> np.ndarray:
        """`rows @ first kernel` on the CPU, padded with rows of zeros to a compiled size."""
        products = np.zeros((padded_size(rows.n_rows), self.first_kernel.shape[1]), dtype=np.float32)
        first_layer_by_columns(rows, self.first_kernel, products)
        return products

    def predict(
        self, texts: Any, k: int, thresholds: np.ndarray, explain: int = 0, against: bool = False
    ) -> Predictions:
        rows = self.vectorizer(texts)
        k = min(k, self.n_outputs)
        limits = jnp.asarray(thresholds, dtype=jnp.float32)
        if not explain and self.gpus:
            outputs = _top_k(self.layers, tuple(self.activations), k, limits, *_padded(rows))
            return Predictions.from_outputs(np.asarray(o)[: rows.n_rows] for o in outputs)
        if not explain:
            products = self._first_products(rows)
            layers = (self.first_bias, self.later_layers, tuple(self.activations))
            outputs = _top_k_after_first(*layers, k, limits, products)
            return Predictions.from_outputs(np.asarray(o)[: rows.n_rows] for o in outputs)
        self._check_explainable()
        parts = [
            self._explained(rows.rows(start, stop), k, limits, explain, against)
            for start, stop in _explain_chunks(rows, explain, int(self.layers[0][0].shape[1]))
        ]
        return Predictions.concat(parts) if parts else self._explained(rows, k, limits, explain, against)

    def _explained(self, rows: SparseRows, k: int, limits: Any, n: int, against: bool) -> Predictions:
        width = max(int(rows.row_lengths.max(initial=0)), n)
        width = -(-width // WIDTH_STEP) * WIDTH_STEP
        n_pad = padded_size(rows.n_rows + 1)
        columns = np.zeros((n_pad, width), dtype=np.int32)
        values = np.zeros((n_pad, width), dtype=np.float32)
        row_of = np.repeat(np.arange(rows.n_rows), rows.row_lengths)
        place = np.arange(len(rows.columns)) - rows.indptr[row_of]
        columns[row_of, place] = rows.columns
        values[row_of, place] = rows.values
        outputs = _explained_top_k(
            self.layers, tuple(self.activations), k, n, against, limits, *_padded(rows, n_pad), columns, values
        )
        return Predictions.from_outputs(np.asarray(o)[: rows.n_rows] for o in outputs)

    def _check_explainable(self) -> None:
        if self.activations[-1] != "sigmoid" or any(a not in ("relu", "linear") for a in self.activations[:-1]):
            raise ModelError(f"explanations need ReLU hidden layers and a sigmoid output, not {self.activations}")

    def runner(self, k: int, thresholds: np.ndarray, explain: int = 0) -> ThreadRunner:
        return ThreadRunner(partial(self.predict, k=k, thresholds=thresholds, explain=explain), parallel_batches())


class ThreadRunner:
    """`predict` over a stream of chunks on a thread pool, in order, `parallel` chunks in flight: vectorising
    (numpy, pyarrow) and JAX's compiled functions release the GIL, so chunks overlap on the cores or the GPU."""

    def __init__(self, predict: Any, parallel: int) -> None:
        self.predict, self.parallel = predict, parallel

    def run(self, chunks: Iterator[tuple[pa.Array, Any]]) -> Iterator[tuple[Any, Predictions]]:
        pending: deque[tuple[Any, Future]] = deque()
        with ThreadPoolExecutor(self.parallel, thread_name_prefix="mlc-jax") as pool:
            try:
                for text, side in chunks:
                    pending.append((side, pool.submit(self.predict, text)))
                    if len(pending) >= self.parallel:
                        side, future = pending.popleft()
                        yield side, future.result()
                while pending:
                    side, future = pending.popleft()
                    yield side, future.result()
            finally:
                for _, future in pending:
                    future.cancel()


def _explain_chunks(rows: SparseRows, n: int, units: int) -> list[tuple[int, int]]:
    """Row ranges whose gathered kernel rows (rows x padded terms x units) stay within about EXPLAIN_FLOATS."""
    widest = -(-max(int(rows.row_lengths.max(initial=0)), n) // WIDTH_STEP) * WIDTH_STEP
    step = max(EXPLAIN_FLOATS // (widest * units), 1)
    return [(start, min(start + step, rows.n_rows)) for start in range(0, rows.n_rows, step)]


def _padded(rows: SparseRows, n_pad: int | None = None) -> tuple[Any, Any, Any]:
    """(data, indices, indptr) padded to compiled sizes: at least one padding row, which holds every padding entry
    (zeros in column 0), so real rows are untouched."""
    n_pad = n_pad or padded_size(rows.n_rows + 1)
    entries = len(rows.columns)
    e_pad = padded_size(entries)
    data = np.zeros(e_pad, dtype=np.float32)
    data[:entries] = rows.values
    indices = np.zeros(e_pad, dtype=np.int32)
    indices[:entries] = rows.columns
    indptr = np.full(n_pad + 1, entries, dtype=np.int32)
    indptr[: rows.n_rows + 1] = rows.indptr
    indptr[-1] = e_pad
    return data, indices, indptr


def first_layer_by_columns(rows: SparseRows, kernel: np.ndarray, out: np.ndarray, block_rows: int = 0) -> None:
    """`rows @ kernel` into `out`'s first rows, by blocks of rows, each in column order (scipy's CSC product):
    each kernel row is read once per block, not once per entry; the row-order product waits on memory."""
    step = block_rows or max(BLOCK_BYTES // (kernel.shape[1] * kernel.itemsize), 1)
    for start in range(0, rows.n_rows, step):
        block = rows.rows(start, min(start + step, rows.n_rows))
        matrix = scipy.sparse.csr_matrix((block.values, block.columns, block.indptr), shape=(block.n_rows, len(kernel)))
        out[start : start + block.n_rows] = matrix.tocsc() @ kernel


def _first_layer(layers: list, data: Any, indices: Any, indptr: Any) -> Any:
    from jax.experimental import sparse  # on a GPU and for explanations only: a CPU's scores need none of it

    kernel, bias = layers[0]
    matrix = sparse.BCSR((data, indices, indptr), shape=(indptr.shape[0] - 1, kernel.shape[0]))
    return matrix @ kernel + bias


@partial(jax.jit, static_argnums=(1,))
def _probabilities(layers: list, activations: tuple, data: Any, indices: Any, indptr: Any) -> Any:
    hidden = ACTIVATIONS[activations[0]](_first_layer(layers, data, indices, indptr))
    for (kernel, bias), name in zip(layers[1:], activations[1:]):
        hidden = ACTIVATIONS[name](hidden @ kernel + bias)
    return hidden


@partial(jax.jit, static_argnums=(2,))
def _probabilities_after_first(first_bias: Any, later_layers: list, activations: tuple, products: Any) -> Any:
    """`_probabilities` from the first layer's product without its bias, as `first_layer_by_columns` gives it."""
    hidden = ACTIVATIONS[activations[0]](products + first_bias)
    for (kernel, bias), name in zip(later_layers, activations[1:]):
        hidden = ACTIVATIONS[name](hidden @ kernel + bias)
    return hidden


@partial(jax.jit, static_argnums=(2, 3))
def _top_k_after_first(
    first_bias: Any, later_layers: list, activations: tuple, k: int, limits: Any, products: Any
) -> tuple:
    probabilities = _probabilities_after_first(first_bias, later_layers, activations, products)
    values, top = jax.lax.top_k(probabilities, k)
    return values, top.astype(jnp.int32), probabilities >= limits


@partial(jax.jit, static_argnums=(1, 2))
def _top_k(layers: list, activations: tuple, k: int, limits: Any, data: Any, indices: Any, indptr: Any) -> tuple:
    probabilities = _probabilities(layers, activations, data, indices, indptr)
    values, top = jax.lax.top_k(probabilities, k)
    return values, top.astype(jnp.int32), probabilities >= limits


@partial(jax.jit, static_argnums=(1, 2, 3, 4))
def _explained_top_k(
    layers: list,
    activations: tuple,
    k: int,
    n: int,
    against: bool,
    limits: Any,
    data: Any,
    indices: Any,
    indptr: Any,
    columns: Any,
    values: Any,
) -> tuple:
    """Top-k as `_top_k`, and per top label the n entries with the largest `value * kernel[column] . gradient`
    (gradient x input through the ReLU layers, `docs/explanations.md`), columns and weights, -inf where none."""
    before = _first_layer(layers, data, indices, indptr)
    masks = []
    for (kernel, bias), name in zip(layers[1:], activations):
        masks.append((before > 0) if name == "relu" else jnp.ones_like(before, dtype=bool))
        before = ACTIVATIONS[name](before) @ kernel + bias
    probabilities = jax.nn.sigmoid(before)
    scores, top = jax.lax.top_k(probabilities, k)
    gradient = layers[-1][0].T[top]  # [rows, k, units of the last hidden layer]
    for (kernel, _), mask in zip(reversed(layers[1:-1]), reversed(masks[1:])):
        gradient = jnp.einsum("rku,vu->rkv", gradient * mask[:, None, :], kernel)
    gradient = gradient * masks[0][:, None, :]
    weights = jnp.einsum("rtu,rku->rkt", layers[0][0][columns], gradient) * values[:, None, :]
    shown = (columns > OOV_COLUMN)[:, None, :]
    found = _top_terms(jnp.where(shown, weights, -jnp.inf), columns, n)
    if against:
        found += _top_terms(jnp.where(shown, -weights, -jnp.inf), columns, n)
    return (scores, top.astype(jnp.int32), probabilities >= limits, *found)


def _top_terms(weights: Any, columns: Any, n: int) -> tuple[Any, Any]:
    values, where = jax.lax.top_k(weights, n)
    return jnp.take_along_axis(columns[:, None, :], where, axis=2), values
