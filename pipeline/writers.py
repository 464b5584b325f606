"""One writer per output format behind one tiny interface: `write(batch)` then `close()`.

Writers never pick their own path: batch-predict opens them on what `output_target` gives (a temp file renamed
when the whole input is done, or the device, FIFO or descriptor itself). Lists (`labels`) stay lists in Parquet
and JSONL and are `;`-joined in CSV.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from mlc.pipeline.readers import resolve_format

STDOUT = "-"


class Writer(Protocol):
    def write(self, batch: pa.RecordBatch) -> None: ...

    def close(self) -> None: ...


def output_format(path: str | Path, override: str | None = None) -> str:
    """The writer name: `--output-format`, else the suffix of `-o` (`.gz` looked through); stdout is JSONL."""
    return resolve_format(path, override, known=list(WRITERS), stream=STDOUT, option="--output-format")


def _sink(path: Path | BinaryIO, gzip: bool) -> pa.NativeFile:
    if isinstance(path, Path):
        return pa.output_stream(str(path), compression="gzip" if gzip else None)
    stream = pa.PythonFile(path, mode="w")
    return pa.CompressedOutputStream(stream, "gzip") if gzip else stream


class ParquetWriter:
    def __init__(self, sink: Path | BinaryIO, gzip: bool = False) -> None:
        self.sink, self.writer = sink, None

    def write(self, batch: pa.RecordBatch) -> None:
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.sink, batch.schema, compression="zstd")
        self.writer.write_batch(batch)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class CsvWriter:
    def __init__(self, sink: Path | BinaryIO, gzip: bool = False) -> None:
        self.stream, self.writer = _sink(sink, gzip), None

    def write(self, batch: pa.RecordBatch) -> None:
        batch = flatten_lists(batch)
        if self.writer is None:
            self.writer = pacsv.CSVWriter(self.stream, batch.schema)
        self.writer.write_batch(batch)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.stream.close()


class JsonlWriter:
    """JSON Lines through pandas' C encoder (Arrow has no JSON writer); one object per input row."""

    def __init__(self, sink: Path | BinaryIO, gzip: bool = False) -> None:
        self.stream = _sink(sink, gzip)

    def write(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        frame = batch.to_pandas(types_mapper=None)
        text = frame.to_json(orient="records", lines=True, force_ascii=False, double_precision=7)
        self.stream.write(text.encode("utf-8") if text.endswith("\n") else (text + "\n").encode("utf-8"))

    def close(self) -> None:
        self.stream.close()


def flatten_lists(batch: pa.RecordBatch) -> pa.RecordBatch:
    """List columns as CSV writes them: lists of strings `;`-joined, nested ones (`why`) as JSON text."""
    columns = []
    for column in batch.columns:
        if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
            if pa.types.is_string(column.type.value_type):
                column = pc.binary_join(column, ";")
            else:
                values = [json.dumps(_shortest_floats(value), ensure_ascii=False) for value in column.to_pylist()]
                column = pa.array(values, pa.string())
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


def _shortest_floats(value: Any) -> Any:
    """float32 values read back as Python floats, written as their shortest float32 form (0.41, not 0.4099...)."""
    if isinstance(value, float):
        return float(str(np.float32(value)))
    if isinstance(value, list):
        return [_shortest_floats(item) for item in value]
    if isinstance(value, dict):
        return {key: _shortest_floats(item) for key, item in value.items()}
    return value


WRITERS: dict[str, Callable[[Path | BinaryIO, bool], Writer]] = {
    "parquet": ParquetWriter,
    "csv": CsvWriter,
    "jsonl": JsonlWriter,
}


def open_writer(target: Path | str | BinaryIO, fmt: str, *, gzip: bool = False) -> Writer:
    """A writer of `fmt` on a path, an open binary stream, or stdout for `-`."""
    if isinstance(target, (str, Path)):
        return WRITERS[fmt](sys.stdout.buffer if str(target) == STDOUT else Path(target), gzip)
    return WRITERS[fmt](target, gzip)
