"""Ctrl-C and SIGTERM as the command line's handlers receive them: each is noted before it is raised, so a stop that a
library swallowed (an exception raised inside a destructor is only printed) or turned into an error of its own still
ends the run, between two batches or at the top, with the signal's exit code."""

from __future__ import annotations

import signal

from mlc.models.errors import Terminated

_received: list[int] = []


def on_sigint(signum: int, frame: object) -> None:
    """The SIGINT handler: Python's own (KeyboardInterrupt), noted."""
    _received.append(signum)
    raise KeyboardInterrupt


def on_sigterm(signum: int, frame: object) -> None:
    """The SIGTERM handler: `Terminated`, noted."""
    _received.append(signum)
    raise Terminated()


def received() -> int | None:
    """The first stop signal these handlers received in this process, if any."""
    return _received[0] if _received else None


def stop_if_received() -> None:
    """Raise the stop again where a signal came and the run goes on: called between batches, never in cleanup."""
    if _received:
        raise KeyboardInterrupt if _received[0] == signal.SIGINT else Terminated()
