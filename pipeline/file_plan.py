"""Which files batch-predict reads and writes: expanded inputs, output names that stay inside --out-dir, a lock."""

from __future__ import annotations

import contextlib
import fcntl
import glob
import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from mlc.models.atomic import writes_in_place
from mlc.models.errors import InputError, LockedError
from mlc.pipeline.readers import STDIN, SUFFIXES, detect_format, file_info, format_from_suffix, is_stream, is_uri
from mlc.pipeline.writers import STDOUT

LOCK_NAME = ".mlc.lock"
TAGGED = ".tagged"  # `a.parquet` is tagged into `a.tagged.parquet` beside it when no output is named
OUTPUT_SUFFIX = {"parquet": ".parquet", "csv": ".csv", "jsonl": ".jsonl"}


def expand_inputs(patterns: Sequence[str]) -> list[str]:
    """Paths, globs and directories (their files with a known suffix, sorted) as a list of inputs, `-` kept. An
    argument that names an existing file is that file, whatever characters its name holds; only one that names
    nothing is expanded as a glob."""
    found: list[str] = []
    for pattern in patterns:
        if pattern == STDIN:
            found.append(STDIN)
            continue
        path = Path(pattern)
        if path.is_dir():
            found.extend(
                str(p) for p in sorted(path.iterdir()) if p.is_file() and format_from_suffix(p) and _is_input(p)
            )
        elif glob.has_magic(pattern) and not path.exists():
            matches = [m for m in sorted(glob.glob(pattern)) if Path(m).is_file() and _is_input(Path(m))]
            if not matches:
                raise InputError(f"{pattern}: no file matches")
            found.extend(matches)
        else:
            found.append(pattern)
    if not found:
        raise InputError("no input files found")
    if found.count(STDIN) > 1:
        raise InputError("standard input (-) can be read only once")
    return found


def _is_input(path: Path) -> bool:
    """A file a directory or a glob brings in: not hidden (temp files, failure records), not an output mlc wrote
    beside its input (`*.tagged.*`), which a later run over the same directory would otherwise tag again."""
    return not path.name.startswith(".") and not stem(str(path)).endswith(TAGGED)


def stem(source: str) -> str:
    """`inbox/a.jsonl.gz` -> `a`: the output's name inside --out-dir (a base name, so it cannot escape it)."""
    name = Path(source).name
    for _ in range(2):
        if Path(name).suffix.lower() in (".gz", *SUFFIXES):
            name = Path(name).stem
    return name or "stdin"


@dataclass(frozen=True)
class FileJob:
    """One input and the output it is written to."""

    source: str
    target: str  # a path, or "-" for stdout


def plan_jobs(
    sources: Sequence[str], output: str | None, out_dir: Path | None, fmt: str | None, input_format: str | None = None
) -> list[FileJob]:
    """Pair each input with its output: `-o` for one input, else `--out-dir/<stem>.<fmt>`, else `<stem>.tagged.<fmt>`
    beside the input (standard input goes to standard output); refuse colliding targets before anything is written."""
    if output is not None and out_dir is not None:
        raise InputError("give at most one of -o/--output FILE and --out-dir DIR")
    if output is not None:
        if len(sources) > 1:
            raise InputError(f"{len(sources)} inputs but one -o file; use --out-dir for several inputs")
        return [_not_in_place(FileJob(sources[0], output))]
    jobs: list[FileJob] = []
    seen: dict[str, str] = {}
    for source in sources:
        if source == STDIN and out_dir is None:
            jobs.append(FileJob(source, STDOUT))
            continue
        if out_dir is None and is_uri(source):
            raise InputError(f"{source}: not a local file, so its output cannot go beside it; give -o or --out-dir")
        if out_dir is None and is_stream(source):
            raise InputError(f"{source}: not a regular file, so its output cannot go beside it; give -o or --out-dir")
        suffix = OUTPUT_SUFFIX[fmt or detect_format(source, input_format)]
        beside = Path(source).parent if out_dir is None else None
        target = out_dir / (stem(source) + suffix) if beside is None else beside / (stem(source) + TAGGED + suffix)
        if str(target) in seen:
            raise InputError(f"{source} and {seen[str(target)]} would both write {target}")
        seen[str(target)] = source
        jobs.append(_not_in_place(FileJob(source, str(target))))
    return jobs


def _not_in_place(job: FileJob) -> FileJob:
    """Refuse an output that is its own input (`--out-dir` the input's folder, `-o` the input, or a link to it):
    the finished output would replace the rows it was made from."""
    if job.source == STDIN or job.target == STDOUT or is_uri(job.source) or is_stream(job.source):
        return job
    try:
        same = os.path.samefile(job.source, job.target)
    except OSError:  # either does not exist (yet): the same path only if they resolve alike
        same = Path(job.source).resolve() == Path(job.target).resolve()
    if same:
        raise InputError(f"{job.source}: its output would replace it; give another -o file or --out-dir")
    return job


def is_up_to_date(source: str, outputs: Sequence[Path]) -> bool:
    """For --skip-existing: the input's outputs exist and are all newer than it (never for a stream: a pipe's
    contents are new each time)."""
    if is_stream(source) or not outputs:
        return False
    source_time = file_info(source)[1]
    return all(path.exists() and path.stat().st_mtime >= source_time for path in outputs)


def failure_record(job: FileJob) -> Path | None:
    """Where a failed input's error is kept beside its output (hidden, so no glob or reader takes it as data); none
    for a stream, whose next contents are another input, or for an output that is not a regular file."""
    if job.target == STDOUT or is_stream(job.source) or writes_in_place(job.target):
        return None
    target = Path(job.target)
    return target.with_name(f".{target.name}.failed")


def record_failure(job: FileJob, error: str) -> None:
    """Remember that `job.source`, as it is now (size, modification time), failed with `error`."""
    record = failure_record(job)
    if record is None:
        return
    size, mtime = file_info(job.source)
    with contextlib.suppress(OSError):  # a record that cannot be written only means the input is tried again
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps({"source": job.source, "size": size, "mtime": mtime, "error": error}) + "\n")


def clear_failure(job: FileJob) -> None:
    record = failure_record(job)
    if record is not None:
        record.unlink(missing_ok=True)


def failed_unchanged(job: FileJob) -> str | None:
    """The error an earlier run recorded for this input, if the input has not changed since; else None."""
    record = failure_record(job)
    if record is None or not record.is_file():
        return None
    try:
        kept = json.loads(record.read_text())
        return str(kept["error"]) if [kept["size"], kept["mtime"]] == list(file_info(job.source)) else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


@contextmanager
def output_lock(directory: Path) -> Iterator[None]:
    """An exclusive lock on the output directory: a second run over the same outputs stops at once.

    The lock file is removed on release so nothing is left beside the outputs; a run that locked a file another
    run had just removed sees the inode changed and stops as well (the usual flock-and-unlink check).
    """
    directory.mkdir(parents=True, exist_ok=True)
    lock_path = directory / LOCK_NAME
    handle = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if not _same_file(handle, lock_path):
                raise BlockingIOError
        except BlockingIOError as error:
            raise LockedError(
                f"{directory}: another mlc run is writing here (lock {lock_path}); try again later"
            ) from error
        os.ftruncate(handle, 0)
        os.write(handle, f"{os.getpid()}\n".encode())
        try:
            yield
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(lock_path)
    finally:
        os.close(handle)


def _same_file(handle: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(handle), os.stat(path))
    except FileNotFoundError:
        return False
