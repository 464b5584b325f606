"""The JAX backend on a GPU: rows/s of batch-predict's scoring path and the GPU's utilisation while it runs, as one
line to paste into BENCHMARKS.md. Needs `mlc[jax-cuda]` (no TensorFlow) and `nvidia-smi`; on a machine whose JAX
sees no GPU it says so and measures the CPU.

    python bench/gpu.py --model-dir runs/arxiv75 /tmp/corpus_1m.parquet [--batch-size 16384]
"""

from __future__ import annotations

import argparse
import datetime
import shutil
import subprocess
import time
from pathlib import Path

import pyarrow.parquet as pq

import mlc


class UtilisationSampler:
    """`nvidia-smi` polled every 200 ms in the background: GPU utilisation (%) and memory used (MiB)."""

    def __init__(self) -> None:
        self.proc = None
        if shutil.which("nvidia-smi"):
            self.proc = subprocess.Popen(
                [
                    "nvidia-smi",
                    "--query-gpu=utilization.gpu,memory.used",
                    "--format=csv,noheader,nounits",
                    "-lms",
                    "200",
                ],
                stdout=subprocess.PIPE,
                text=True,
            )

    def stop(self) -> tuple[float, float, float]:
        """(mean utilisation, peak utilisation, peak memory MiB) over the samples, zeros without nvidia-smi."""
        if self.proc is None:
            return 0.0, 0.0, 0.0
        self.proc.terminate()
        out, _ = self.proc.communicate()
        samples = [[float(v) for v in line.split(",")[:2]] for line in out.splitlines() if line.count(",") >= 1]
        busy = [u for u, _ in samples]
        return (sum(busy) / len(busy), max(busy), max(m for _, m in samples)) if samples else (0.0, 0.0, 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", type=Path, help="Parquet file with an `abstract` column")
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--batch-size", type=int, default=16384)
    parser.add_argument("--column", default="abstract")
    args = parser.parse_args()
    started = time.perf_counter()
    model = mlc.load(args.model_dir, backend="jax")
    device = model.device()
    if not device.startswith("GPU"):
        print("JAX sees no GPU here: the figures below are the CPU's")
    runner = model.runner(3)
    source = pq.ParquetFile(args.input)
    warm = next(source.iter_batches(batch_size=args.batch_size, columns=[args.column]))
    for _ in runner.run(iter([(warm.column(0), None)])):  # compile the batch's shapes before the clock starts
        pass
    ready = time.perf_counter()
    sampler = UtilisationSampler()
    rows, scoring_started = 0, time.perf_counter()
    chunks = ((b.column(0), b.num_rows) for b in source.iter_batches(batch_size=args.batch_size, columns=[args.column]))
    for n, _ in runner.run(chunks):
        rows += n
    seconds = time.perf_counter() - scoring_started
    mean_busy, peak_busy, peak_memory = sampler.stop()
    print(
        f"| {datetime.date.today()} | {device} | {args.input.name} | {rows:,} | {args.batch_size:,} "
        f"| {rows / seconds:,.0f} rows/s | start-up + compile {ready - started:.1f} s "
        f"| GPU busy {mean_busy:.0f}% mean, {peak_busy:.0f}% peak | {peak_memory:,.0f} MiB |"
    )


if __name__ == "__main__":
    main()
