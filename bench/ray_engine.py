"""Benchmark `batch-predict --engine ray` (1 and 2 workers) against the local engine on the same input, in one run.

Each run is its own `mlc` process; wall time includes start-up, model load and, for Ray, starting a local Ray
instance and its actors, as a user would see it. RSS is the driver's (Ray's workers are separate processes).

    python bench/ray_engine.py --model-dir runs/arxiv /tmp/bench/corpus_1m.parquet
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from batch_predict import machine, run  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", type=Path)
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--workers", default="1,2")
    args = parser.parse_args()
    rows = pq.ParquetFile(args.input).metadata.num_rows
    mlc = [sys.executable, "-m", "mlc.cli.app", "batch-predict", str(args.input), "-m", str(args.model_dir), "--quiet"]
    results: list[tuple[str, float]] = []
    with tempfile.TemporaryDirectory() as scratch:
        seconds, _ = run([*mlc, "-o", f"{scratch}/local.parquet"])
        results.append(("local engine (one process)", seconds))
        for workers in [int(w) for w in args.workers.split(",")]:
            out = Path(scratch) / f"ray{workers}"
            seconds, _ = run([*mlc, "--out-dir", str(out), "--engine", "ray", "--workers", str(workers)])
            written = sum(pq.read_metadata(p).num_rows for p in out.glob("*.parquet"))
            assert written == rows, (written, rows)
            results.append((f"Ray Data, {workers} worker(s)", seconds))
    print(machine())
    print(f"| engine ({rows:,} rows, Parquet -> Parquet) | seconds | rows/s | vs local |")
    print("| --- | ---: | ---: | ---: |")
    local = results[0][1]
    for name, seconds in results:
        print(f"| {name} | {seconds:.1f} | {rows / seconds:,.0f} | {local / seconds:.2f}x |")


if __name__ == "__main__":
    main()
