"""batch-predict with the local engine: plan the outputs, take the lock, and per input read -> tag -> write.

reader (Arrow batches) -> text + bad rows -> rebatch to --batch-size -> the backend's runner -> OutputSchema -> writer
on a temp file -> rename. Each output appears under its final name only once it is complete.
"""

from __future__ import annotations

import contextlib
import glob
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from mlc.models.atomic import output_target, writes_in_place
from mlc.models.errors import InputError, OutputError, UsageError
from mlc.models.model import Model
from mlc.models.predictions import Predictions
from mlc.models.scorer import Runner
from mlc.pipeline.columns import (
    describe,
)
from mlc.pipeline.file_plan import (
    FileJob,
    clear_failure,
    expand_inputs,
    failed_unchanged,
    is_up_to_date,
    output_lock,
    plan_jobs,
    record_failure,
)
from mlc.pipeline.input_size import InputSize, input_size
from mlc.pipeline.output_schema import OutputSchema
from mlc.pipeline.readers import ReadOptions, detect_format, read_batches
from mlc.pipeline.run_report import DriftTolerance, LabelCounts, run_report
from mlc.pipeline.stop_signals import stop_if_received
from mlc.pipeline.tagging import (
    DEFAULT_BATCH_SIZE,
    InputColumns,
    PredictOptions,
    TextChunk,
    chain,
    kept_fields,
    rebatch,
)
from mlc.pipeline.writers import STDOUT, open_writer, output_format

Notify = Callable[[str], None]


@dataclass
class FileSummary:
    source: str
    target: str
    rows: int = 0
    bad_rows: int = 0
    skipped: bool = False
    error: str | None = None  # why this input failed; the other inputs were still tagged
    counts: LabelCounts | None = None  # what its rows were given (local engine), for the run report
    failed_before: str | None = None  # skipped: it failed so in an earlier run and has not changed since


@dataclass
class PredictSummary:
    files: list[FileSummary] = field(default_factory=list)
    seconds: float = 0.0
    device: str = ""  # where rows were scored: "CPU", "GPU xN"; empty when none were
    model: Model | None = None

    def counts(self) -> LabelCounts | None:
        """The label counts of every output written in this run (None from the Ray engine)."""
        if self.model is None:
            return None
        total = LabelCounts(len(self.model.labels))
        for file in self.files:
            if file.counts is not None and file.error is None:
                total.merge(file.counts)
        return total

    def report(self, model_dir: Path, tolerance: DriftTolerance) -> dict[str, Any]:
        """The run report (`--report`): what was tagged, how fast, and per label its share against training."""
        model = self.model
        if model is None:
            raise UsageError("--report and --fail-on-drift need the local engine")
        return run_report(
            self.counts(),
            model_id=model.id,
            model_dir=str(model_dir),
            labels=model.labels,
            training_shares=model.metadata.label_shares,
            seconds=self.seconds,
            inputs=[{"source": f.source, "output": f.target, "rows": f.rows} for f in self.files if not f.skipped],
            tolerance=tolerance,
        )

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)

    @property
    def bad_rows(self) -> int:
        return sum(f.bad_rows for f in self.files)

    @property
    def failed(self) -> list[FileSummary]:
        return [f for f in self.files if f.error is not None]

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def batch_predict(
    inputs: Sequence[str],
    model_dir: Path,
    *,
    output: str | None = None,
    out_dir: Path | None = None,
    options: PredictOptions = PredictOptions(),
    on_rows: Callable[[int], None] = lambda n: None,
    notify: Notify = lambda message: None,
    on_failure: Notify = lambda message: None,
    on_file: Callable[[str, InputSize], None] = lambda source, size: None,
) -> PredictSummary:
    """Tag every input; each output appears under its final name only once it is complete. An input that fails is
    reported to `on_failure` and the others are still tagged, unless `options.fail_fast`."""
    jobs = plan_jobs(expand_inputs(inputs), output, out_dir, options.output_format, options.input_format)
    for job in jobs:  # fail on unknown formats before loading the model or writing anything
        detect_format(job.source, options.input_format)
        output_format(job.target, options.output_format)
    if output is None and out_dir is None and not (options.skip_existing or options.force):
        existing = [job.target for job in jobs if job.target != STDOUT and Path(job.target).exists()]
        if existing:
            raise InputError(
                f"{existing[0]}: exists already; pass --force to overwrite it, or --skip-existing to tag "
                "only inputs that are newer than their output"
            )
    model = Model.load(model_dir, options.backend)
    runner = FirstUseRunner(model, options)
    schema = options.output_schema(model)
    summary = PredictSummary(model=model)
    started = time.perf_counter()  # rows/s is the pipeline's throughput, without the one-off backend start
    with contextlib.ExitStack() as locks:
        files = [job.target for job in jobs if job.target != STDOUT and not writes_in_place(job.target)]
        for directory in sorted({Path(target).resolve().parent for target in files}):
            locks.enter_context(output_lock(directory))
        for job in jobs:
            _remove_stale_temps(job, notify)
        summary.files = tag_each_file(
            jobs,
            lambda job: [] if job.target == STDOUT else [Path(job.target)],
            lambda job: _tag_file(model, runner, schema, job, options, on_rows, notify, on_file),
            options,
            notify,
            on_failure,
        )
    summary.seconds = time.perf_counter() - started - runner.start_seconds
    summary.device = model.device() if runner.started else ""
    return summary


class FirstUseRunner:
    """The model's runner, built when the first chunk is ready to score: an input refused on reading, an empty one,
    or a run with nothing left to tag never starts the backend, whose start is most of a short run's time."""

    def __init__(self, model: Model, options: PredictOptions) -> None:
        model.check_options(options.top_k, options.threshold, options.explain)
        self._model, self._options = model, options
        self._runner: Runner | None = None
        self.start_seconds = 0.0  # building it: the backend's start, kept out of the rows/s

    @property
    def started(self) -> bool:
        return self._runner is not None

    def run(self, chunks: Iterator[tuple[pa.Array, Any]]) -> Iterator[tuple[Any, Predictions]]:
        first = next(chunks, None)
        if first is None:
            return
        if self._runner is None:
            started = time.perf_counter()
            self._runner = self._model.runner(self._options.top_k, self._options.threshold, self._options.explain)
            self.start_seconds = time.perf_counter() - started
        yield from self._runner.run(chain(first, chunks))


def tag_each_file(
    jobs: Sequence[FileJob],
    outputs: Callable[[FileJob], list[Path]],
    tag: Callable[[FileJob], FileSummary],
    options: PredictOptions,
    notify: Notify,
    on_failure: Notify,
) -> list[FileSummary]:
    """The per-input loop of every engine. Of several inputs, one that cannot be read is reported, remembered beside
    its output and passed over (`--fail-fast`: the run stops there); with --skip-existing an input is skipped when
    its `outputs` are all newer, or when it failed before and has not changed since."""
    done = []
    for job in jobs:
        if options.skip_existing:
            written = outputs(job)
            if written and is_up_to_date(job.source, written):
                done.append(FileSummary(job.source, job.target, skipped=True))
                notify(
                    f"{job.source}: skipped, "
                    f"{written[0] if len(written) == 1 else f'its {len(written)} output files'} up to date"
                )
                continue
            earlier = failed_unchanged(job)
            if earlier is not None:
                done.append(FileSummary(job.source, job.target, skipped=True, failed_before=earlier))
                notify(f"{job.source}: skipped, unchanged since it failed: {earlier}")
                continue
        try:
            done.append(tag(job))
        except InputError as error:
            if options.fail_fast or len(jobs) == 1:
                raise
            record_failure(job, error.message)
            done.append(FileSummary(job.source, job.target, error=error.message))
            on_failure(error.message)
            continue
        clear_failure(job)
    return done


def predict_stream(
    model: Model,
    runner: Runner,
    schema: OutputSchema,
    batches: Iterator[pa.RecordBatch],
    *,
    source: str,
    fmt: str,
    options: PredictOptions,
    on_rows: Callable[[int], None] = lambda n: None,
    notify: Notify = lambda message: None,
    counts: LabelCounts | None = None,
) -> Iterator[tuple[pa.RecordBatch, int]]:
    """Yield (output batch, bad rows in it) for every input batch of one source (read as format `fmt`), in input
    order; `counts`, if given, adds up what the rows were given."""
    first = next(batches, None)
    if first is None:
        return
    columns = InputColumns(first.schema, options, source, fmt, model.text_columns, schema.names)
    notify(f"{source}: text column {describe(columns.text)}, keeping {', '.join(columns.keep)}")

    def read() -> Iterator[TextChunk]:
        start = 0
        for batch in chain(first, batches):
            yield columns.chunk(batch, pa.array(np.arange(start, start + batch.num_rows, dtype=np.int64)))
            start += batch.num_rows

    def chunks() -> Iterator[tuple[pa.Array, TextChunk]]:
        for chunk in rebatch(read(), options.batch_size, TextChunk.concat):
            yield chunk.text, chunk

    rows = 0
    for chunk, predictions in runner.run(chunks()):
        stop_if_received()  # a Ctrl-C or SIGTERM that a library swallowed still ends the run here
        out = schema.batch(chunk.kept, chunk.bad, chunk.reasons, predictions)
        if counts is not None:
            counts.add(predictions, chunk.bad, chunk.reasons)
        on_rows(out.num_rows)
        rows += out.num_rows
        yield out, int(chunk.bad.sum())
    if not rows:  # a header and no rows: an output of none, with the columns a non-empty input gets
        yield schema.empty(columns.kept_fields()), 0


class TaggingModel(Model):
    """The model `mlc.load` and `mlc.train` give: a `Model` that also tags whole tables as batch-predict tags files."""

    def predict_table(
        self,
        table: Any,
        text_column: str | None = None,
        k: int = 3,
        threshold: float | None = None,
        keep_columns: Sequence[str] | None = None,
        explain: int = 0,
    ) -> pa.Table:
        """An Arrow table (or pandas DataFrame) tagged as batch-predict tags a file: the same columns and values."""
        if not isinstance(table, (pa.Table, pa.RecordBatch)):
            try:
                table = pa.Table.from_pandas(table, preserve_index=False)
            except (TypeError, AttributeError, pa.ArrowException) as error:
                raise InputError(
                    f"predict_table needs a pyarrow Table or a pandas DataFrame, got {type(table).__name__}"
                ) from error
        if isinstance(table, pa.RecordBatch):
            table = pa.Table.from_batches([table])
        options = PredictOptions(
            text_column=text_column,
            keep_columns=tuple(keep_columns) if keep_columns else None,
            top_k=k,
            threshold=threshold,
            explain=explain,
        )
        schema = options.output_schema(self)
        runner = self.runner(k, threshold, explain)
        batches = iter(table.to_batches(max_chunksize=DEFAULT_BATCH_SIZE)) if table.num_rows else iter(())
        stream = predict_stream(self, runner, schema, batches, source="table", fmt="parquet", options=options)
        outputs = [batch for batch, _ in stream]
        return pa.Table.from_batches(outputs or [schema.empty(kept_fields(options))])


def _remove_stale_temps(job: FileJob, notify: Notify) -> None:
    """Temp files of this target left by a run that was killed (SIGKILL, power loss): we hold the directory's lock,
    so no live run is writing them."""
    if job.target == STDOUT or writes_in_place(job.target):
        return
    target = Path(job.target)
    for stale in target.parent.glob(f".{glob.escape(target.name)}.*.tmp"):
        if stale.is_file():
            stale.unlink(missing_ok=True)
            notify(f"{stale}: removed, left by an interrupted run")


def _tag_file(
    model: Model,
    runner: Runner,
    schema: OutputSchema,
    job: FileJob,
    options: PredictOptions,
    on_rows: Callable[[int], None],
    notify: Notify,
    on_file: Callable[[str, InputSize], None],
) -> FileSummary:
    result = FileSummary(job.source, job.target)
    fmt = output_format(job.target, options.output_format)
    on_file(job.source, input_size(job.source, detect_format(job.source, options.input_format)))
    gzip = job.target.lower().endswith(".gz")
    batches = read_batches(job.source, ReadOptions(input_format=options.input_format))
    counts = LabelCounts(len(model.labels)) if options.count_labels else None
    stream = predict_stream(
        model,
        runner,
        schema,
        batches,
        source=job.source,
        fmt=detect_format(job.source, options.input_format),
        options=options,
        on_rows=on_rows,
        notify=notify,
        counts=counts,
    )
    first = next(stream, None)  # reads, checks columns and predicts the first batch before any output exists
    empty = schema.empty(kept_fields(options))
    try:
        if job.target == STDOUT:
            _write_all(open_writer(STDOUT, fmt, gzip=gzip), first, stream, result, empty)
        else:
            with output_target(job.target) as destination:
                _write_all(open_writer(destination, fmt, gzip=gzip), first, stream, result, empty)
    except BrokenPipeError as error:  # `mlc batch-predict ... -o - | head`, or a FIFO's reader that left
        raise OutputError(f"{job.target}: its reader closed it before all rows were written") from error
    notify(f"{job.source}: {result.rows} rows ({result.bad_rows} bad) -> {job.target}")
    result.counts = counts
    return result


def _write_all(
    writer: Any, first: tuple[pa.RecordBatch, int] | None, rest: Iterator, result: FileSummary, empty: pa.RecordBatch
) -> None:
    try:
        if first is None:  # an input without even a header
            writer.write(empty)
            return
        for batch, bad in chain(first, rest):
            writer.write(batch)
            result.rows += batch.num_rows
            result.bad_rows += bad
        stop_if_received()  # one that came during the last batch: no output either
    finally:
        writer.close()
