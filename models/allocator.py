"""Keep freed memory for the next batch instead of handing it back to the kernel: glibc's heap and TensorFlow's own.

Every batch allocates and frees the same few hundred MB of tensors in TensorFlow's per-thread arenas. With glibc's
defaults a secondary heap that empties is deleted and mapped again on the next batch, so each page is faulted in
and zeroed once per batch: at 1M rows that was 13.5M minor faults and 50 s of system time. A 64 MB top pad keeps
those heaps: faults fell to 2.1-2.6M and batch-predict's wall time from 105-111 s to 80-88 s, for ~50 MB more
peak RSS (BENCHMARKS.md). A higher trim or mmap threshold and a 16 MB pad left the faults as they were.

The pad is committed address space that is never touched, so it costs no resident memory and a cgroup memory
limit does not see it; an address-space limit does. Under a 2 GiB RLIMIT_DATA the padded arenas used the limit
up and TensorFlow could no longer start threads (tests/test_load.py caught it). So `MLC_MALLOC_TUNING` is:

    auto (default)  pad, unless RLIMIT_DATA or RLIMIT_AS is set or the kernel does strict overcommit accounting
    1               pad regardless
    0               leave glibc (and TensorFlow's allocator, below) alone

A user's own `MALLOC_TOP_PAD_` always wins.

TensorFlow's default CPU allocator hands every tensor buffer to malloc and back; the large ones (a batch's
entries, the first layer's output, several MB each) are mmap-ed and unmapped each time, so the pad cannot keep
them: at 1M rows that was still 4.3-4.6M minor faults and 12-15 s of system time. Its BFC allocator (the one it
uses for GPU-pinned host memory) keeps the regions it grew and reuses them: 0.23M faults, 2-3 s of system time,
1M rows 1.15x faster, 60 MB more peak RSS (BENCHMARKS.md, session 8). Under a 2 GiB RLIMIT_DATA it still runs
1M rows (tests/test_load.py): it grows its regions on demand and backs off when a mapping is refused. So
`tensorflow_allocator()` sets `TF_CPU_ALLOCATOR_USE_BFC=true` unless the user set it or `MLC_MALLOC_TUNING=0`.
"""
from __future__ import annotations

import ctypes
import os
import platform
import resource
from pathlib import Path

M_TOP_PAD = -2  # glibc's mallopt parameter number (malloc.h)
TOP_PAD_BYTES = 64 * 2**20
OVERCOMMIT = Path("/proc/sys/vm/overcommit_memory")
TF_BFC = "TF_CPU_ALLOCATOR_USE_BFC"
_done: list[bool] = []


def committed_memory_is_limited() -> bool:
    """Whether untouched-but-committed memory counts against this process: an address-space limit, or strict
    overcommit accounting."""
    for limit in (resource.RLIMIT_DATA, resource.RLIMIT_AS):
        if resource.getrlimit(limit)[0] != resource.RLIM_INFINITY:
            return True
    try:
        return OVERCOMMIT.read_text().strip() == "2"
    except OSError:
        return False


def _setting() -> str:
    return os.environ.get("MLC_MALLOC_TUNING", "auto").strip().lower()


def _refused() -> bool:
    return _setting() in ("0", "false", "no", "off")


def wanted() -> bool:
    """Whether to pad, from `MLC_MALLOC_TUNING` (auto, 1, 0) and the process's limits."""
    if "MALLOC_TOP_PAD_" in os.environ:
        return False
    if _refused():
        return False
    if _setting() in ("1", "true", "yes", "on"):
        return True
    return not committed_memory_is_limited()


def tune_allocator() -> bool:
    """Set M_TOP_PAD once per process; True when it was set by this call or an earlier one."""
    if _done:
        return _done[0]
    applied = False
    if wanted() and platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        try:
            applied = ctypes.CDLL(None).mallopt(M_TOP_PAD, TOP_PAD_BYTES) == 1
        except (OSError, AttributeError):
            applied = False
    _done.append(applied)
    return applied


def tensorflow_allocator() -> bool:
    """Ask TensorFlow for its BFC CPU allocator (read when TensorFlow first allocates, so call this before the
    import). True when it will be used; the user's own `TF_CPU_ALLOCATOR_USE_BFC` is left as it is."""
    if TF_BFC not in os.environ and not _refused():
        os.environ[TF_BFC] = "true"
    return os.environ.get(TF_BFC, "").strip().lower() in ("1", "true")
