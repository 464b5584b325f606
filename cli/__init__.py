"""The `mlc` command line: thin Typer commands over `mlc.pipeline` and `mlc.models`.

Until `main` takes over, Ctrl-C or SIGTERM ends the process at once with the code a shell expects (130, 143):
nothing is open yet to clean up, and an import cut short would otherwise end in a traceback and a signal status.
From the first import on, those signals reach the process through one thread (`mlc.pipeline.signal_forwarding`).
"""

from __future__ import annotations

import os
import signal

from mlc.pipeline import signal_forwarding

_WORDS = {signal.SIGINT: b"mlc: interrupted\n", signal.SIGTERM: b"mlc: terminated (SIGTERM)\n"}


def exit_at_once(signum: int, frame: object) -> None:
    os.write(2, _WORDS.get(signum, b""))
    os._exit(128 + signum)


def _catch_early_signals() -> None:
    """Only where the signal has Python's default handling (a background job's ignored SIGINT stays ignored)."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, exit_at_once)
    if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, exit_at_once)


_catch_early_signals()
signal_forwarding.start()
