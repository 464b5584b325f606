"""Wall time and peak RSS of one command, measured through a small launcher (this file run as a script).

wait4 on a child forked straight from the benchmark process reports at least the pages it inherited from it
(a benchmark that made its data in memory); forked from the launcher, the child's peak is its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time


def measured(command: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of one child process; it must succeed."""
    with tempfile.TemporaryDirectory() as scratch:
        report = os.path.join(scratch, "peak")
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, __file__, report, *command], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr.decode()}")
        with open(report) as peak:
            return seconds, int(peak.read()) / 1024


def _launch(report: str, command: list[str]) -> int:
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(command[0], command)
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    with open(report, "w") as out:
        out.write(str(usage.ru_maxrss))
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


if __name__ == "__main__":
    sys.exit(_launch(sys.argv[1], sys.argv[2:]))
