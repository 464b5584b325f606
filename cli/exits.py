"""How `mlc` ends: every expected error one line and its exit code (the README's table), Ctrl-C 130, SIGTERM 143."""

from __future__ import annotations

import os
import signal
import sys
import traceback
from typing import Any, NoReturn

import typer

from mlc.cli import exit_at_once
from mlc.cli.render import err_console
from mlc.models.errors import (
    DriftError,
    InputError,
    LockedError,
    MlcError,
    ModelError,
    NetworkError,
    OutputError,
    Terminated,
    UsageError,
)
from mlc.pipeline import stop_signals

EXIT_UNEXPECTED = 1
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # 128 + SIGTERM, as a shell reports it
# Each kind of expected error and its documented exit code (README "Exit codes"); a subclass takes its base's.
EXIT_CODES: dict[type[MlcError], int] = {
    UsageError: 2,
    InputError: 3,
    ModelError: 4,
    LockedError: 5,
    NetworkError: 6,
    OutputError: 7,
    DriftError: 8,
}
debug = {"on": False}


def exit_code(error: MlcError) -> int:
    """The exit code of an expected error's kind."""
    return next((EXIT_CODES[kind] for kind in type(error).__mro__ if kind in EXIT_CODES), EXIT_UNEXPECTED)


def _interrupt_behind(error: BaseException) -> int | None:
    """130 or 143 when `error` came of Ctrl-C or SIGTERM: caused by it (an extension module whose import the signal
    hit raises `ImportError("initialization failed")` from it), or raised after one (a library may turn it into an
    error of its own, with nothing to show where it came from)."""
    signum = stop_signals.received()
    if signum is not None:
        return EXIT_INTERRUPTED if signum == signal.SIGINT else EXIT_TERMINATED
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt):
            return EXIT_INTERRUPTED
        if isinstance(seen, Terminated):
            return EXIT_TERMINATED
        seen = seen.__cause__ or seen.__context__
    return None


def _exit_now(code: int) -> None:
    """End an interrupted run with `code` once its temp files and locks are gone, without the interpreter's
    shutdown: a KeyboardInterrupt that passed through `exec`-run code (start-up imports) makes `python -m` kill
    itself with SIGINT at shutdown whatever the exit code, and TensorFlow's threads may still be running then."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _say_stopped(code: int) -> None:
    err_console.print("mlc: interrupted" if code == EXIT_INTERRUPTED else "mlc: terminated (SIGTERM)", markup=False)


def run(app: Any) -> NoReturn:
    """Run the Typer app, turning expected errors into `mlc: error: ...` and their exit code."""
    signal.signal(signal.SIGTERM, stop_signals.on_sigterm)
    if signal.getsignal(signal.SIGINT) is exit_at_once:  # from here on Ctrl-C unwinds, removing temp files
        signal.signal(signal.SIGINT, stop_signals.on_sigint)
    try:
        result = app(standalone_mode=False)
        code = result if isinstance(result, int) else 0
        if code == EXIT_INTERRUPTED:  # Typer turns Ctrl-C into a silent Exit(130)
            err_console.print("mlc: interrupted", markup=False)
    except MlcError as error:
        if debug["on"]:
            traceback.print_exc()
        if (signalled := _interrupt_behind(error)) is not None:  # e.g. a read cut short, not a bad file
            _say_stopped(signalled)
            code = signalled
        else:
            err_console.print(f"mlc: error: {error.message}", markup=False, highlight=False, soft_wrap=True)
            code = exit_code(error)
    except KeyboardInterrupt:
        err_console.print("mlc: interrupted", markup=False)
        code = EXIT_INTERRUPTED
    except Terminated:
        err_console.print("mlc: terminated (SIGTERM); temp files removed, locks released", markup=False)
        code = EXIT_TERMINATED
    except MemoryError:
        if debug["on"]:
            traceback.print_exc()
        err_console.print("mlc: error: out of memory; lower --batch-size or allow more memory", markup=False)
        code = EXIT_UNEXPECTED
    except Exception as error:  # noqa: BLE001 - the last line of defence: one line, not a traceback
        # Typer raises the exceptions of the click it runs on (its vendored copy in recent versions), so take
        # the classes from Typer itself rather than importing click.
        click_exception = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
        if isinstance(error, click_exception):
            error.show()
            code = error.exit_code
        elif isinstance(error, typer.Abort):
            err_console.print("mlc: aborted", markup=False)
            code = EXIT_INTERRUPTED
        elif (signalled := _interrupt_behind(error)) is not None:  # a library turned Ctrl-C or SIGTERM into an error
            _say_stopped(signalled)
            code = signalled
        else:
            if debug["on"]:
                traceback.print_exc()
            err_console.print(
                f"mlc: unexpected error: {type(error).__name__}: {' '.join(str(error).split())[:500]} (rerun "
                "with --debug for the traceback)",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
            code = EXIT_UNEXPECTED
    if code in (EXIT_INTERRUPTED, EXIT_TERMINATED):
        _exit_now(code)
    sys.exit(code)
