"""Write-to-temp-then-rename, so no reader ever sees a half-written file or directory."""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(target: Path, *, directory: bool = False) -> Iterator[Path]:
    """Yield a private temp path beside `target`; rename it onto `target` only if the block succeeds.

    The temp name starts with `.` and ends in `.tmp` so globs and `--skip-existing` never mistake it for
    output; it is removed on every exit path, Ctrl-C included.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{target.name}."
    if directory:
        tmp = Path(tempfile.mkdtemp(prefix=prefix, suffix=".tmp", dir=target.parent))
    else:
        fd, name = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=target.parent)  # mode 0600
        os.close(fd)
        tmp = Path(name)
    try:
        yield tmp
        if directory:
            os.chmod(tmp, 0o777 & ~_umask())
            if target.exists():
                old = target.with_name(f".{target.name}.old.tmp")
                shutil.rmtree(old, ignore_errors=True)
                os.replace(target, old)
                os.replace(tmp, target)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, target)
        else:
            os.chmod(tmp, 0o666 & ~_umask())
            os.replace(tmp, target)
    except BaseException:
        if directory:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
