"""How many cores this process may use, and how many batches every backend keeps in flight on them."""

from __future__ import annotations

import os

from mlc.models.errors import InputError

MAX_PARALLEL = 64


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity under taskset/cgroups), not the machine's count."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def parallel_batches() -> int:
    """Slices in flight at once: `MLC_PARALLEL_BATCHES`, else one per usable core plus one (at most 64)."""
    configured = os.environ.get("MLC_PARALLEL_BATCHES")
    if configured:
        try:
            value = int(configured)
        except ValueError:
            raise InputError(f"MLC_PARALLEL_BATCHES={configured!r} is not a whole number") from None
        if value < 1:
            raise InputError("MLC_PARALLEL_BATCHES must be at least 1")
        return value
    return min(usable_cores() + 1, MAX_PARALLEL)
