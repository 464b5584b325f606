"""The one error family whose message is what the user reads (kept in `models`, the bottom room)."""

from __future__ import annotations

# Documented exit codes (README "Exit codes").
EXIT_UNEXPECTED = 1
EXIT_USAGE = 2
EXIT_INPUT = 3
EXIT_MODEL = 4
EXIT_LOCKED = 5
EXIT_NETWORK = 6
EXIT_OUTPUT = 7
EXIT_DRIFT = 8
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # 128 + SIGTERM, as a shell reports it


class MlcError(Exception):
    """An expected failure: printed as one line, mapped to an exit code, never a traceback."""

    exit_code = EXIT_UNEXPECTED

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))  # always one line

    @property
    def message(self) -> str:
        return self.args[0]


class UsageError(MlcError):
    """Options that cannot go together (beyond what the command line parser checks)."""

    exit_code = EXIT_USAGE


class InputError(MlcError):
    """Bad or unreadable input data: names the file and, where known, the row and field."""

    exit_code = EXIT_INPUT


class ModelError(MlcError):
    """A model directory that is missing, corrupt, or refused."""

    exit_code = EXIT_MODEL


class LockedError(MlcError):
    """Another run holds the lock on the output directory."""

    exit_code = EXIT_LOCKED


class NetworkError(MlcError):
    """A download that could not be made (offline, HTTP error)."""

    exit_code = EXIT_NETWORK


class OutputError(MlcError):
    """An output that could not be written (disk full, file-size limit, read-only or missing directory)."""

    exit_code = EXIT_OUTPUT


class DriftError(MlcError):
    """Label shares moved beyond the tolerance (`--fail-on-drift`); raised once every output is written."""

    exit_code = EXIT_DRIFT


class Terminated(BaseException):
    """SIGTERM (cron's `timeout`, systemd, Kubernetes): raised in the main thread so that, as on Ctrl-C, every temp
    file is removed and every lock released on the way out. Not an Exception: nothing may swallow it."""
