"""Write-to-temp-then-rename, so no reader ever sees a half-written file or directory; devices, FIFOs and open
descriptors (`/dev/null`, `/dev/stdout`, `/dev/fd/N`) are written in place instead, never replaced or deleted."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from mlc.models.errors import MlcError, OutputError

# Failures that mean "this output cannot be written here", whoever raised them (Python, pyarrow, h5py, Keras).
WRITE_ERRNOS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}
_ERRNO_TEXT = re.compile(r"errno\]?\s*=?\s*(\d+)", re.IGNORECASE)  # "[Errno 28]", "[errno 27]", "errno = 28"
# Names of a descriptor this process already holds: written through it, so `>> log` keeps appending.
_DESCRIPTOR = re.compile(r"^/dev/fd/(\d+)$|^/proc/(?:self|thread-self)/fd/(\d+)$")
_STANDARD = {"/dev/stdout": 1, "/dev/stderr": 2}


def descriptor(target: Path | str) -> int | None:
    """The open descriptor that `target` names (`/dev/stdout`, `/dev/stderr`, `/dev/fd/N`), if this process holds it."""
    name = str(target)
    found = _DESCRIPTOR.match(name)
    number = _STANDARD.get(name) if found is None else int(found.group(1) or found.group(2))
    if number is None:
        return None
    try:
        os.fstat(number)
    except OSError:
        return None
    return number


def is_special_file(path: Path | str) -> bool:
    """An existing path (a symlink followed) that is neither a regular file nor a directory: a pipe, a FIFO, a
    device, a socket. Its bytes go by once: it can be neither read twice nor replaced."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def writes_in_place(target: Path | str) -> bool:
    """True for an output that is not a regular file: an open descriptor or a special file. It is written
    directly, streaming, and never renamed over, deleted or locked."""
    return descriptor(target) is not None or is_special_file(target)


@contextlib.contextmanager
def output_target(target: Path | str) -> Iterator[Path | BinaryIO]:
    """Where to write `target` whole: a temp path renamed onto it for a regular file (`atomic_path`, beside the
    file a symlink leads to, so the link stays), else the device, FIFO or descriptor itself, opened once."""
    number = descriptor(target)
    if number is not None:
        with os.fdopen(os.dup(number), "wb") as stream:
            yield stream
        return
    if writes_in_place(target):
        try:
            stream = open(target, "wb")  # noqa: SIM115 - closed below, after the caller's block
        except OSError as error:
            raise write_error(target, error) from error
        with stream:
            yield stream
        return
    path = Path(target)
    with atomic_path(path.resolve() if path.is_symlink() else path) as tmp:
        yield tmp


def write_whole(target: Path | str, data: bytes) -> None:
    """`data` as the whole of `target`, by the rule of `output_target`."""
    with output_target(target) as destination:
        if isinstance(destination, Path):
            destination.write_bytes(data)
        else:
            destination.write(data)


@contextlib.contextmanager
def atomic_path(target: Path, *, directory: bool = False) -> Iterator[Path]:
    """Yield a private temp path beside `target`; rename it onto `target` only if the block succeeds.

    The temp name starts with `.` and ends in `.tmp` so globs and `--skip-existing` never mistake it for
    output; it is removed on every exit path, Ctrl-C included.
    """
    target = Path(target)
    tmp: Path | None = None  # named before it exists, so a signal at any point leaves nothing the cleanup misses
    old = target.with_name(f".{target.name}.old.tmp")  # a directory's previous version while the new one moves in
    try:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            for _ in range(100):
                tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
                try:
                    if directory:
                        os.mkdir(tmp, 0o700)
                    else:
                        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
                    break
                except FileExistsError:
                    tmp = None  # another run's: never ours to remove
            else:
                raise FileExistsError(errno.EEXIST, "no free temp name", str(target.parent))
        except OSError as error:
            raise write_error(target, error) from error
        yield tmp
        if directory:
            os.chmod(tmp, 0o777 & ~_umask())
            if target.exists():
                shutil.rmtree(old, ignore_errors=True)
                os.replace(target, old)
                os.replace(tmp, target)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, target)
        else:
            os.chmod(tmp, 0o666 & ~_umask())
            os.replace(tmp, target)
    except BaseException as error:
        if tmp is not None and directory:
            if old.exists():  # stopped mid-swap: keep whichever version is in place, the previous one if none is
                if target.exists():
                    shutil.rmtree(old, ignore_errors=True)
                else:
                    os.replace(old, target)
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp is not None:
            with contextlib.suppress(OSError):  # never made, or already gone: the error that brought us here stands
                tmp.unlink()
        if is_write_failure(error):
            raise write_error(target, error) from error
        raise


def is_write_failure(error: BaseException) -> bool:
    """An OSError whose errno says the file system refused the write, or a library's error (h5py, Keras) that
    wraps a full disk or a file-size limit. Our own errors (an InputError caused by an OSError) are not."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, MlcError):
            return False
        if isinstance(seen, OSError) and seen.errno in WRITE_ERRNOS:
            return True
        codes = {int(code) for code in _ERRNO_TEXT.findall(str(seen))}
        if codes & {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def write_error(target: Path | str, error: BaseException) -> OutputError:
    """`OutputError` naming the final output (not its temp file) and the system's reason."""
    codes = [int(c) for c in _ERRNO_TEXT.findall(str(error))]
    code = error.errno if isinstance(error, OSError) and error.errno else (codes[0] if codes else None)
    reason = os.strerror(code) if code else " ".join(str(error).split())[:200]
    return OutputError(f"{target}: cannot write: {reason}; nothing was written under this name")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
