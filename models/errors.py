"""The one error family whose message is what the user reads (kept in `models`, the bottom room). Each class is a
kind of failure; the command line maps kinds to exit codes."""

from __future__ import annotations


class MlcError(Exception):
    """An expected failure: printed as one line, mapped to an exit code, never a traceback."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))  # always one line

    @property
    def message(self) -> str:
        return self.args[0]


class UsageError(MlcError):
    """Options that cannot go together (beyond what the command line parser checks)."""


class InputError(MlcError):
    """Bad or unreadable input data: names the file and, where known, the row and field."""


class ModelError(MlcError):
    """A model directory that is missing, corrupt, or refused."""


class LockedError(MlcError):
    """Another run holds the lock on the output directory."""


class NetworkError(MlcError):
    """A download that could not be made (offline, HTTP error)."""


class OutputError(MlcError):
    """An output that could not be written (disk full, file-size limit, read-only or missing directory)."""


class DriftError(MlcError):
    """Label shares moved beyond the tolerance (`--fail-on-drift`); raised once every output is written."""


class Terminated(BaseException):
    """SIGTERM (cron's `timeout`, systemd, Kubernetes): raised in the main thread so that, as on Ctrl-C, every temp
    file is removed and every lock released on the way out. Not an Exception: nothing may swallow it."""
