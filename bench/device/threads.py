"""Per-thread CPU of a running command over a window (WAIT s after start, for WIN s): how many cores it keeps
busy, and whether one thread is a serial stage.  python threads.py mlc batch-predict ..."""

import os
import subprocess
import sys
import time

cmd = sys.argv[1:]
p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)


def snap():
    out = {}
    for t in os.listdir(f"/proc/{p.pid}/task"):
        try:
            s = open(f"/proc/{p.pid}/task/{t}/stat").read()
        except OSError:
            continue
        comm = s[s.index("(") + 1 : s.rindex(")")]
        f = s[s.rindex(")") + 2 :].split()
        out[t] = (comm, (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK"))
    return out


time.sleep(float(os.environ.get("WAIT", 15)))
a = snap()
t0 = time.time()
time.sleep(float(os.environ.get("WIN", 10)))
b = snap()
dt = time.time() - t0
rows = []
for t, (comm, cpu) in b.items():
    d = cpu - a.get(t, (comm, 0))[1]
    if d > 0.05:
        rows.append((d / dt, t, comm))
for share, t, comm in sorted(rows, reverse=True)[:15]:
    print(f"{share * 100:6.1f}%  {t:>8} {comm}{'  <- main' if t == str(p.pid) else ''}")
print(f"total {sum(r[0] for r in rows) * 100:.0f}% over {dt:.1f}s")
p.wait()
