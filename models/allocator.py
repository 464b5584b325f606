"""Keep glibc's heap from handing memory back to the kernel between batches (glibc only; a no-op elsewhere).

Every batch allocates and frees the same few hundred MB of tensors. With glibc's defaults the heap top is trimmed
after each free and grown again on the next batch, so each page is faulted in and zeroed once per batch: at 1M
rows that was 13.5M minor faults and 50 s of system time. Padding each heap extension by 64 MB cut the faults to
2.1-2.6M and batch-predict's wall time from 105-111 s to 80-88 s, for ~50 MB more peak RSS (BENCHMARKS.md).
Opt-in (`MLC_MALLOC_TUNING=1`): under a 2 GiB RLIMIT_DATA the padded per-thread arenas used up the limit and
TensorFlow could no longer start threads (tests/test_load.py caught it), so the default leaves glibc alone. A
user's own `MALLOC_TOP_PAD_` always wins.
"""
from __future__ import annotations

import ctypes
import os
import platform

M_TOP_PAD = -2  # glibc's mallopt parameter number (malloc.h)
TOP_PAD_BYTES = 64 * 2**20
_done: list[bool] = []


def tune_allocator() -> bool:
    """Set M_TOP_PAD once per process; True when it was set by this call or an earlier one."""
    if _done:
        return _done[0]
    applied = False
    if os.environ.get("MLC_MALLOC_TUNING") == "1" and "MALLOC_TOP_PAD_" not in os.environ:
        if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
            try:
                applied = ctypes.CDLL(None).mallopt(M_TOP_PAD, TOP_PAD_BYTES) == 1
            except (OSError, AttributeError):
                applied = False
    _done.append(applied)
    return applied
