"""Deliver Python-handled signals into the threads of a running `mlc batch-predict` and count how the runs end.

The process gets a no-op Python handler for SIGUSR1, and this script sends SIGUSR1 many times a second to its
threads one at a time (tgkill): to all but the main thread, or with `--into main` to the main thread only. mlc's
stop and reload signals never take the first path (every thread but mlc's signal waiter blocks them), only the
second (the waiter's wake-up); SIGUSR1 shows what a handled signal does in each. Expected with TensorFlow: glibc
aborts the process in the first, the runs finish in the second.

    python bench/signals_in_threads.py --model-dir runs/arxiv --input /tmp/stress.parquet --tries 8
"""

from __future__ import annotations

import argparse
import ctypes
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SYS_TGKILL = 234  # x86-64
CHILD = """
import signal, sys
signal.signal(signal.SIGUSR1, lambda signum, frame: None)
sys.argv = ["mlc", *sys.argv[1:]]
from mlc.cli.app import main
try:
    main()
finally:
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)  # one arriving during shutdown would end the run
"""


def one_try(command: list[str], period: float, into_main: bool) -> tuple[int, int, str]:
    """(exit status, signals sent, last line of stderr)."""
    libc = ctypes.CDLL(None, use_errno=True)
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)  # the handler is in place
    sent = 0
    while process.poll() is None:
        try:
            threads = [int(t) for t in os.listdir(f"/proc/{process.pid}/task")]
        except FileNotFoundError:
            break
        threads = [t for t in threads if (t == process.pid) == into_main]
        if threads:
            libc.syscall(SYS_TGKILL, process.pid, random.choice(threads), signal.SIGUSR1)
            sent += 1
        time.sleep(period)
    _, stderr = process.communicate()
    return process.returncode, sent, (stderr.strip().splitlines() or [""])[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--input", type=Path, required=True)
    parser.add_argument("--backend", default="tensorflow")
    parser.add_argument("--tries", type=int, default=8)
    parser.add_argument("--period", type=float, default=0.0005, help="seconds between two signals")
    parser.add_argument("--into", choices=["others", "main"], default="others", help="which threads get them")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        command = [
            sys.executable, "-c", CHILD, "batch-predict", str(args.input), "--model-dir", str(args.model_dir),
            "--backend", args.backend, "--output", str(Path(scratch) / "out.parquet"), "--force", "--quiet",
        ]  # fmt: skip
        aborted = 0
        for number in range(args.tries):
            status, sent, said = one_try(command, args.period, args.into == "main")
            aborted += status < 0
            print(f"try {number}: status {status}, {sent} signals sent; {said[:120]}", flush=True)
    print(f"{aborted} of {args.tries} runs ended by a signal of their own (status < 0)")


if __name__ == "__main__":
    main()
