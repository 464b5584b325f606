"""Keep freed memory for the next batch instead of handing it back to the kernel: a 64 MB glibc top pad and the BFC
CPU allocator for TensorFlow, one glibc arena for all of JAX's threads. `MLC_MALLOC_TUNING`: auto (pad unless an
address-space limit or strict overcommit counts it), 1 (always), 0 (none)."""

from __future__ import annotations

import ctypes
import os
import platform
import resource
from pathlib import Path

M_TOP_PAD = -2  # glibc's mallopt parameter numbers (malloc.h)
M_ARENA_MAX = -8
TOP_PAD_BYTES = 64 * 2**20
OVERCOMMIT = Path("/proc/sys/vm/overcommit_memory")
TF_BFC = "TF_CPU_ALLOCATOR_USE_BFC"
_done: list[bool] = []
_arenas_done: list[bool] = []


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
    if wanted() and _glibc():
        try:
            applied = ctypes.CDLL(None).mallopt(M_TOP_PAD, TOP_PAD_BYTES) == 1
        except (OSError, AttributeError):
            applied = False
    _done.append(applied)
    return applied


def _glibc() -> bool:
    return platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


def one_malloc_arena() -> bool:
    """glibc's arena limit set to one, once per process, before the JAX backend starts its threads: they share the
    arenas there are instead of mapping their own. True when set; not under `MLC_MALLOC_TUNING=0` or a user's
    own `MALLOC_ARENA_MAX`."""
    if _arenas_done:
        return _arenas_done[0]
    applied = False
    if "MALLOC_ARENA_MAX" not in os.environ and not _refused() and _glibc():
        try:
            applied = ctypes.CDLL(None).mallopt(M_ARENA_MAX, 1) == 1
        except (OSError, AttributeError):
            applied = False
    _arenas_done.append(applied)
    return applied


def tensorflow_allocator() -> bool:
    """Ask TensorFlow for its BFC CPU allocator (read when TensorFlow first allocates, so call this before the
    import). True when it will be used; the user's own `TF_CPU_ALLOCATOR_USE_BFC` is left as it is."""
    if TF_BFC not in os.environ and not _refused():
        os.environ[TF_BFC] = "true"
    return os.environ.get(TF_BFC, "").strip().lower() in ("1", "true")
