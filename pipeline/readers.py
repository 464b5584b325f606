"""One streaming reader per input format, each yielding Arrow record batches, picked by suffix in one table.
CSV and JSONL are parsed in blocks, Parquet by row group, so memory depends on the block size, not the file's;
every failure is an `InputError` naming the file and, where the parser knows it, the line or row."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from mlc.models.atomic import is_special_file
from mlc.models.errors import InputError, MlcError

STDIN = "-"
GZIP_MAGIC = b"\x1f\x8b"
# pyarrow's JSON parser recurses per level and crashed the process (SIGSEGV) on a line nested 100,000 deep;
# real records nest a few levels, so lines deeper than this are refused before any parser sees them.
MAX_JSON_DEPTH = 64
# The longest record mlc reads, in bytes: a CSV row, a JSONL line, a Parquet text cell. Longer ones are refused,
# naming the row, so that one pasted-in book cannot exhaust memory.
MAX_RECORD_BYTES = 64 << 20
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')


@dataclass(frozen=True)
class ReadOptions:
    """How to read one input: the format (None: from the suffix) and the size of the blocks."""

    input_format: str | None = None
    block_bytes: int = 8 << 20
    parquet_batch_rows: int = 16_384
    # Parquet read in parallel pieces (the Ray engine): row groups [start, end) only, whose first row is `first_row`
    # of the file, so that errors name the file's row numbers.
    row_groups: tuple[int, int] | None = None
    first_row: int = 0


def detect_format(source: str | Path, override: str | None = None) -> str:
    """The reader name for `source`: `--input-format` wins, then the suffix (`.gz` looked through); stdin is JSONL."""
    return resolve_format(source, override, known=list(READERS), stream=STDIN, option="--input-format")


def resolve_format(path: str | Path, override: str | None, *, known: list[str], stream: str, option: str) -> str:
    """The one rule for input and output formats: the option wins, then the suffix; `-` (a stream) is JSONL."""
    if override:
        name = override.lower().lstrip(".")
        if name not in known:
            raise InputError(f"unknown format '{override}' for {option} (choose from {', '.join(known)})")
        return name
    if str(path) == stream:
        return "jsonl"
    name = format_from_suffix(path)
    if name is None:
        raise InputError(
            f"{path}: cannot tell the format from the suffix '{Path(path).suffix or '(none)'}'; "
            f"use {option} ({', '.join(known)})"
        )
    return name


def format_from_suffix(path: str | Path) -> str | None:
    """`parquet`, `csv` or `jsonl` from a file name (`.gz` looked through), or None; shared by readers and writers."""
    name = Path(path).name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    return SUFFIXES.get(Path(name).suffix) if name else None


def read_batches(source: str | Path, options: ReadOptions = ReadOptions()) -> Iterator[pa.RecordBatch]:
    """Stream `source` as record batches with the reader its format calls for."""
    name = detect_format(source, options.input_format)
    if str(source) != STDIN:
        check_file(source)
    return READERS[name](source, options)


# --- streams: standard input, pipes, `/dev/fd/N`, FIFOs and devices can be read once only, so they are opened
# once, never sniffed or sized beforehand; what must seek (Parquet) is copied to a temp file first.


def is_stream(source: str | Path) -> bool:
    """`-`, or a local path that is not a regular file or a directory (a pipe, `/dev/stdin`, `/dev/fd/N`, a
    FIFO, a character device): its bytes can be read only once."""
    return str(source) == STDIN or (not is_uri(source) and is_special_file(source))


class _Prefixed(io.RawIOBase):
    """Bytes already read from a stream, then the rest of that stream: a sniff that gives back what it took."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self.head, self.rest = head, rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.head:
            n = min(len(buffer), len(self.head))
            buffer[:n] = self.head[:n]
            self.head = self.head[n:]
            return n
        return self.rest.readinto(buffer)

    def close(self) -> None:
        self.rest.close()
        super().close()


def open_stream(source: str | Path) -> BinaryIO:
    """`source` opened once as a buffered binary stream, gunzipped when its first bytes say gzip."""
    raw = _raw_stream(source, buffering=0)
    head = b""
    while len(head) < len(GZIP_MAGIC):
        more = raw.read(len(GZIP_MAGIC) - len(head))
        if not more:
            break
        head += more
    stream = io.BufferedReader(_Prefixed(head, raw), 1 << 20)
    if head == GZIP_MAGIC:
        import gzip

        return gzip.GzipFile(fileobj=stream)  # type: ignore[return-value]
    return stream  # type: ignore[return-value]


@contextlib.contextmanager
def regular_file(source: str | Path, directory: str | Path | None = None) -> Iterator[str]:
    """A path that can be opened again and again: `source` itself, or, for a stream, its bytes copied once into a
    hidden temp file (in `directory`, default the system's; same suffix), removed on every way out. Errors
    raised in the block name `source`, not the copy."""
    if not is_stream(source):
        yield str(source)
        return
    suffix = "".join(Path(str(source)).suffixes[-2:]) if str(source) != STDIN else ".jsonl"  # `-` is JSONL
    handle, name = tempfile.mkstemp(prefix=".mlc-input.", suffix=suffix, dir=directory)
    try:
        with os.fdopen(handle, "wb") as copy, _raw_stream(source) as stream:
            shutil.copyfileobj(stream, copy, 1 << 20)
        yield name
    except MlcError as error:
        raise type(error)(error.message.replace(name, str(source))) from error
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)


def _raw_stream(source: str | Path, buffering: int = -1) -> BinaryIO:
    """The stream's bytes as they are (a gzip stays gzip); standard input through a descriptor of its own."""
    name = "-" if str(source) == STDIN else str(source)
    try:
        return os.fdopen(os.dup(0), "rb", buffering) if name == "-" else open(source, "rb", buffering)
    except OSError as error:
        raise InputError(f"{name}: cannot open: {_describe(error)}") from error


# --- where the bytes come from: a local path, or a URI of any filesystem pyarrow knows (s3://, gs://, hdfs://,
# file://), so the same readers serve the local engine and Ray's read tasks on a cluster.


def is_uri(source: str | Path) -> bool:
    scheme, sep, _ = str(source).partition("://")
    return bool(sep) and len(scheme) > 1 and scheme.replace("+", "").isalnum()


def _filesystem(source: str | Path) -> tuple[Any, str]:
    import pyarrow.fs as pafs

    try:
        return pafs.FileSystem.from_uri(str(source))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as error:
        raise InputError(f"{source}: cannot open: {_describe(error)}") from error


def check_file(source: str | Path) -> None:
    """InputError unless `source` is an existing file (locally or on its URI's filesystem)."""
    if is_uri(source):
        import pyarrow.fs as pafs

        filesystem, path = _filesystem(source)
        try:
            kind = filesystem.get_file_info(path).type
        except OSError as error:
            raise InputError(f"{source}: cannot open: {_describe(error)}") from error
        if kind == pafs.FileType.NotFound:
            raise InputError(f"{source}: no such file")
        if kind == pafs.FileType.Directory:
            raise InputError(f"{source}: is a directory, not a file")
        return
    path = Path(source)
    if not path.exists():
        raise InputError(f"{source}: no such file")
    if path.is_dir():
        raise InputError(f"{source}: is a directory, not a file")


def file_info(source: str | Path) -> tuple[int, float]:
    """(size in bytes, modification time in seconds) of an input."""
    if is_uri(source):
        filesystem, path = _filesystem(source)
        info = filesystem.get_file_info(path)
        return int(info.size or 0), info.mtime.timestamp() if info.mtime else 0.0
    stat = Path(source).stat()
    return stat.st_size, stat.st_mtime


def open_input(source: str | Path) -> BinaryIO:
    """A buffered binary stream of `source` (a path or a URI)."""
    if is_uri(source):
        filesystem, path = _filesystem(source)
        try:
            return io.BufferedReader(filesystem.open_input_stream(path), 1 << 20)  # type: ignore[return-value]
        except OSError as error:
            raise InputError(f"{source}: cannot open: {_describe(error)}") from error
    return open(source, "rb")


def _native(source: str | Path) -> Any:
    """What `pa.input_stream` reads natively (no Python in the read loop): the path, or the URI's stream."""
    if is_uri(source):
        filesystem, path = _filesystem(source)
        return filesystem.open_input_stream(path)
    return str(source)


def open_seekable(source: str | Path) -> Any:
    """A random-access file of `source`, for Parquet: the path itself, or the URI's filesystem file."""
    if is_uri(source):
        filesystem, path = _filesystem(source)
        return filesystem.open_input_file(path)
    return source


def _is_gzip(path: str | Path) -> bool:
    with open_input(path) as handle:
        return handle.read(2) == GZIP_MAGIC


def _describe(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def text_lines(stream: BinaryIO, name: str) -> list[str]:
    """One text per non-blank line of `stream`, which must be UTF-8 as every input mlc reads (the error names the
    line); for `mlc explain -`."""
    texts = []
    for number, line in enumerate(stream, start=1):
        try:
            text = line.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError as error:
            raise InputError(f"{name}: line {number}: not valid UTF-8") from error
        if text.strip():
            texts.append(text)
    return texts


# --- CSV -------------------------------------------------------------------------------------------------


def read_csv(source: str | Path, options: ReadOptions) -> Iterator[pa.RecordBatch]:
    """CSV (optionally gzip) with a header row; every column read as text so no block can change a type. A row
    longer than a block is read by starting again after the rows already read, with blocks of the longest row
    mlc accepts (`MAX_RECORD_BYTES`); only the file that needs them pays for them."""
    if is_stream(source):
        yield from _read_csv_stream(source, options)
        return
    path = source
    compression = "gzip" if _is_gzip(path) else None
    names = _csv_header(path, compression)
    read, block = 0, options.block_bytes
    while True:
        try:
            stream = pa.input_stream(_native(path), compression=compression)
            for batch in _csv_batches(stream, names, str(path), block, read):
                read += batch.num_rows
                yield batch
            if not read:
                yield _no_rows(names)
            return
        except MemoryError:
            raise  # out of memory is not bad input (pyarrow's ArrowMemoryError is a MemoryError)
        except pa.ArrowInvalid as error:
            if "straddl" not in str(error):
                raise InputError(f"{path}: malformed CSV: {_describe(error)}") from error
            if block > MAX_RECORD_BYTES:
                raise InputError(
                    f"{path}: row {_long_csv_row(path, compression, read)}: longer than "
                    f"{MAX_RECORD_BYTES >> 20} MB, the longest row mlc reads"
                ) from error
            block = MAX_RECORD_BYTES + (1 << 20)
        except (OSError, UnicodeDecodeError) as error:
            raise InputError(f"{path}: malformed CSV: {_describe(error)}") from error


def _read_csv_stream(source: str | Path, options: ReadOptions) -> Iterator[pa.RecordBatch]:
    """CSV from a stream, read once: the header record is taken off the front and handed back to pyarrow, and the
    blocks are as large as the longest row mlc reads, since a stream cannot be read again for a longer one."""
    name = "-" if str(source) == STDIN else str(source)
    with open_stream(source) as stream:
        header = _header_record(stream, name)
        names = _csv_header_names(header, name)
        read = 0
        try:
            whole = pa.PythonFile(io.BufferedReader(_Prefixed(header, stream), 1 << 20), mode="r")
            for batch in _csv_batches(whole, names, name, MAX_RECORD_BYTES + (1 << 20), 0):
                read += batch.num_rows
                yield batch
            if not read:
                yield _no_rows(names)
        except MemoryError:
            raise
        except pa.ArrowInvalid as error:
            if "straddl" in str(error):
                raise InputError(
                    f"{name}: a row after row {read}: longer than {MAX_RECORD_BYTES >> 20} MB, the longest row "
                    "mlc reads"
                ) from error
            raise InputError(f"{name}: malformed CSV: {_describe(error)}") from error
        except (OSError, EOFError, UnicodeDecodeError) as error:
            raise InputError(f"{name}: malformed CSV: {_describe(error)}") from error


def _csv_batches(stream: Any, names: list[str], name: str, block: int, start: int) -> Iterator[pa.RecordBatch]:
    """pyarrow's streaming CSV reader from data row `start` on, every column read as text so no block can change
    a type, each batch's cells checked against the longest record mlc reads."""
    reader = pacsv.open_csv(
        stream,
        read_options=pacsv.ReadOptions(block_size=block, skip_rows_after_names=start),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(column_types={column: pa.string() for column in names}),
    )
    for batch in reader:
        _check_cell_sizes(batch, name, start)
        start += batch.num_rows
        yield batch


def _header_record(stream: BinaryIO, name: str) -> bytes:
    """The bytes of the first CSV record: lines up to one that closes every quote it opened."""
    header = b""
    while True:
        try:
            line = stream.readline(MAX_RECORD_BYTES + 1)
        except (OSError, EOFError) as error:
            raise InputError(f"{name}: cannot read the CSV header: {_describe(error)}") from error
        header += line
        if not line or header.count(b'"') % 2 == 0:
            return header
        if len(header) > MAX_RECORD_BYTES:
            raise InputError(f"{name}: line 1: header longer than {MAX_RECORD_BYTES >> 20} MB")


def _csv_header_names(header: bytes, name: str) -> list[str]:
    try:
        names = next(csv.reader(io.StringIO(header.decode("utf-8"), newline="")), None)
    except UnicodeDecodeError as error:
        raise InputError(f"{name}: line 1: header is not valid UTF-8") from error
    except csv.Error as error:
        raise InputError(f"{name}: cannot read the CSV header: {_describe(error)}") from error
    if not names:
        raise InputError(f"{name}: file is empty (no header row)")
    return names


def _no_rows(names: list[str]) -> pa.RecordBatch:
    """A header with no rows: a batch of none, so that the file's columns are still known."""
    return pa.RecordBatch.from_pylist([], schema=pa.schema([pa.field(name, pa.string()) for name in names]))


def _long_csv_row(path: str | Path, compression: str | None, start: int) -> int:
    """The 0-based data row, at or after `start`, whose fields add up to more than MAX_RECORD_BYTES (error path)."""
    limit = csv.field_size_limit()
    csv.field_size_limit(2**31 - 1)
    try:
        with pa.input_stream(_native(path), compression=compression) as raw:
            rows = csv.reader(io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline=""))
            next(rows, None)  # the header
            for row, fields in enumerate(rows):
                if row >= start and sum(len(field) for field in fields) > MAX_RECORD_BYTES:
                    return row
    finally:
        csv.field_size_limit(limit)
    return start


def _csv_header(path: str | Path, compression: str | None) -> list[str]:
    try:
        with pa.input_stream(_native(path), compression=compression) as raw:
            header = _header_record(io.BufferedReader(raw), str(path))  # type: ignore[arg-type]
    except (OSError, pa.ArrowInvalid) as error:
        raise InputError(f"{path}: cannot read the CSV header: {_describe(error)}") from error
    return _csv_header_names(header, str(path))


# --- JSONL -----------------------------------------------------------------------------------------------


def read_jsonl(source: str | Path, options: ReadOptions) -> Iterator[pa.RecordBatch]:
    """JSON Lines (optionally gzip, or `-` for stdin): one object per line, parsed a block of lines at a time.

    Each block infers its own schema, so a field that is a number early and text later cannot fail the file;
    a block pyarrow refuses is parsed again line by line to name the bad line exactly.
    """
    name = "-" if str(source) == STDIN else str(source)
    with _open_jsonl(source) as handle:
        first_line = 1
        while True:
            try:
                lines = handle.readlines(options.block_bytes)
            except (OSError, EOFError) as error:
                raise InputError(f"{name}: cannot read: {_describe(error)}") from error
            if not lines:
                return
            longest = max(map(len, lines))
            if longest > MAX_RECORD_BYTES:
                offset = next(i for i, line in enumerate(lines) if len(line) == longest)
                raise InputError(
                    f"{name}: line {first_line + offset}: longer than {MAX_RECORD_BYTES >> 20} MB, the "
                    "longest line mlc reads"
                )
            for batch in _parse_jsonl_block(lines, name, first_line, longest):
                if batch.num_rows:
                    yield batch
            first_line += len(lines)


def _open_jsonl(source: str | Path) -> BinaryIO:
    if is_stream(source):
        return open_stream(source)
    if _is_gzip(source):
        import gzip

        # a local path is opened (and closed) by gzip itself; a URI's stream is closed with the process
        return gzip.open(source if not is_uri(source) else open_input(source), "rb")  # type: ignore[return-value]
    return open_input(source)


def _parse_jsonl_block(lines: list[bytes], name: str, first_line: int, longest: int) -> list[pa.RecordBatch]:
    _check_depth(lines, name, first_line)
    try:
        table = pajson.read_json(
            pa.BufferReader(b"".join(lines)),
            # pyarrow's blocks must hold whole lines: the default 1 MiB, or the longest line's size
            read_options=pajson.ReadOptions(block_size=max(1 << 20, 2 * longest)),
            parse_options=pajson.ParseOptions(newlines_in_values=False, unexpected_field_behavior="infer"),
        )
        table.validate(full=True)  # pyarrow's JSON parser lets invalid UTF-8 through; this catches it
        return [_table_to_batch(table)]
    # UnicodeDecodeError: invalid UTF-8 in a field *name* surfaces when pyarrow decodes the schema (found by
    # tests/test_fuzz.py); the slow path names the line.
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, UnicodeDecodeError):
        return list(_parse_jsonl_slowly(lines, name, first_line))


def _check_depth(lines: list[bytes], name: str, first_line: int) -> None:
    """Refuse a line nested deeper than MAX_JSON_DEPTH. Only lines with that many opening brackets can be, so
    the exact scan (strings removed, brackets summed) runs on almost none of them."""
    for offset, line in enumerate(lines):
        if line.count(b"[") + line.count(b"{") <= MAX_JSON_DEPTH:
            continue
        codes = np.frombuffer(_JSON_STRING.sub(b"", line), dtype=np.uint8)
        steps = np.isin(codes, (ord("["), ord("{"))).astype(np.int64) - np.isin(codes, (ord("]"), ord("}")))
        if steps.size and int(np.cumsum(steps).max()) > MAX_JSON_DEPTH:
            raise InputError(f"{name}: line {first_line + offset}: JSON nested deeper than {MAX_JSON_DEPTH} levels")


def _parse_jsonl_slowly(lines: list[bytes], name: str, first_line: int) -> Iterator[pa.RecordBatch]:
    """The exact-error path: Python's json per line; rows in runs where each field keeps one kind of value, so a
    number among strings stays a number (a bad row if it is the text) instead of turning into text."""
    records: list[dict] = []
    for offset, line in enumerate(lines):
        line_no = first_line + offset
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except UnicodeDecodeError as error:
            raise InputError(f"{name}: line {line_no}: not valid UTF-8") from error
        except (json.JSONDecodeError, RecursionError) as error:
            reason = error.msg if isinstance(error, json.JSONDecodeError) else "nested too deeply"
            raise InputError(f"{name}: line {line_no}: invalid JSON ({reason})") from error
        if not isinstance(value, dict):
            raise InputError(f"{name}: line {line_no}: expected a JSON object, got {type(value).__name__}")
        records.append(value)
    for run in _runs_of_one_kind(records):
        yield _records_to_batch(run)


def _runs_of_one_kind(records: list[dict]) -> Iterator[list[dict]]:
    """Consecutive records cut wherever a field's kind of value (string, number, boolean, object, list) changes."""
    run: list[dict] = []
    kinds: dict[str, str] = {}
    for record in records:
        seen = {key: _json_kind(value) for key, value in record.items() if value is not None}
        if any(kinds.get(key, kind) != kind for key, kind in seen.items()):
            yield run
            run, kinds = [], {}
        run.append(record)
        kinds.update(seen)
    if run:
        yield run


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__


def _records_to_batch(records: list[dict]) -> pa.RecordBatch:
    columns: dict[str, list] = {}
    for row, record in enumerate(records):
        for key, value in record.items():
            columns.setdefault(key, [None] * row).append(value)
        for values in columns.values():
            if len(values) <= row:
                values.append(None)
    arrays = {key: _column_array(values) for key, values in columns.items()}
    return pa.RecordBatch.from_pydict(arrays) if arrays else pa.RecordBatch.from_pydict({})


def _column_array(values: list) -> pa.Array:
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return pa.array([v if v is None or isinstance(v, str) else json.dumps(v) for v in values], pa.string())


def _table_to_batch(table: pa.Table) -> pa.RecordBatch:
    return table.combine_chunks().to_batches()[0] if table.num_rows else pa.RecordBatch.from_pydict({})


# --- Parquet ---------------------------------------------------------------------------------------------


def read_parquet(source: str | Path, options: ReadOptions) -> Iterator[pa.RecordBatch]:
    """Parquet in batches; pages are streamed through a small buffer, so a file written as one huge row group
    (pandas' default) does not have to fit in memory whole."""
    path = source
    spool = _spooled(source) if is_stream(source) else None  # Parquet's footer is at the end: it must seek
    try:
        parquet = pq.ParquetFile(spool or open_seekable(path), buffer_size=4 << 20, pre_buffer=False)
        groups = None if options.row_groups is None else list(range(*options.row_groups))
        start = options.first_row
        for batch in parquet.iter_batches(batch_size=options.parquet_batch_rows, row_groups=groups):
            _check_cell_sizes(batch, path, start)
            start += batch.num_rows
            yield batch
        if start == options.first_row:
            yield pa.RecordBatch.from_pylist([], schema=parquet.schema_arrow)
    except MemoryError:
        raise  # out of memory is not bad input (pyarrow's ArrowMemoryError is a MemoryError)
    except (pa.ArrowException, OSError) as error:
        raise InputError(f"{path}: unreadable Parquet: {_describe(error)}") from error
    finally:
        if spool is not None:
            spool.close()


def _spooled(source: str | Path) -> BinaryIO:
    """A stream's bytes in an unnamed temp file (gone with its last descriptor, whatever ends the run)."""
    spool = tempfile.TemporaryFile(prefix="mlc-input.")  # noqa: SIM115 - closed by the caller
    try:
        with _raw_stream(source) as stream:
            shutil.copyfileobj(stream, spool, 1 << 20)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool  # type: ignore[return-value]


def _check_cell_sizes(batch: pa.RecordBatch, path: str | Path, start: int) -> None:
    """Refuse a text or bytes cell longer than MAX_RECORD_BYTES, naming its row and column."""
    for name, column in zip(batch.schema.names, batch.columns):
        kind = column.type
        if not (
            pa.types.is_string(kind)
            or pa.types.is_large_string(kind)
            or pa.types.is_binary(kind)
            or pa.types.is_large_binary(kind)
        ):
            continue
        lengths = pc.binary_length(column)
        if (pc.max(lengths).as_py() or 0) > MAX_RECORD_BYTES:
            row = int(np.argmax(lengths.to_numpy(zero_copy_only=False) > MAX_RECORD_BYTES))
            raise InputError(
                f"{path}: row {start + row}: field '{name}' is longer than {MAX_RECORD_BYTES >> 20} MB, "
                "the longest text mlc reads"
            )


# Formats whose every value carries its own type (JSON): there a text value that is not a string is a bad row,
# where a typed column that is not text (Parquet) refuses the whole input.
TYPED_VALUES = {"jsonl"}
READERS: dict[str, Callable[[str | Path, ReadOptions], Iterator[pa.RecordBatch]]] = {
    "parquet": read_parquet,
    "csv": read_csv,
    "jsonl": read_jsonl,
}
SUFFIXES: dict[str, str] = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}


def read_table(source: str | Path, options: ReadOptions = ReadOptions()) -> pa.Table:
    """A whole (human-sized) file as one table, for training and evaluation data."""
    batches = [batch for batch in read_batches(source, options) if batch.num_rows]
    if not batches:
        raise InputError(f"{source}: file has no rows")
    try:
        return pa.Table.from_batches(batches) if _same_schema(batches) else _unify(batches)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise InputError(f"{source}: rows disagree on column types: {_describe(error)}") from error


def _same_schema(batches: list[pa.RecordBatch]) -> bool:
    return all(batch.schema.equals(batches[0].schema) for batch in batches[1:])


def _unify(batches: list[pa.RecordBatch]) -> pa.Table:
    """One table of batches whose schemas differ: types promoted where Arrow can; a field that is a number in some
    rows and text in others (JSON) becomes text, its other values written as JSON."""
    tables = [pa.Table.from_batches([b]) for b in batches]
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        kinds: dict[str, set] = {}
        for table in tables:
            for item in table.schema:
                kinds.setdefault(item.name, set()).add(item.type)
        mixed = {name for name, types in kinds.items() if len({t for t in types if not pa.types.is_null(t)}) > 1}
        as_text = [_json_text(table, mixed) for table in tables]
        return pa.concat_tables(as_text, promote_options="permissive")


def _json_text(table: pa.Table, names: set[str]) -> pa.Table:
    """`table` with its columns `names` as text: strings as they are, other values as JSON."""
    for name in names & set(table.column_names):
        if pa.types.is_string(table.schema.field(name).type):
            continue
        values = table.column(name).to_pylist()
        text = pa.array([v if v is None or isinstance(v, str) else json.dumps(v) for v in values], pa.string())
        table = table.set_column(table.schema.get_field_index(name), name, text)
    return table
