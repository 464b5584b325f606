"""Run a command under an optional RLIMIT_DATA and write its peak RSS in bytes to a file.

A launcher, because wait4 on a child forked straight from a large process (a pytest worker that imported
TensorFlow) reports at least the pages that child inherited; forked from this small process, it reports its own.
    python peak_rss.py DATA_LIMIT_BYTES|0 REPORT_FILE COMMAND...
"""

from __future__ import annotations

import os
import resource
import sys


def main() -> int:
    limit, report, *command = sys.argv[1:]
    if int(limit):
        resource.setrlimit(resource.RLIMIT_DATA, (int(limit), int(limit)))
    pid = os.fork()
    if pid == 0:
        try:
            os.execv(command[0], command)
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    with open(report, "w") as out:
        out.write(str(usage.ru_maxrss * 1024))
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


if __name__ == "__main__":
    sys.exit(main())
