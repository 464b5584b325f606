"""Run a command; print wall s, CPU s, mean cores busy, and peak RSS (the child's, from wait4).

python measure.py LABEL command ..."""

import os
import subprocess
import sys
import time

label, cmd = sys.argv[1], sys.argv[2:]
t = time.perf_counter()
p = subprocess.Popen(cmd)
_, status, ru = os.wait4(p.pid, 0)
wall = time.perf_counter() - t
cpu = ru.ru_utime + ru.ru_stime
print(
    f"MEASURE {label}: rc {os.waitstatus_to_exitcode(status)}, wall {wall:.1f} s, user {ru.ru_utime:.1f} s, sys "
    f"{ru.ru_stime:.1f} s, "
    f"cores busy {cpu / wall:.1f}, peak RSS {ru.ru_maxrss / 1024:.0f} MB",
    flush=True,
)
