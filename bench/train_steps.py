"""Each step of `mlc train`: its duration, from the lines `mlc train` prints without a terminal, and the peak RSS
while it ran (sampled every 20 ms), so the step that holds the memory shows.

    python bench/train_steps.py --data FILE --max-tokens 75000      # any `mlc train` options after the script
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def rss_mb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS"):
                return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 0


def main(options: list[str]) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        command = [sys.executable, "-m", "mlc.cli.app", "train", "--model-dir", f"{scratch}/model", *options]
        started = time.perf_counter()
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        peak, highest = [0], [0]

        def sample() -> None:
            while child.poll() is None:
                peak[0] = max(peak[0], rss_mb(child.pid))
                highest[0] = max(highest[0], peak[0])
                time.sleep(0.02)

        threading.Thread(target=sample, daemon=True).start()
        print("| step | time | peak RSS |\n| --- | ---: | ---: |")
        assert child.stdout is not None
        for line in child.stdout:
            if line.startswith("[") and ": done in " in line:  # "[0:01:02] network: ...: done in 61.2s"
                step, _, took = line.split("] ", 1)[1].rstrip().rpartition(": done in ")
                print(f"| {step} | {took.rstrip('s')} s | {peak[0]:,} MB |", flush=True)
                peak[0] = rss_mb(child.pid)
        if child.wait() != 0:
            raise SystemExit(f"mlc train failed ({child.returncode})")
        print(f"| all | {time.perf_counter() - started:.1f} s | {highest[0]:,} MB |")


if __name__ == "__main__":
    main(sys.argv[1:])
