"""`batch-predict --engine ray`: the same tagging on Ray Data, on this machine or on a cluster: mlc's readers in
Ray read tasks, actors tagging with the local engine's model, columns and output schema, and each input's block
files renamed into --out-dir as `<stem>-<task>-<block>.<ext>` only once all of its rows are written."""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import os
import re
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mlc.models.errors import InputError, MlcError, NetworkError, UsageError
from mlc.models.model import Model
from mlc.models.model_dir import REQUIRED_FILES
from mlc.models.tf_backend.runtime import quiet_native_stderr
from mlc.pipeline import signal_forwarding
from mlc.pipeline.batch_predict import FileSummary, PredictSummary, tag_each_file
from mlc.pipeline.file_plan import FileJob, expand_inputs, output_lock, plan_jobs, stem
from mlc.pipeline.readers import (
    ReadOptions,
    detect_format,
    file_info,
    is_uri,
    open_seekable,
    read_batches,
    regular_file,
)
from mlc.pipeline.stop_signals import stop_if_received
from mlc.pipeline.tagging import ROW_FIELD, InputColumns, PredictOptions
from mlc.pipeline.writers import flatten_lists

PARQUET_ROWS_PER_TASK = 200_000
CPUS_PER_WORKER = 1  # each actor tags one batch at a time, its ops on one thread


@dataclass(frozen=True)
class RayOptions:
    address: str | None = None  # None: start a local Ray instance (or join RAY_ADDRESS)
    workers: int = 1
    gpus_per_worker: float = 0.0


def import_ray() -> Any:
    try:
        with quiet_native_stderr():
            import ray
            import ray.data  # noqa: F401
    except ImportError as error:
        raise UsageError("--engine ray needs Ray Data: pip install 'mlc[ray]'") from error
    return ray


# --- reading ---------------------------------------------------------------------------------------------


# The columns the read tasks add beside the kept ones: the row number, the text and why a row has none.
TEXT_FIELD, ERROR_FIELD = "__mlc_text", "__mlc_error"
Columns = Callable[[pa.Schema], InputColumns]  # the local engine's column rules for one input, from its first batch


def read_tasks(
    source: str, options: ReadOptions, batch_rows: int, columns: Columns
) -> list[tuple[Callable[[], Iterator[pa.Table]], int | None]]:
    """(read function, row count if known) per task: Parquet split by row groups, other formats one task."""
    if detect_format(source, options.input_format) == "parquet":
        try:
            metadata = pq.read_metadata(open_seekable(source))
        except (pa.ArrowException, OSError) as error:
            raise InputError(f"{source}: unreadable Parquet: {' '.join(str(error).split())}") from error
        spans, start, first, rows = [], 0, 0, 0
        for group in range(metadata.num_row_groups):
            rows += metadata.row_group(group).num_rows
            if rows >= PARQUET_ROWS_PER_TASK or group == metadata.num_row_groups - 1:
                spans.append((first, group + 1, start, rows))
                start, first, rows = start + rows, group + 1, 0
        tasks = []
        for a, b, offset, n in spans:
            piece = dataclasses.replace(options, row_groups=(a, b), first_row=offset, parquet_batch_rows=batch_rows)
            tasks.append((_read_task(source, piece, batch_rows, columns), n))
        return tasks or [(_read_task(source, options, batch_rows, columns), 0)]
    return [(_read_task(source, options, batch_rows, columns), None)]


def _read_task(
    source: str, options: ReadOptions, batch_rows: int, columns: Columns
) -> Callable[[], Iterator[pa.Table]]:
    """Read through the local engine's readers and column rules (every size, type and text check), so each block
    already holds the kept columns in one schema, the text and its faults: the actors only score."""

    def read() -> Iterator[pa.Table]:
        start, rules = options.first_row, None
        for batch in read_batches(source, options):
            rules = rules or columns(batch.schema)
            for offset in range(0, batch.num_rows, batch_rows):
                piece = batch.slice(offset, batch_rows)
                rows = pa.array(np.arange(start, start + piece.num_rows, dtype=np.int64))
                chunk = rules.chunk(piece, rows)
                yield pa.table({**chunk.kept, TEXT_FIELD: chunk.text, ERROR_FIELD: chunk.reasons, ROW_FIELD: rows})
                start += piece.num_rows

    return read


def _datasource(ray: Any, source: str, options: ReadOptions, batch_rows: int, columns: Columns) -> Any:
    from ray.data.block import BlockMetadata
    from ray.data.datasource import Datasource, ReadTask

    tasks = read_tasks(source, options, batch_rows, columns)
    size = file_info(source)[0]

    class MlcFiles(Datasource):
        def estimate_inmemory_data_size(self) -> int:
            return size * 2

        def get_read_tasks(self, parallelism: int, per_task_row_limit: Any = None, data_context: Any = None) -> list:
            return [
                ReadTask(
                    fn, BlockMetadata(num_rows=n, size_bytes=size // len(tasks), input_files=[source], exec_stats=None)
                )
                for fn, n in tasks
            ]

    return MlcFiles()


# --- tagging ---------------------------------------------------------------------------------------------


class TagActor:
    """One per Ray worker: the model loaded once, then batches of rows in, output columns out."""

    def __init__(self, model_files: Any, options: PredictOptions, output_format: str) -> None:
        import ray

        if isinstance(model_files, ray.ObjectRef):  # constructor arguments are not resolved by Ray Data
            model_files = ray.get(model_files)
        if options.backend == "tensorflow":
            from mlc.models.tf_backend.runtime import limit_op_threads

            limit_op_threads(CPUS_PER_WORKER)  # before the first tensor
        scratch = Path(tempfile.mkdtemp(prefix="mlc-ray-model-"))
        try:
            for name, data in model_files.items():
                (scratch / name).write_bytes(data)
            self.model = Model.load(scratch, options.backend)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        self.schema = options.output_schema(self.model)
        self.options, self.csv = options, output_format == "csv"

    def __call__(self, table: pa.Table) -> pa.Table:
        if not table.num_rows:
            return table
        batch = table.combine_chunks().to_batches()[0]
        reasons = batch.column(ERROR_FIELD)
        kept = {name: batch.column(name) for name in batch.schema.names if name not in _ADDED}
        predictions = self.model.predict_batch(
            batch.column(TEXT_FIELD),
            self.options.top_k,
            self.options.threshold,
            self.options.explain,
        )
        bad = pc.is_valid(reasons).to_numpy(zero_copy_only=False)
        out = self.schema.batch(kept, bad, reasons, predictions)
        return pa.Table.from_batches([flatten_lists(out) if self.csv else out])


_ADDED = {TEXT_FIELD, ERROR_FIELD, ROW_FIELD}


# --- the job ---------------------------------------------------------------------------------------------


def ray_batch_predict(
    inputs: Sequence[str],
    model_dir: Path,
    out_dir: Path | None,
    options: PredictOptions,
    ray_options: RayOptions,
    *,
    notify: Callable[[str], None] = lambda message: None,
    on_failure: Callable[[str], None] = lambda message: None,
) -> PredictSummary:
    """Tag every input on Ray; each input's files appear in --out-dir only once all of its rows are written."""
    if out_dir is None:
        raise UsageError("--engine ray writes one file per block: give --out-dir DIR (not -o)")
    if options.count_labels:
        raise UsageError("--report and --fail-on-drift need the local engine")
    ray = import_ray()
    jobs = plan_jobs(expand_inputs(inputs), None, out_dir, options.output_format, options.input_format)
    model = Model.load(model_dir, options.backend)  # a bad model dir fails here, before Ray starts, as locally
    model.check_options(options.top_k, options.threshold, options.explain)  # the workers score: no backend here
    options = replace(options, backend=model.backend)  # the workers score with the backend chosen here
    model_files = {name: (Path(model_dir) / name).read_bytes() for name in REQUIRED_FILES}
    _init(ray, ray_options)
    summary = PredictSummary(device=f"Ray ({ray_options.workers} worker(s), {ray_options.gpus_per_worker:g} GPU each)")
    started = time.perf_counter()
    model_ref = ray.put(model_files)
    with output_lock(out_dir):
        summary.files = tag_each_file(
            jobs,
            lambda job: _block_files(job, out_dir),
            lambda job: _tag_file(ray, job, model, model_ref, options, ray_options, out_dir, notify),
            options,
            notify,
            on_failure,
        )
    summary.seconds = time.perf_counter() - started
    return summary


def _init(ray: Any, options: RayOptions) -> None:
    import logging

    if not os.environ.get("MLC_DEBUG"):  # Ray's own lines and progress bars would bury mlc's one-line messages
        os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
        for name in ("ray", "ray.data"):
            logger = logging.getLogger(name)
            logger.setLevel(logging.CRITICAL)
            for handler in logger.handlers:  # Ray Data logs to stderr through its own handler; its log file stays
                if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
                    handler.setLevel(logging.CRITICAL + 1)
        warnings.filterwarnings("ignore", module=r"ray(\.|$)")
        warnings.filterwarnings("ignore", message=r".*ray\.data.*")
    if not ray.is_initialized():
        signal_forwarding.unblock()  # Ray's processes inherit this thread's signal mask; Ray stops them with SIGTERM
        try:
            with quiet_native_stderr():
                ray.init(address=options.address, log_to_driver=False, include_dashboard=False, configure_logging=False)
        except (ConnectionError, TimeoutError, RuntimeError, ValueError) as error:
            reason = (" ".join(str(error).split()) or type(error).__name__)[:300]
            raise NetworkError(
                "cannot join the Ray cluster at "
                f"{options.address or os.environ.get('RAY_ADDRESS') or 'the local machine'}: "
                f"{reason}; check the address (--ray-address, RAY_ADDRESS) and, for a cluster with token "
                "authentication, set RAY_AUTH_MODE=token and the cluster's token (RAY_AUTH_TOKEN or its token file)"
            ) from error
    ray.data.DataContext.get_current().enable_progress_bars = False


def _tag_file(
    ray: Any,
    job: FileJob,
    model: Model,
    model_ref: Any,
    options: PredictOptions,
    ray_options: RayOptions,
    out_dir: Path,
    notify: Callable[[str], None],
) -> FileSummary:
    fmt = Path(job.target).suffix.lstrip(".")
    name = stem(job.source)
    temp = Path(
        tempfile.mkdtemp(prefix=f".{name}.ray.", suffix=".tmp", dir=out_dir.resolve())
    )  # absolute: workers run elsewhere
    local = job.source
    files = contextlib.ExitStack()
    files.callback(shutil.rmtree, temp, ignore_errors=True)
    try:
        # A stream (a pipe, `-`) is copied once into --out-dir, where every worker can read it as a file.
        local = files.enter_context(regular_file(job.source, out_dir.resolve()))
        input_format = detect_format(job.source, options.input_format)
        read_options = ReadOptions(input_format=input_format)

        preferred_text, output_names = model.text_columns, options.output_schema(model).names

        def columns(schema: pa.Schema) -> InputColumns:
            return InputColumns(schema, options, job.source, input_format, preferred_text, output_names)

        # Read tasks ask for no CPU: the tagging actors may hold every CPU Ray knows of (2 workers on 2 cores),
        # and reads waiting for a CPU would then wait forever; Ray Data's backpressure still bounds them.
        dataset = ray.data.read_datasource(
            _datasource(ray, _for_workers(local), read_options, options.batch_size, columns),
            num_cpus=0,
        )
        tagged = dataset.map_batches(
            TagActor,
            fn_constructor_args=(model_ref, options, fmt),
            batch_format="pyarrow",
            batch_size=options.batch_size,
            compute=ray.data.ActorPoolStrategy(size=ray_options.workers),
            num_cpus=CPUS_PER_WORKER,
            num_gpus=ray_options.gpus_per_worker or None,
            # Ray Data's actor pools restart a dead actor and retry its batch (max_restarts/max_task_retries -1
            # by default); the test that kills a worker mid-run holds it to that.
        )
        writer = {"parquet": tagged.write_parquet, "csv": tagged.write_csv, "jsonl": tagged.write_json}[fmt]
        from ray.data import SaveMode

        # OVERWRITE: the folder is this run's own temp folder (and Ray then accepts names without its write id)
        writer(str(temp), filename_provider=_names(name, fmt), mode=SaveMode.OVERWRITE)
        stop_if_received()  # a Ctrl-C or SIGTERM that Ray swallowed during the write: nothing published
        written = _publish(temp, out_dir, name, fmt)
    except Exception as error:
        raise _own_error(error, local, job.source) from error
    finally:
        files.close()
    result = FileSummary(job.source, str(out_dir / f"{name}-*.{fmt}"))
    for path in written:
        rows, bad = _counts(path, fmt)
        result.rows += rows
        result.bad_rows += bad
    notify(f"{job.source}: {result.rows} rows ({result.bad_rows} bad) -> {len(written)} file(s) {result.target}")
    return result


def _for_workers(source: str) -> str:
    """The input as Ray's workers must name it: a local path made absolute (their working directory is not ours)."""
    return source if is_uri(source) else str(Path(source).resolve())


def _block_files(job: FileJob, out_dir: Path) -> list[Path]:
    """The block files an earlier run wrote for this input."""
    return list(out_dir.glob(f"{glob.escape(stem(job.source))}-*.{Path(job.target).suffix.lstrip('.')}"))


def _names(name: str, fmt: str) -> Any:
    """Ray's FilenameProvider giving `<stem>-<task>[-<block>].<ext>`, so the files of one input sort together."""
    from ray.data.datasource import FilenameProvider

    class Names(_Names, FilenameProvider):
        pass

    return Names(name, fmt)


class _Names:
    def __init__(self, name: str, fmt: str) -> None:
        self.name, self.fmt = name, fmt

    def get_filename_for_task(self, write_uuid: str, task_index: int) -> str:
        return f"{self.name}-{task_index:05d}.{self.fmt}"

    def get_filename_for_block(self, block: Any, write_uuid: str, task_index: int, block_index: int) -> str:
        return f"{self.name}-{task_index:05d}-{block_index:04d}.{self.fmt}"

    def get_filename_for_row(self, row: Any, write_uuid: str, task_index: int, block_index: int, row_index: int) -> str:
        return f"{self.name}-{task_index:05d}-{block_index:04d}-{row_index:06d}.{self.fmt}"


def _publish(temp: Path, out_dir: Path, name: str, fmt: str) -> list[Path]:
    """Replace the input's previous block files with the new ones (we hold the directory's lock)."""
    for old in out_dir.glob(f"{name}-*.{fmt}"):
        old.unlink()
    written = []
    for path in sorted(temp.iterdir()):
        target = out_dir / path.name
        path.replace(target)
        written.append(target)
    return written


def _counts(path: Path, fmt: str) -> tuple[int, int]:
    """(rows, rows with an error) of one written block file (Parquet: its `error` column only)."""
    if fmt == "parquet":
        errors = pq.read_table(path, columns=["error"]).column("error")
        return len(errors), len(errors) - errors.null_count
    rows = bad = 0
    for batch in read_batches(path, ReadOptions(input_format=fmt)):
        errors = batch.column("error")
        rows += batch.num_rows
        bad += int(sum(1 for e in errors.to_pylist() if e))
    return rows, bad


def _own_error(error: BaseException, read_as: str, source: str) -> BaseException:
    """The MlcError a Ray task raised, rebuilt: Ray Data re-raises user errors as a `UserCodeException` whose
    text holds the original's traceback but not the object, so the last `SomeError: message` line of one of our
    classes is taken (our messages are one line), naming `source` where the workers read its copy `read_as`.
    Anything else is returned unchanged."""
    from mlc.models import errors

    ours = {cls.__name__: cls for cls in vars(errors).values() if isinstance(cls, type) and issubclass(cls, MlcError)}
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, MlcError) and type(seen).__module__.startswith("mlc."):
            return type(seen)(seen.message.replace(read_as, source)) if read_as != source else seen
        seen = seen.__cause__ or seen.__context__
    found = re.findall(rf"(?:^|[\s.])({'|'.join(ours)}): (.+)$", str(error), flags=re.MULTILINE)
    if found:
        name, message = found[-1]
        return ours[name](message.replace(read_as, source))
    return error
