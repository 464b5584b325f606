"""Load with real processes: 1M rows through batch-predict under a hard 2 GiB memory limit, and 100k queued
messages through two consume workers, one of them killed midway."""

from __future__ import annotations

import re
import resource
import signal
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from helpers import RESULTS, STREAM, assert_exactly_once, consumer, enqueue, finish, wait_for

pytestmark = pytest.mark.slow
GIB = 1 << 30


def _run_limited(data_limit: int, *args: object) -> subprocess.CompletedProcess:
    """`mlc ARGS` with RLIMIT_DATA set: heap and private anonymous mappings, i.e. the memory the process really
    allocates. (RLIMIT_AS cannot be used: TensorFlow's shared libraries alone map more than 2 GiB of address space.)"""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_DATA, (data_limit, data_limit))

    return subprocess.run(
        [sys.executable, "-m", "mlc.cli.app", *map(str, args)],
        capture_output=True,
        text=True,
        preexec_fn=limit,
        timeout=900,
    )


def test_one_million_rows_under_a_2_gib_memory_limit(model_dir, make_corpus, tmp_path):
    corpus = make_corpus(1_000_000)
    target = tmp_path / "tags.parquet"
    done = _run_limited(2 * GIB, "batch-predict", corpus, "--model-dir", model_dir, "-o", target, "--quiet")
    assert done.returncode == 0, done.stderr
    assert pq.read_metadata(target).num_rows == 1_000_000
    # The limit is real: a tenth of it is not enough for the same run, which then fails cleanly.
    starved = _run_limited(
        GIB // 5, "batch-predict", corpus, "--model-dir", model_dir, "-o", tmp_path / "starved.parquet", "--quiet"
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
