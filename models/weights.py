"""A fitted model's weights as numpy arrays: what every backend scores with and `model.keras` is built from."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from mlc.models.scaling import Scaling

ACTIVATIONS = ("relu", "sigmoid", "linear", "tanh", "softmax")
ALIGNMENT = 64  # bytes: TensorFlow's buffer alignment, which it needs to use an array's memory as its own


def aligned_array(shape: tuple[int, ...], dtype: Any = np.float32, spare_columns: int = 0) -> np.ndarray:
    """An uninitialised C-ordered array starting on an `ALIGNMENT` boundary, for wide weights: a backend can score
    with it in place (`runtime.shared_constant`). `spare_columns` more columns of room (untouched pages, no
    memory until used) let `widened` append columns in place."""
    rows, columns = (shape[0], int(np.prod(shape[1:], dtype=np.int64))) if shape else (1, 1)
    size = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    room = rows * (columns + spare_columns) * np.dtype(dtype).itemsize
    raw = np.empty(max(size, room) + ALIGNMENT, np.uint8)
    start = -raw.ctypes.data % ALIGNMENT
    return raw[start : start + size].view(dtype).reshape(shape)


def widened(kernel: np.ndarray, extra: np.ndarray, *, in_place: bool = False) -> np.ndarray:
    """`[kernel | extra]` as a new aligned array, or with `in_place` in `kernel`'s own buffer when it has the room
    (`aligned_array(spare_columns=)`): rows move from the last up, so no second kernel is ever held, and `kernel`
    is spent (its memory now holds the result)."""
    rows, columns = kernel.shape
    width = columns + extra.shape[1]
    owner = kernel.base
    while isinstance(owner, np.ndarray) and owner.base is not None:
        owner = owner.base
    offset = kernel.ctypes.data - owner.ctypes.data if isinstance(owner, np.ndarray) else -1
    fits = (
        in_place
        and kernel.flags.c_contiguous
        and isinstance(owner, np.ndarray)
        and owner.dtype == np.uint8  # a buffer of bytes, as `aligned_array` makes: offsets below count bytes
        and owner.flags.writeable
        and 0 <= offset
        and offset + rows * width * kernel.itemsize <= owner.nbytes
    )
    if not fits:
        out = aligned_array((rows, width), kernel.dtype)
        out[:, :columns], out[:, columns:] = kernel, extra
        return out
    flat = owner.reshape(-1)[offset : offset + rows * width * kernel.itemsize].view(kernel.dtype)
    source, out = flat[: rows * columns].reshape(rows, columns), flat.reshape(rows, width)
    block = 4096  # numpy copies an overlapping block through a buffer of its own size
    for stop in range(rows, 0, -block):
        start = max(0, stop - block)
        out[start:stop, :columns] = source[start:stop]
        out[start:stop, columns:] = extra[start:stop]
    return out


@dataclass
class DenseWeights:
    kernel: np.ndarray  # [inputs, units] float32
    bias: np.ndarray  # [units] float32
    activation: str


@dataclass
class ModelWeights:
    """The vectorizer's settings, vocabulary and IDF, the TF-IDF scaling, and the Dense stack."""

    vectorizer: dict[str, Any]  # standardize (by name), split, ngrams, output_mode, max_tokens
    vocabulary: list[str]
    idf: np.ndarray
    dense: list[DenseWeights]
    scaling: Scaling | None = None  # None: raw TF-IDF (the example's)

    @property
    def n_outputs(self) -> int:
        return int(self.dense[-1].kernel.shape[1])

    def with_logits(self) -> ModelWeights:
        """The same model without its last sigmoid: it outputs logits."""
        return replace(self, dense=[*self.dense[:-1], replace(self.dense[-1], activation="linear")])
