"""Benchmark batch-predict end to end (Parquet in, Parquet out, top-3) against the Keras example's way.

Each pipeline runs as its own process on the same input in the same run; wall time covers start-up, model
load, read, predict and write. Peak RSS is the child's maximum resident set (wait4). Inputs come from
../shared/tools/make_corpus.py; the baseline holds every row densely, so it runs only up to --baseline-max-rows.

    python ../shared/tools/make_corpus.py --rows 100000  --out /tmp/corpus_100k.parquet
    python ../shared/tools/make_corpus.py --rows 1000000 --out /tmp/corpus_1m.parquet
    python bench/batch_predict.py --model-dir runs/arxiv /tmp/corpus_100k.parquet /tmp/corpus_1m.parquet
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent


def run(command: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of one child process; fails loudly if the child fails."""
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{stderr}")
    return seconds, usage.ru_maxrss / 1024


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({cpu}), {memory:.0f} GiB RAM, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="+", type=Path)
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--batch-size", type=int, default=None, help="mlc --batch-size (default: mlc's)")
    parser.add_argument("--baseline-max-rows", type=int, default=100_000)
    args = parser.parse_args()

    mlc = [sys.executable, "-m", "mlc.cli.app"]
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        for source in args.inputs:
            rows = pq.ParquetFile(source).metadata.num_rows
            out = Path(scratch) / "out.parquet"
            command = [*mlc, "batch-predict", str(source), "--model-dir", str(args.model_dir), "-o", str(out), "--quiet"]
            if args.batch_size:
                command += ["--batch-size", str(args.batch_size)]
            seconds, rss = run(command)
            assert pq.ParquetFile(out).metadata.num_rows == rows
            entry = {"rows": rows, "mlc_s": seconds, "mlc_rss": rss, "base_s": None, "base_rss": None}
            if rows <= args.baseline_max_rows:
                entry["base_s"], entry["base_rss"] = run(
                    [sys.executable, str(HERE / "example_way.py"), str(source), str(args.model_dir), str(out)]
                )
            results.append(entry)
            print(f"{rows:>9,} rows  mlc {rows / seconds:>9,.0f} rows/s  {rss:>7,.0f} MB", end="")
            if entry["base_s"]:
                print(f"   example's way {rows / entry['base_s']:>8,.0f} rows/s  {entry['base_rss']:>7,.0f} MB"
                      f"   speed x{entry['base_s'] / seconds:.1f}, memory /{entry['base_rss'] / rss:.1f}", end="")
            print(flush=True)

    print("\n| rows | pipeline | seconds | rows/s | peak RSS (MB) | vs example's way |")
    print("| ---: | --- | ---: | ---: | ---: | --- |")
    for e in results:
        ratio = f"{e['base_s'] / e['mlc_s']:.1f}x faster, {e['base_rss'] / e['mlc_rss']:.1f}x less memory" if e["base_s"] else "(baseline not run: holds all rows densely)"
        print(f"| {e['rows']:,} | mlc batch-predict | {e['mlc_s']:.1f} | {e['rows'] / e['mlc_s']:,.0f} | {e['mlc_rss']:,.0f} | {ratio} |")
        if e["base_s"]:
            print(f"| {e['rows']:,} | example's way | {e['base_s']:.1f} | {e['rows'] / e['base_s']:,.0f} | {e['base_rss']:,.0f} | 1.0x |")
    if len(results) > 1:
        print(f"\npeak RSS at {results[-1]['rows']:,} rows / at {results[0]['rows']:,} rows: {results[-1]['mlc_rss'] / results[0]['mlc_rss']:.2f}")
    print(f"\nmachine: {machine()}")


if __name__ == "__main__":
    main()
