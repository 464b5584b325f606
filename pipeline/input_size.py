"""How far a run is through one input, for a progress bar's total and time left: a Parquet file's rows (from its
footer), a CSV or JSONL file's bytes read against its size (compressed bytes for gzip: what the reader has taken
from the file). A stream or a remote URI has no known size.

Bytes read are the offset of the reader's own descriptor on the file, as the kernel reports it
(`/proc/self/fdinfo`), so no reader has to count them; where that cannot be read the total is unknown."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from mlc.pipeline.readers import is_stream, is_uri

ROWS, BYTES = "rows", "bytes"
FD_DIR = Path("/proc/self/fd")


@dataclass
class InputSize:
    """An input's total in `unit` (None: unknown) and how to tell how much of it is done."""

    total: int | None
    unit: str = ROWS
    position: Callable[[], int | None] | None = None  # bytes read so far, for unit BYTES

    def done(self, rows: int) -> int | None:
        """How much of `total` is done once `rows` rows of this input are tagged."""
        if self.unit == ROWS:
            return rows
        return self.position() if self.position is not None else None


UNKNOWN = InputSize(None)


def input_size(source: str | Path, fmt: str) -> InputSize:
    """The size of `source`, read as format `fmt`; UNKNOWN for streams, URIs and files that cannot be sized."""
    if is_stream(source) or is_uri(source):
        return UNKNOWN
    try:
        if fmt == "parquet":
            return InputSize(pq.ParquetFile(source).metadata.num_rows, ROWS)
        size = os.stat(source).st_size
    except (OSError, ValueError):
        return UNKNOWN
    if not FD_DIR.is_dir():
        return UNKNOWN
    return InputSize(size, BYTES, OffsetOfOpenFile(source))


class OffsetOfOpenFile:
    """The largest offset seen so far of this process's descriptors open on one file (its device and inode); None
    until one is open. The descriptors found last are tried first."""

    def __init__(self, path: str | Path) -> None:
        stat = os.stat(path)
        self.identity = (stat.st_dev, stat.st_ino)
        self.size = stat.st_size
        self.seen: list[str] = []
        self.last: int | None = None

    def __call__(self) -> int | None:
        offsets = [offset for fd in self.seen if (offset := self._offset(fd)) is not None]
        if not offsets:
            try:
                self.seen = [fd for fd in os.listdir(FD_DIR) if self._offset(fd) is not None]
            except OSError:
                self.seen = []
            offsets = [offset for fd in self.seen if (offset := self._offset(fd)) is not None]
        if offsets:
            self.last = max([*offsets, self.last or 0])
        elif self.last is not None:
            # open before, closed now: the reader read to the end (a run that stops early reports no more rows),
            # and rows it read ahead are still being tagged
            self.last = self.size
        return self.last

    def _offset(self, fd: str) -> int | None:
        try:
            stat = os.stat(FD_DIR / fd)
            if (stat.st_dev, stat.st_ino) != self.identity:
                return None
            with open(f"/proc/self/fdinfo/{fd}", encoding="ascii") as info:
                return int(info.readline().split()[1])  # "pos:\t<offset>"
        except (OSError, ValueError, IndexError):
            return None
