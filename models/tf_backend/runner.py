"""The TensorFlow backend's runner: chunks of texts in, `Predictions` out, in input order, through tf.data.
Slices of text go through an ordered parallel map of the model's batch function; a bounded number of rows is in
flight (`ROWS_IN_FLIGHT`), so memory stays flat whatever the input size."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from mlc.models.cores import parallel_batches, usable_cores
from mlc.models.predictions import Predictions
from mlc.models.tf_backend.runtime import gpu_count, limit_op_threads, static_pipeline_options, tensorflow

ROWS_IN_FLIGHT = 12_288  # rows whose intermediates may exist at once on a CPU, across all slices in flight
MIN_SLICE_ROWS = 256  # a floor, so per-op overhead stays small on many cores


@dataclass(frozen=True)
class RunnerSettings:
    """How the pipeline runs: slices in flight, rows per slice (None: whole chunks), TensorFlow's intra-op threads."""

    parallel: int
    slice_rows: int | None
    op_threads: int

    @classmethod
    def for_this_machine(cls) -> RunnerSettings:
        """One slice per usable core plus one, so a core never waits on the reader (`MLC_PARALLEL_BATCHES`
        overrides); each op single-threaded while slices run side by side; whole chunks on a GPU."""
        parallel = parallel_batches()
        return cls(parallel, slice_rows(parallel, gpu=gpu_count() > 0), op_threads(parallel))


def slice_rows(parallel: int, gpu: bool) -> int | None:
    """Most rows one map call takes, so that `parallel` calls hold about `ROWS_IN_FLIGHT` rows; None (whole
    chunks) on a GPU, which wants large batches and keeps the intermediates in its own memory."""
    if gpu:
        return None
    return max(MIN_SLICE_ROWS, ROWS_IN_FLIGHT // max(parallel, 1))


def op_threads(parallel: int) -> int:
    """Intra-op threads so that `parallel` slices in flight keep every usable core busy: 1 up to 7 cores."""
    return max(1, -(-usable_cores() // parallel))


class LocalRunner:
    """A scorer's batch function mapped over text slices by tf.data, `settings.parallel` slices at a time."""

    def __init__(self, batch_function: Callable[[], Callable[[Any], Any]], settings: RunnerSettings) -> None:
        limit_op_threads(settings.op_threads)  # before the first tensor: TensorFlow fixes it at start-up
        self.settings = settings
        self.batch_function = batch_function()

    def run(self, chunks: Iterator[tuple[pa.Array, Any]]) -> Iterator[tuple[Any, Predictions]]:
        """Run (text array, side data) chunks through tf.data in order; yield (side data, predictions). TensorFlow
        cannot safely cancel a pipeline whose source is Python, so on any way out (error, Ctrl-C, SIGTERM, a consumer
        that stops) the source stops and the pipeline runs to its end (at most `parallel` slices in flight)."""
        pending: deque = deque()  # (side data, slices) of each chunk, queued before its first slice goes in
        failure: list[BaseException] = []
        stop = threading.Event()
        step = self.settings.slice_rows

        def texts() -> Iterator[np.ndarray]:
            try:
                for text, side in chunks:
                    if stop.is_set():
                        return
                    array = text.to_numpy(zero_copy_only=False) if hasattr(text, "to_numpy") else np.asarray(text)
                    starts = range(0, len(array), step) if step and len(array) > step else range(1)
                    pending.append((side, len(starts)))
                    for start in starts:
                        yield array[start : start + step] if len(starts) > 1 else array
            except BaseException as error:  # surfaced in the caller's thread below, with its own message
                failure.append(error)

        iterator = iter(self._dataset(texts))
        try:
            parts: list[Predictions] = []
            for outputs in iterator:
                parts.append(Predictions.from_outputs(outputs))
                side, count = pending[0]
                if len(parts) == count:
                    pending.popleft()
                    yield side, Predictions.concat(parts)
                    parts = []
        finally:
            stop.set()
            for _ in iterator:  # the slices already in flight: at most `parallel` of them
                pass
        if failure:
            raise failure[0]

    def _dataset(self, texts: Callable[[], Iterator[np.ndarray]]) -> Any:
        tf = tensorflow()
        parallel = self.settings.parallel
        return (
            tf.data.Dataset.from_generator(texts, output_signature=tf.TensorSpec([None], tf.string))
            .map(self.batch_function, num_parallel_calls=parallel, deterministic=True)
            .prefetch(parallel)
            .with_options(static_pipeline_options())
        )
