"""Load with real processes: batch-predict's memory against the rows it tags, under a hard 2 GiB memory limit, and
100k queued messages through two consume workers, one of them killed midway."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from helpers import RESULTS, STREAM, assert_exactly_once, consumer, enqueue, finish, wait_for

pytestmark = pytest.mark.slow
GIB = 1 << 30
LAUNCHER = Path(__file__).with_name("peak_rss.py")


def _run_limited(data_limit: int, *args: object) -> tuple[subprocess.CompletedProcess, int]:
    """`mlc ARGS` with RLIMIT_DATA set (heap and private anonymous mappings, i.e. the memory the process really
    allocates; RLIMIT_AS cannot be used: TensorFlow's shared libraries alone map more than 2 GiB of address space),
    and its peak RSS in bytes, measured by a small launcher (peak_rss.py) rather than by this large process."""
    with tempfile.TemporaryDirectory() as scratch:
        report = os.path.join(scratch, "peak")
        command = [sys.executable, str(LAUNCHER), str(data_limit), report, sys.executable, "-m", "mlc.cli.app"]
        done = subprocess.run([*command, *map(str, args)], capture_output=True, text=True)
        with open(report) as peak:
            return done, int(peak.read())


def test_memory_stays_flat_in_the_rows_so_a_million_fit_in_2_gib(model_dir, make_corpus, tmp_path):
    """Streaming holds a bounded number of batches, so memory does not grow with the rows. Measured, not assumed:
    the peak RSS of 150k and of 300k rows (past the first batches' ramp, where allocators fill their pools), both
    under a hard 2 GiB data limit; their difference, taken as growth per row (linear, the worst a leak could be),
    extrapolated to 1M rows must keep the RSS (file-backed library pages included) inside 2 GiB, and be small."""
    peaks = {}
    for rows in (150_000, 300_000):
        target = tmp_path / f"tags_{rows}.parquet"
        done, peaks[rows] = _run_limited(
            2 * GIB, "batch-predict", make_corpus(rows), "--model-dir", model_dir, "-o", target, "--quiet"
        )
        assert done.returncode == 0, done.stderr
        assert pq.read_metadata(target).num_rows == rows
    growth_per_row = max(peaks[300_000] - peaks[150_000], 0) / 150_000
    at_a_million = peaks[300_000] + growth_per_row * 700_000
    assert at_a_million < 2 * GIB, peaks
    assert peaks[300_000] - peaks[150_000] < 128 * 2**20, peaks  # twice the rows, about the same memory
    # The limit is real: a tenth of it is not enough for the same run, which then fails cleanly.
    starved, _ = _run_limited(
        GIB // 5,
        "batch-predict",
        make_corpus(300_000),
        "--model-dir",
        model_dir,
        "-o",
        tmp_path / "starved.parquet",
        "--quiet",
    )
    assert starved.returncode != 0
    assert not (tmp_path / "starved.parquet").exists()


@pytest.mark.redis
def test_100k_messages_two_workers_one_killed(redis_server, model_dir, make_corpus, cli):
    n = enqueue(cli, redis_server, make_corpus(100_000))
    assert n == 100_000
    survivor = consumer(
        redis_server, model_dir, "--consumer", "survivor", "--claim-idle-ms", "2000", "--claim-interval", "1"
    )
    victim = consumer(redis_server, model_dir, "--consumer", "victim")
    client = redis_server.client()
    wait_for(lambda: client.xlen(RESULTS) > 30_000, timeout=300)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    held = len(client.xpending_range(STREAM, "taggers", "-", "+", 100_000, consumername="victim"))
    assert client.xlen(RESULTS) < n
    # The survivor finishes the queue and takes over what the victim held; then a draining run confirms it is all done.
    wait_for(lambda: client.xlen(RESULTS) >= n, timeout=600)
    survivor.send_signal(signal.SIGTERM)
    log = finish(survivor)
    claimed = int(re.search(r"(\d+) claimed", log).group(1))
    assert claimed >= held, log  # what the killed worker held was taken over, not lost
    finish(consumer(redis_server, model_dir, "--drain"))
    assert_exactly_once(redis_server, n)
    assert client.xlen(f"{STREAM}:dead") == 0
