"""Interrupt `mlc batch-predict` at random moments, many times, and count how each run ended.

Each try starts batch-predict on a large input (with SIGINT restored to its default, which a shell's background
job would have ignored), sends SIGINT or SIGTERM after a random delay (start-up, model load, mid-file or near
the end), and records the exit status and whatever is left in its output directory. `--burn` runs a CPU-burning
process per core beside it, as a loaded cron machine would. Expected: exit 130 (SIGINT), 143 (SIGTERM) or 0 (the
run finished first); never a native abort (a negative status), never exit 0 once the signal was sent while the
run was going, and nothing left behind but a finished output.
`--mid-file` waits instead until the temp output holds data (the first batches written, as the signal tests in
tests/test_faults.py do), then signals 0-0.5 s later.

    python ../shared/tools/make_corpus.py --rows 100000 --out /tmp/stress.parquet
    python bench/interrupt_stress.py --model-dir runs/arxiv --input /tmp/stress.parquet --tries 300 --burn
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path


def _child_setup() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def one_try(
    model_dir: Path, source: Path, out: Path, delay: float, sig: int, mid_file: bool
) -> tuple[int, list[str], str, bool]:
    """(exit status, files left in `out` other than a finished output, stderr, whether the signal was sent); a run
    that ended 0 without its output counts its missing output as left."""
    command = [
        sys.executable,
        "-m",
        "mlc.cli.app",
        "batch-predict",
        str(source),
        "--model-dir",
        str(model_dir),
        "--out-dir",
        str(out),
        "--batch-size",
        "1024",
        "--quiet",
    ]
    # faulthandler prints every thread's Python stack if the run aborts in native code: the evidence for a cause
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=_child_setup,
        env={**os.environ, "PYTHONFAULTHANDLER": "1"},
    )
    if mid_file:
        _wait_for_data(out, process)
    time.sleep(delay)
    sent = process.poll() is None
    if sent:
        process.send_signal(sig)
    _, stderr = process.communicate(timeout=300)
    finished = out / (source.stem + ".parquet")
    left = [p.name for p in out.iterdir() if not (process.returncode == 0 and p == finished)] if out.exists() else []
    if process.returncode == 0 and not finished.exists():
        left.append(f"(no {finished.name})")
    return process.returncode, left, stderr.decode("utf-8", "replace").strip(), sent


def _wait_for_data(out: Path, process: subprocess.Popen) -> None:
    """Until a temp file in `out` holds data, or the run has ended."""
    while process.poll() is None:
        for temp in out.glob(".*.tmp") if out.exists() else ():
            try:
                if temp.stat().st_size > 0:
                    return
            except OSError:  # renamed or removed meanwhile
                pass
        time.sleep(0.01)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--input", type=Path, required=True)
    parser.add_argument("--tries", type=int, default=300)
    parser.add_argument("--max-delay", type=float, default=8.0, help="signals are sent 0.2 s to this many seconds in")
    parser.add_argument("--burn", action="store_true", help="a CPU-burning process per core beside every try")
    parser.add_argument("--mid-file", action="store_true", help="signal 0-0.5 s after the temp output holds data")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    burners = (
        [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 1)]
        if args.burn
        else []
    )
    outcomes: Counter = Counter()
    problems = []
    try:
        with tempfile.TemporaryDirectory() as scratch:
            for i in range(args.tries):
                sig = rng.choice([signal.SIGINT, signal.SIGTERM])
                delay = rng.uniform(0.0, 0.5) if args.mid_file else rng.uniform(0.2, args.max_delay)
                out = Path(scratch) / f"out{i}"
                code, left, stderr, sent = one_try(args.model_dir, args.input, out, delay, sig, args.mid_file)
                outcomes[(signal.Signals(sig).name, code)] += 1
                if code < 0 or left or code not in (0, 130, 143) or (code == 0 and sent):
                    problems.append((i, signal.Signals(sig).name, round(delay, 2), code, left))
                    print(
                        f"try {i}: {signal.Signals(sig).name} at {delay:.2f} s -> status {code}, left {left}; "
                        f"stderr:\n{stderr}\n",
                        flush=True,
                    )
                if (i + 1) % 25 == 0:
                    print(f"{i + 1} tries: {dict(outcomes)}", flush=True)
    finally:
        for burner in burners:
            burner.kill()
    when = "0-0.5 s after the first output" if args.mid_file else f"0.2-{args.max_delay} s in"
    print(f"\n{args.tries} tries{' beside a CPU burner per core' if burners else ''}, signals {when}:")
    for (name, code), count in sorted(outcomes.items()):
        print(f"  {name}: exit status {code}: {count}")
    aborts = sum(1 for p in problems if p[3] < 0)
    leftovers = sum(1 for p in problems if p[4])
    ran_on = sum(1 for p in problems if p[3] == 0)
    print(f"native aborts (negative status): {aborts}; runs that left files behind: {leftovers}; runs that ended 0")
    print(f"after the signal (ran on, or had finished as it came): {ran_on}")


if __name__ == "__main__":
    main()
