"""batch-predict: stream inputs through the model in a tf.data pipeline and write top-k labels, atomically.

    reader (Arrow batches) -> rebatch to --batch-size -> slices -> tf.data: from_generator -> map(vectorize + MLP +
    top-k, parallel, ordered) -> prefetch -> slices joined -> Arrow output batch -> writer on a temp file -> rename

Only a bounded number of rows is ever in flight (`ROWS_IN_FLIGHT`, on the CPU), so memory stays flat whatever
the input size and however many cores run slices side by side. Row order is kept: the map is deterministic and
the side data of each batch waits in a FIFO.
"""
from __future__ import annotations

import glob
import os
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlc.models.atomic import atomic_path
from mlc.models.backend import limit_op_threads, usable_cores
from mlc.models.errors import InputError, OutputError
from mlc.pipeline.columns import ID_CANDIDATES, describe, joined_text, optional_column, text_columns, unique_column
from mlc.pipeline.inputs import Job, expand_inputs, is_up_to_date, output_lock, plan_jobs
from mlc.pipeline.readers import ReadOptions, detect_format, read_batches
from mlc.pipeline.writers import STDOUT, open_writer, output_format

ROW_COLUMN = "row"
DEFAULT_BATCH_SIZE = 4096


@dataclass(frozen=True)
class PredictOptions:
    """What the user chose; shared by the local engine and the queue worker."""

    text_column: str | None = None
    id_column: str | None = None
    keep_columns: tuple[str, ...] | None = None
    top_k: int = 3
    threshold: float | None = None
    batch_size: int = DEFAULT_BATCH_SIZE
    strict: bool = False
    input_format: str | None = None
    output_format: str | None = None
    skip_existing: bool = False


@dataclass
class FileSummary:
    source: str
    target: str
    rows: int = 0
    bad_rows: int = 0
    skipped: bool = False


@dataclass
class PredictSummary:
    files: list[FileSummary] = field(default_factory=list)
    seconds: float = 0.0
    device: str = "CPU"

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)

    @property
    def bad_rows(self) -> int:
        return sum(f.bad_rows for f in self.files)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


# Rows whose intermediates (tokens, bigram strings, sparse entries, hidden activations: ~35 KB a row with a 75k
# vocabulary, estimated from the 16-core runs) may exist at once on the CPU. 12,288 is what 2 cores ran with at
# the 4,096-row default (1.36-1.45 GB peak RSS at 1M rows); on 16 cores the same batches, 8 in flight, peaked
# at 2.3 GB (BENCHMARKS.md, session 9).
ROWS_IN_FLIGHT = 12_288
# A floor so that per-op overhead stays small: 768-row slices cost nothing measurable on 2 cores; 256 itself is
# unmeasured. Past 47 cores the floor wins and a little more than ROWS_IN_FLIGHT is held (at most 64 x 256).
MIN_SLICE_ROWS = 256
MAX_PARALLEL = 64


def parallel_batches() -> int:
    """Slices in flight at once: one per core plus one so a core never waits on the reader (the feature ops of a
    slice run on one thread, so fewer slices than cores leaves cores idle: on 16 cores, 8 in flight kept 4-6
    busy, 16 kept 14; BENCHMARKS.md). A fixed number, so tf.data's autotuner (and its optimiser thread, which
    stalled iterator teardown: `static_pipeline_options`) is off. `MLC_PARALLEL_BATCHES` overrides."""
    configured = os.environ.get("MLC_PARALLEL_BATCHES")
    if configured:
        try:
            value = int(configured)
        except ValueError:
            raise InputError(f"MLC_PARALLEL_BATCHES={configured!r} is not a whole number") from None
        if value < 1:
            raise InputError("MLC_PARALLEL_BATCHES must be at least 1")
        return value
    return min(usable_cores() + 1, MAX_PARALLEL)


def slice_rows(parallel: int, gpu: bool) -> int | None:
    """Most rows one map call takes, so that `parallel` calls hold at most ~`ROWS_IN_FLIGHT` rows; None (whole
    batches) on a GPU, which wants large batches and keeps the intermediates in its own memory."""
    if gpu:
        return None
    return max(MIN_SLICE_ROWS, ROWS_IN_FLIGHT // max(parallel, 1))


def op_threads(parallel: int) -> int:
    """Intra-op threads so that `parallel` batches in flight keep every usable core busy: 1 up to 7 cores."""
    return max(1, -(-usable_cores() // parallel))


class Tagger:
    """The model as a batch function: Arrow text in, Arrow top-k columns out, through one tf.data pipeline."""

    def __init__(self, model_dir: Path, top_k: int = 3, threshold: float | None = None, op_threads: int | None = None) -> None:
        """`op_threads`: TensorFlow's intra-op threads, set before the model loads (`limit_op_threads`); None keeps
        TensorFlow's default, one per core, right for one batch at a time (queue worker, `tag_batch`)."""
        from mlc.models.backend import gpu_count
        from mlc.models.bundle import load_bundle
        from mlc.models.predictor import Predictor, top_k_graph

        if top_k < 1:
            raise InputError("--top-k must be at least 1")
        if op_threads is not None:
            limit_op_threads(op_threads)  # before the first tensor: TensorFlow fixes it at start-up
        bundle = load_bundle(model_dir)
        self.labels = bundle.labels
        self.label_array = pa.array(self.labels, pa.string())
        self.top_k = min(top_k, len(self.labels))
        self.thresholds = bundle.thresholds(threshold)
        self.text_columns = bundle.text_columns
        self.predictor = Predictor(bundle.weights, bundle.labels)
        del bundle  # the numpy weights; the predictor holds its own tensors
        self.batch_fn = top_k_graph(self.predictor, self.top_k, self.thresholds)
        self.parallel = parallel_batches()
        self.slice_rows = slice_rows(self.parallel, gpu=gpu_count() > 0)
        self._batch_graph: Any = None

    def tag_batch(self, texts: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One batch outside tf.data (the queue worker's small, latency-bound batches): same graph function."""
        from mlc.models.backend import tensorflow

        tf = tensorflow()
        if self._batch_graph is None:
            self._batch_graph = tf.function(self.batch_fn, input_signature=[tf.TensorSpec([None], tf.string)], autograph=False)
        values, indices, above = self._batch_graph(tf.constant(texts.to_numpy(zero_copy_only=False)))
        return values.numpy(), indices.numpy(), above.numpy()

    def output_names(self) -> list[str]:
        names = [f"{kind}_{i}" for i in range(1, self.top_k + 1) for kind in ("label", "score")]
        return [*names, "labels", "error"]

    def tag(self, chunks: Iterator[tuple[pa.Array, Any]]) -> Iterator[tuple[Any, tuple[np.ndarray, np.ndarray, np.ndarray]]]:
        """Run (text array, side data) chunks through tf.data in order; yield (side data, model outputs).

        A chunk longer than `slice_rows` goes through the map as several slices (so that every core gets one
        without more rows in flight); their outputs are joined again before the chunk is yielded."""
        pending: deque = deque()  # (side data, slices) of each chunk, queued before its first slice goes in
        failure: list[BaseException] = []
        step = self.slice_rows

        def texts() -> Iterator[np.ndarray]:
            try:
                for text, side in chunks:
                    array = text.to_numpy(zero_copy_only=False)
                    starts = range(0, len(array), step) if step and len(array) > step else range(1)
                    pending.append((side, len(starts)))
                    for start in starts:
                        yield array[start:start + step] if len(starts) > 1 else array
            except BaseException as error:  # surfaced in the caller's thread below, with its own message
                failure.append(error)

        parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        for values, indices, above in self.dataset(texts):
            parts.append((values.numpy(), indices.numpy(), above.numpy()))
            side, count = pending[0]
            if len(parts) == count:
                pending.popleft()
                yield side, (parts[0] if count == 1 else tuple(np.concatenate(column) for column in zip(*parts)))
                parts = []
        if failure:
            raise failure[0]

    def dataset(self, texts: Callable[[], Iterator[np.ndarray]]) -> Any:
        """generator of text arrays -> ordered parallel map of the model -> prefetch; fixed sizes, autotune off."""
        from mlc.models.backend import static_pipeline_options, tensorflow

        tf = tensorflow()
        return (
            tf.data.Dataset.from_generator(texts, output_signature=tf.TensorSpec([None], tf.string))
            .map(self.batch_fn, num_parallel_calls=self.parallel, deterministic=True)
            .prefetch(self.parallel)
            .with_options(static_pipeline_options())
        )

    def output_batch(self, keep: dict[str, pa.Array], bad: np.ndarray, reasons: pa.Array, outputs: tuple) -> pa.RecordBatch:
        """Assemble kept columns, label_k/score_k, `labels` and `error` without per-row Python."""
        values, indices, above = outputs
        n = len(bad)
        arrays: dict[str, pa.Array] = dict(keep)
        null_mask = pa.array(bad) if bad.any() else None
        for j in range(self.top_k):
            arrays[f"label_{j + 1}"] = self.label_array.take(pa.array(indices[:, j], mask=bad))
            arrays[f"score_{j + 1}"] = pa.array(values[:, j], pa.float32(), mask=bad if null_mask is not None else None)
        above &= ~bad[:, None]
        rows, cols = np.nonzero(above)
        offsets = np.zeros(n + 1, dtype=np.int32)
        np.cumsum(np.bincount(rows, minlength=n), out=offsets[1:])
        arrays["labels"] = pa.ListArray.from_arrays(pa.array(offsets), self.label_array.take(pa.array(cols)))
        arrays["error"] = reasons
        return pa.RecordBatch.from_pydict(arrays)


def _rebatch(batches: Iterator[pa.RecordBatch], size: int) -> Iterator[pa.RecordBatch]:
    """Re-cut reader batches (whatever their size) into batches of `size` rows; the last may be shorter."""
    held: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        while batch.num_rows:
            take = min(size - count, batch.num_rows)
            held.append(batch.slice(0, take))
            count += take
            batch = batch.slice(take)
            if count == size:
                yield _concat(held)
                held, count = [], 0
    if count:
        yield _concat(held)


def _concat(batches: list[pa.RecordBatch]) -> pa.RecordBatch:
    if len(batches) == 1:
        return batches[0]
    return pa.Table.from_batches(batches).combine_chunks().to_batches()[0]


def _text_and_faults(batch: pa.RecordBatch, columns: Sequence[str], source: str) -> tuple[pa.Array, np.ndarray, pa.Array]:
    """The text (the columns joined) as strings, a mask of rows with no usable text, and the reason per bad row."""
    text = joined_text([batch.column(c) for c in columns], columns, source)
    missing = pc.is_null(text)
    blank = pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(pc.fill_null(text, ""))), 0)
    reasons = pc.if_else(missing, "missing text", pc.if_else(blank, "empty text", pa.scalar(None, pa.string())))
    bad = pc.is_valid(reasons).to_numpy(zero_copy_only=False)
    return pc.fill_null(text, ""), bad, reasons


def predict_stream(
    tagger: Tagger,
    batches: Iterator[pa.RecordBatch],
    *,
    source: str,
    options: PredictOptions,
    on_rows: Callable[[int], None] = lambda n: None,
    notify: Callable[[str], None] = lambda message: None,
) -> Iterator[tuple[pa.RecordBatch, int]]:
    """Yield (output batch, bad rows in it) for every input batch of one source, in input order."""
    first = next(batches, None)
    if first is None:
        return
    names = first.schema.names
    text_cols = text_columns(names, options.text_column, source=source, preferred=tagger.text_columns)
    keep = _keep_columns(names, options, source)
    clash = set(keep) & set(tagger.output_names())
    if clash:
        raise InputError(f"{source}: kept column(s) {sorted(clash)} clash with output columns; use --keep-columns")
    notify(f"{source}: text column {describe(text_cols)}, keeping {', '.join(keep)}")

    def chunks() -> Iterator[tuple[pa.Array, Any]]:
        start = 0
        for batch in _rebatch(_chain(first, batches), options.batch_size):
            text, bad, reasons = _text_and_faults(batch, text_cols, source)
            if options.strict and bad.any():
                row = start + int(np.argmax(bad))
                raise InputError(f"{source}: row {row}: field {describe(text_cols)}: {reasons[int(np.argmax(bad))].as_py()} (--strict)")
            kept = {
                name: (pa.array(np.arange(start, start + batch.num_rows, dtype=np.int64)) if name == ROW_COLUMN and name not in names else batch.column(name))
                for name in keep
            }
            start += batch.num_rows
            yield text, (kept, bad, reasons)

    for (kept, bad, reasons), outputs in tagger.tag(chunks()):
        out = tagger.output_batch(kept, bad, reasons, outputs)
        on_rows(out.num_rows)
        yield out, int(bad.sum())


def _chain(first: pa.RecordBatch, rest: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    yield first
    yield from rest


def _keep_columns(names: Sequence[str], options: PredictOptions, source: str) -> list[str]:
    if options.keep_columns:
        missing = [c for c in options.keep_columns if c not in names and c != ROW_COLUMN]
        if missing:
            raise InputError(f"{source}: no column(s) {missing} to keep (columns found: {', '.join(names)})")
        return [c if c == ROW_COLUMN else unique_column(names, c, source) for c in options.keep_columns]
    if options.id_column and options.id_column not in names:
        raise InputError(f"{source}: no id column '{options.id_column}' (columns found: {', '.join(names)})")
    id_column = optional_column(names, options.id_column, ID_CANDIDATES, source=source)
    return [id_column] if id_column else [ROW_COLUMN]


def batch_predict(
    inputs: Sequence[str],
    model_dir: Path,
    *,
    output: str | None = None,
    out_dir: Path | None = None,
    options: PredictOptions = PredictOptions(),
    on_rows: Callable[[int], None] = lambda n: None,
    notify: Callable[[str], None] = lambda message: None,
) -> PredictSummary:
    """Tag every input; each output appears under its final name only once it is complete."""
    from mlc.models.backend import device_summary

    jobs = plan_jobs(expand_inputs(inputs), output, out_dir, options.output_format, options.input_format)
    for job in jobs:  # fail on unknown formats before loading the model or writing anything
        detect_format(job.source, options.input_format)
        output_format(job.target, options.output_format)
    # batches run side by side in tf.data: an op's own threads would only contend with them
    tagger = Tagger(model_dir, options.top_k, options.threshold, op_threads=op_threads(parallel_batches()))
    summary = PredictSummary(device=device_summary())
    started = time.perf_counter()  # rows/s is the pipeline's throughput, after the one-off model load
    lock_dir = out_dir if out_dir is not None else (None if output == STDOUT else Path(str(output)).resolve().parent)
    with output_lock(lock_dir) if lock_dir is not None else _nothing():
        for job in jobs:
            _remove_stale_temps(job, notify)
            if options.skip_existing and is_up_to_date(job):
                summary.files.append(FileSummary(job.source, job.target, skipped=True))
                notify(f"{job.source}: skipped, {job.target} is up to date")
                continue
            summary.files.append(_run_job(tagger, job, options, on_rows, notify))
    summary.seconds = time.perf_counter() - started
    return summary


def _remove_stale_temps(job: Job, notify: Callable[[str], None]) -> None:
    """Temp files of this target left by a run that was killed (SIGKILL, power loss): we hold the directory's lock,
    so no live run is writing them."""
    if job.target == STDOUT:
        return
    target = Path(job.target)
    for stale in target.parent.glob(f".{glob.escape(target.name)}.*.tmp"):
        if stale.is_file():
            stale.unlink(missing_ok=True)
            notify(f"{stale}: removed, left by an interrupted run")


def _run_job(tagger: Tagger, job: Job, options: PredictOptions, on_rows: Callable[[int], None], notify: Callable[[str], None]) -> FileSummary:
    result = FileSummary(job.source, job.target)
    fmt = output_format(job.target, options.output_format)
    gzip = job.target.lower().endswith(".gz")
    batches = read_batches(job.source, ReadOptions(input_format=options.input_format))
    stream = predict_stream(tagger, batches, source=job.source, options=options, on_rows=on_rows, notify=notify)
    first = next(stream, None)  # reads, checks columns and predicts the first batch before any output exists
    if job.target == STDOUT:
        try:
            _write_all(open_writer(STDOUT, fmt, gzip=gzip), first, stream, result, tagger)
        except BrokenPipeError as error:  # `mlc batch-predict ... -o - | head`: the reader left
            raise OutputError("-: standard output was closed before all rows were written") from error
    else:
        with atomic_path(Path(job.target)) as tmp:
            _write_all(open_writer(tmp, fmt, gzip=gzip), first, stream, result, tagger)
    notify(f"{job.source}: {result.rows} rows ({result.bad_rows} bad) -> {job.target}")
    return result


def _write_all(writer: Any, first: tuple[pa.RecordBatch, int] | None, rest: Iterator, result: FileSummary, tagger: Tagger) -> None:
    try:
        if first is None:
            writer.write(_empty_output(tagger))
            return
        for batch, bad in _chain(first, rest):  # type: ignore[arg-type]
            writer.write(batch)
            result.rows += batch.num_rows
            result.bad_rows += bad
    finally:
        writer.close()


def _empty_output(tagger: Tagger) -> pa.RecordBatch:
    fields = [pa.field(ROW_COLUMN, pa.int64())]
    for i in range(1, tagger.top_k + 1):
        fields += [pa.field(f"label_{i}", pa.string()), pa.field(f"score_{i}", pa.float32())]
    fields += [pa.field("labels", pa.list_(pa.string())), pa.field("error", pa.string())]
    return pa.RecordBatch.from_pylist([], schema=pa.schema(fields))


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
