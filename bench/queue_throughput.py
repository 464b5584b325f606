"""Benchmark the queue path (enqueue -> consume -> results stream) against batch-predict on the same rows.

Starts its own `redis-server` (AOF off: the benchmark measures mlc, not the disk) on a free loopback port in a
temp dir. Each step is its own `mlc` process; wall times include start-up and model load, as for a user.

    python bench/queue_throughput.py --model-dir runs/arxiv /tmp/corpus_100k.parquet
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from batch_predict import machine, run  # noqa: E402


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", type=Path)
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--consume-batch-size", type=int, default=512)
    args = parser.parse_args()
    rows = pq.ParquetFile(args.input).metadata.num_rows
    mlc = [sys.executable, "-m", "mlc.cli.app"]
    with tempfile.TemporaryDirectory() as scratch:
        port = free_port()
        server = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--dir",
                scratch,
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        url = f"redis://127.0.0.1:{port}/0"
        try:
            time.sleep(0.5)
            batch_s, batch_rss = run(
                [
                    *mlc,
                    "batch-predict",
                    str(args.input),
                    "-m",
                    str(args.model_dir),
                    "-o",
                    f"{scratch}/out.parquet",
                    "--quiet",
                ]
            )
            enqueue_s, _ = run([*mlc, "enqueue", str(args.input), "--redis-url", url, "--quiet"])
            consume_s, consume_rss = run(
                [
                    *mlc,
                    "consume",
                    "--redis-url",
                    url,
                    "-m",
                    str(args.model_dir),
                    "--drain",
                    "--batch-size",
                    str(args.consume_batch_size),
                    "--log-interval",
                    "1000",
                ]
            )
            tagged = int(
                subprocess.run(
                    ["redis-cli", "-p", str(port), "XLEN", "mlc:tags"], capture_output=True, text=True
                ).stdout
            )
            assert tagged == rows, (tagged, rows)
        finally:
            server.terminate()
            server.wait()
    print(f"| pipeline ({rows:,} rows) | seconds | rows/s | peak RSS (MB) | vs batch-predict |")
    print("| --- | ---: | ---: | ---: | ---: |")
    print(
        f"| mlc batch-predict (Parquet -> Parquet) | {batch_s:.1f} | {rows / batch_s:,.0f} | {batch_rss:,.0f} | 1.0x |"
    )
    print(f"| mlc enqueue (Parquet -> stream) | {enqueue_s:.1f} | {rows / enqueue_s:,.0f} | | |")
    print(
        f"| mlc consume --drain (stream -> results stream, batch {args.consume_batch_size}) | {consume_s:.1f} | "
        f"{rows / consume_s:,.0f} | {consume_rss:,.0f} | {batch_s / consume_s:.2f}x |"
    )
    total = enqueue_s + consume_s
    print(f"| enqueue + consume, end to end | {total:.1f} | {rows / total:,.0f} | | {batch_s / total:.2f}x |")
    print(f"\nmachine: {machine()}")


if __name__ == "__main__":
    main()
