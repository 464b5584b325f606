"""Start-up of a one-row `mlc batch-predict`: whole runs timed, alternated between variants (another source tree
or package set, given as a PYTHONPATH), and where one process's start-up goes, phase by phase.

    python bench/start_up.py --model-dir runs/arxiv75 --runs 6 --variant before=/tmp/old_tree_and_packages
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

# One process's phases, each timed after the one before it.
PHASES = """
import json, sys, time
started = time.perf_counter()
marks = {}
import mlc.pipeline.batch_predict
try:  # as the command line does, in trees that have it
    from mlc.cli.pandas_probe import decline_pandas_probe
    decline_pandas_probe()
except ImportError:
    pass
marks["import mlc (CLI, pipeline)"] = time.perf_counter()
from mlc.models.tf_backend.runtime import tensorflow
tensorflow()
marks["import TensorFlow"] = time.perf_counter()
import mlc
model = mlc.load(sys.argv[1])
marks["read and check the model"] = time.perf_counter()
model.predict(["Deep networks for image segmentation."])
marks["first prediction (build, trace, score)"] = time.perf_counter()
model.predict(["Graph colouring bounds."])
marks["second prediction"] = time.perf_counter()
last, out = started, {}
for name, mark in marks.items():
    out[name], last = mark - last, mark
print(json.dumps(out))
"""


def _env(pythonpath: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    return env


def _wall(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--variant", action="append", default=[], help="NAME=PYTHONPATH, timed beside 'installed'")
    args = parser.parse_args()
    variants = {"installed": ""} | dict(v.split("=", 1) for v in args.variant)
    with tempfile.TemporaryDirectory() as scratch:
        one = Path(scratch) / "one.parquet"
        pq.write_table(pa.table({"abstract": ["Deep networks for image segmentation."]}), one)
        run = [sys.executable, "-m", "mlc.cli.app", "batch-predict", str(one), "--model-dir", args.model_dir]
        run += ["-o", str(Path(scratch) / "out.parquet"), "--quiet", "--force"]
        walls: dict[str, list[float]] = {name: [] for name in variants}
        interpreter: list[float] = []
        for _ in range(args.runs):  # alternated, so drift in the machine's load falls on every variant alike
            interpreter.append(_wall([sys.executable, "-c", "pass"], _env("")))
            for name, path in variants.items():
                walls[name].append(_wall(run, _env(path)))
        print(
            f"one-row batch-predict, {args.runs} runs each, alternated; python -c pass: "
            f"{statistics.median(interpreter):.2f} s median"
        )
        print("| variant | median s | min s | max s |\n| --- | ---: | ---: | ---: |")
        for name, seconds in walls.items():
            print(f"| {name} | {statistics.median(seconds):.2f} | {min(seconds):.2f} | {max(seconds):.2f} |")
        print()
        phases = {}
        for name, path in variants.items():
            done = subprocess.run(
                [sys.executable, "-c", PHASES, args.model_dir],
                env=_env(path),
                check=True,
                capture_output=True,
                text=True,
            )
            phases[name] = json.loads(done.stdout.splitlines()[-1])
        print("| phase (one process) | " + " | ".join(f"{n} s" for n in variants) + " |")
        print("| --- |" + " ---: |" * len(variants))
        for phase in phases["installed"]:
            print(f"| {phase} | " + " | ".join(f"{phases[n][phase]:.2f}" for n in variants) + " |")


if __name__ == "__main__":
    main()
