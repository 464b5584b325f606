"""A zip archive's member as a seekable file, read in place when it is stored uncompressed (as `model.keras`'s
weights are): h5py seeks all over its file, and a member read whole into memory first is one more copy of every
weight while a model loads."""

from __future__ import annotations

import io
import os
import struct
import zipfile
from typing import IO

LOCAL_HEADER = struct.Struct("<4s22xHH")  # signature, then the name's and the extra field's lengths at bytes 26, 28
LOCAL_SIGNATURE = b"PK\x03\x04"


class StoredMember(io.RawIOBase):
    """Bytes [start, start + size) of a file, as a file of their own."""

    def __init__(self, file: IO[bytes], start: int, size: int) -> None:
        super().__init__()
        self._file, self._start, self._size, self._position = file, start, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise ValueError(f"negative seek position {base + offset}")
        self._position = base + offset
        return self._position

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        wanted = max(0, min(len(buffer), self._size - self._position))
        if wanted == 0:
            return 0
        self._file.seek(self._start + self._position)
        read = self._file.readinto(memoryview(buffer)[:wanted])
        self._position += read or 0
        return read or 0

    def close(self) -> None:
        self._file.close()
        super().close()


def open_member(archive: zipfile.ZipFile, name: str) -> IO[bytes]:
    """Member `name` of an archive opened from a file: in place when stored, else decompressed into memory. Read
    through the archive's own open file (a duplicate of its descriptor), never by its path again: the path may name
    another file by then (a model directory switched under a running consumer)."""
    info = archive.getinfo(name)
    if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:  # compressed or encrypted
        return io.BytesIO(archive.read(name))
    try:
        descriptor = os.dup(archive.fp.fileno())  # type: ignore[union-attr]
    except (AttributeError, OSError, io.UnsupportedOperation):
        return io.BytesIO(archive.read(name))
    file = os.fdopen(descriptor, "rb")
    file.seek(info.header_offset)
    signature, name_length, extra_length = LOCAL_HEADER.unpack(file.read(LOCAL_HEADER.size))
    if signature != LOCAL_SIGNATURE:
        file.close()
        raise zipfile.BadZipFile(f"no local header for member {name!r}")
    start = info.header_offset + LOCAL_HEADER.size + name_length + extra_length
    return StoredMember(file, start, info.file_size)
