"""Where the test suite's time goes: `make test`'s pytest command, run once, with each test module's summed durations
and every `mlc` process the tests start (command, CPU seconds, whether it imported TensorFlow), so a change aimed
at CI time can be aimed at what costs most. A `sitecustomize` on PYTHONPATH records the processes; mlc is unchanged.

    python bench/test_suite.py                 # from the repository root, redis-server on PATH
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTEST = ["-m", "pytest", "-q", "-rs", "--durations=0", "-n", "auto", "--dist", "loadfile", "-p", "no:cacheprovider"]

# Runs first in every Python process started under the tests; records the `mlc` command-line ones at their exit.
RECORDER = """
import atexit, json, os, sys
_argv = list(getattr(sys, "orig_argv", []))
if "mlc.cli.app" in _argv:
    _command = _argv[_argv.index("mlc.cli.app") + 1] if len(_argv) > _argv.index("mlc.cli.app") + 1 else "-"
    _exit = os._exit
    def _record():
        t = os.times()
        line = {"command": _command, "cpu": t.user + t.system, "tensorflow": "tensorflow" in sys.modules,
                "keras": "keras" in sys.modules, "jax": "jax" in sys.modules, "ray": "ray" in sys.modules}
        with open(os.environ["MLC_BENCH_PROCESS_LOG"], "a") as log:
            log.write(json.dumps(line) + "\\n")
    def _exit_recorded(code):
        _record()
        _exit(code)
    atexit.register(_record)
    os._exit = _exit_recorded
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=15, help="slowest tests to list")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        shim = Path(scratch) / "shim"
        shim.mkdir()
        (shim / "sitecustomize.py").write_text(RECORDER)
        log = Path(scratch) / "processes.jsonl"
        log.touch()
        path = os.pathsep.join(p for p in (str(shim), os.environ.get("PYTHONPATH", "")) if p)
        env = {**os.environ, "PYTHONPATH": path, "MLC_BENCH_PROCESS_LOG": str(log), "MLC_REQUIRE_ALL_TESTS": "1"}
        started = time.perf_counter()
        before = os.times()
        done = subprocess.run([sys.executable, *PYTEST], cwd=ROOT, env=env, capture_output=True, text=True)
        after = os.times()
        wall = time.perf_counter() - started
        processes = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    cpu = (after.children_user + after.children_system) - (before.children_user + before.children_system)
    print(done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "no pytest output")
    print(f"\nwall {wall:.1f} s, CPU {cpu:.1f} s ({cpu / wall:.2f} cores busy of {os.cpu_count()})\n")
    durations = [
        (float(m.group(1)), m.group(2), m.group(3))
        for m in re.finditer(r"^([\d.]+)s (call|setup|teardown)\s+(\S+)$", done.stdout, re.MULTILINE)
    ]
    modules: dict[str, float] = collections.defaultdict(float)
    for seconds, _, test in durations:
        modules[test.split("::")[0]] += seconds
    print("| test module | seconds (sum of its tests) |\n| --- | ---: |")
    for module, seconds in sorted(modules.items(), key=lambda kv: -kv[1]):
        if seconds >= 1:
            print(f"| {module} | {seconds:.1f} |")
    print(f"| all | {sum(modules.values()):.1f} |\n")
    print("| mlc processes | count | CPU s | CPU s each |\n| --- | ---: | ---: | ---: |")
    groups: dict[str, list[float]] = collections.defaultdict(list)
    for p in processes:
        imported = "+".join(name for name in ("tensorflow", "keras", "jax", "ray") if p[name]) or "no backend"
        groups[f"{p['command']} ({imported})"].append(p["cpu"])
    for name, cpus in sorted(groups.items(), key=lambda kv: -sum(kv[1])):
        print(f"| {name} | {len(cpus)} | {sum(cpus):.1f} | {sum(cpus) / len(cpus):.2f} |")
    total = sum(p["cpu"] for p in processes)
    print(f"| all | {len(processes)} | {total:.1f} | |\n")
    print(f"slowest {args.top}:")
    for seconds, phase, test in sorted(durations, reverse=True)[: args.top]:
        print(f"  {seconds:6.2f}s {phase:8s} {test}")
    sys.exit(done.returncode)


if __name__ == "__main__":
    main()
