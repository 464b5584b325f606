"""Benchmark the queue path (enqueue -> consume -> results stream) against batch-predict on the same rows.

Starts its own `redis-server` (AOF off: the benchmark measures mlc, not the disk) on a free loopback port in a
temp dir. Each step is its own `mlc` process; wall times include start-up and model load, as for a user.

    python bench/queue_throughput.py --model-dir runs/arxiv /tmp/corpus_100k.parquet
    python bench/queue_throughput.py --model-dir runs/arxiv --reload-model-dir runs/arxiv2 /tmp/corpus_100k.parquet

With `--reload-model-dir`, a second consume runs over the same rows with `--model-dir` a symlink that is flipped
to the other model once half the results are in: the gap in the results stream at the switch (stream ids are
Redis's clock) against the median gap between batches, and the whole run's time against the first consume's.
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
    parser.add_argument("--reload-model-dir", type=Path, help="flip the consumer's model to this one midway")
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
            if args.reload_model_dir:
                reload = reload_run(mlc, url, port, args, Path(scratch), rows)
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
    if args.reload_model_dir:
        seconds, gap, usual, batch_time, line = reload
        print(
            f"\nwith a model switch midway ({line}): consume {seconds:.1f} s ({seconds / consume_s:.2f}x the run "
            f"without); in the results stream, the gap between the last result of the old model and the first of "
            f"the new {gap * 1000:.0f} ms, between two batches otherwise {usual * 1000:.0f} ms (median), one "
            f"batch {batch_time * 1000:.0f} ms: the switch cost {(gap - usual) / batch_time:.2f} batch times"
        )
    print(f"\nmachine: {machine()}")


def reload_run(mlc: list[str], url: str, port: int, args: argparse.Namespace, scratch: Path, rows: int) -> tuple:
    """A consume whose model symlink is flipped once half the rows are tagged: (seconds, the results-stream gap at
    the switch, the median gap at other batch boundaries, the median batch time, the consumer's reload line)."""
    import os
    import threading

    import redis

    client = redis.Redis.from_url(url)
    stream, results = "mlc:reload-in", "mlc:reload-out"
    subprocess.run([*mlc, "enqueue", str(args.input), "--redis-url", url, "--stream", stream, "--quiet"], check=True)
    current = scratch / "current"
    current.symlink_to(args.model_dir.resolve())
    consumer = subprocess.Popen(
        [
            *mlc,
            "consume",
            "--redis-url",
            url,
            "-m",
            str(current),
            "--stream",
            stream,
            "--results-stream",
            results,
            "--drain",
            "--batch-size",
            str(args.consume_batch_size),
            "--reload-interval",
            "0.2",
            "--log-interval",
            "1000",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    started = time.perf_counter()

    def flip_midway() -> None:
        while consumer.poll() is None and client.xlen(results) < rows // 2:
            time.sleep(0.01)
        (scratch / "next").symlink_to(args.reload_model_dir.resolve())
        os.replace(scratch / "next", current)

    threading.Thread(target=flip_midway, daemon=True).start()
    _, log = consumer.communicate()
    seconds = time.perf_counter() - started
    assert consumer.returncode == 0, log
    entries = client.xrange(results)
    assert len(entries) == rows
    stamps = [int(entry_id.split(b"-")[0]) / 1000 for entry_id, _ in entries]
    models = [fields[b"model_id"] for _, fields in entries]
    switch = next(i for i in range(1, rows) if models[i] != models[i - 1])
    size = args.consume_batch_size  # with a backlog every batch is full: batch i is results i*size ... (i+1)*size-1
    assert switch % size == 0, switch
    starts = list(range(size, rows, size))
    between = sorted(stamps[b] - stamps[b - 1] for b in starts if b != switch)  # last of one batch to first of next
    batch_time = sorted(stamps[b + size] - stamps[b] for b in starts[:-1])[len(starts) // 2]
    line = next((x.split("mlc consume: ")[-1] for x in log.splitlines() if " -> " in x), "no reload logged")
    return seconds, stamps[switch] - stamps[switch - 1], between[len(between) // 2], batch_time, line


if __name__ == "__main__":
    main()
