"""What several test modules use: the real CLI in a child process, the one-line error contract, a real
redis-server on loopback, and the queue's steps."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

LABELLED_ROWS = 800  # rows of the made-up corpus in the example's schema (tests/corpus.py)
OTHER_SCHEMA_ROWS = 600  # rows of the made-up corpus in the other schema
STREAM, RESULTS = "mlc:abstracts", "mlc:tags"


def skip_or_fail(reason: str) -> None:
    """Skip a test that lacks something outside the clone; .ci/run sets MLC_REQUIRE_ALL_TESTS=1, where it fails."""
    if os.environ.get("MLC_REQUIRE_ALL_TESTS") == "1":
        pytest.fail(f"{reason}, and MLC_REQUIRE_ALL_TESTS=1 says every test must run")
    pytest.skip(reason)


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


def run_cli(*args: str, stdin: bytes | None = None, cwd: Path | None = None, timeout: float = 300) -> CliResult:
    """Run the real `mlc` entry point in a child process, as a user would."""
    proc = subprocess.run(
        [sys.executable, "-m", "mlc.cli.app", *map(str, args)],
        input=stdin,
        capture_output=True,
        cwd=cwd,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200"},
    )
    return CliResult(proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace"))


def assert_one_line_error(result: CliResult, code: int, *fragments: str) -> None:
    """The contract for bad input: exit code, a single `mlc: error:` line naming what is wrong, no traceback."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.code == code, (result.code, result.stderr)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("mlc: error: "), lines[0]
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


class RedisServer:
    """A real `redis-server` on a free loopback port with its own temp dir (AOF on, so a restart keeps the data)."""

    def __init__(self, directory: Path) -> None:
        import socket

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.directory = directory
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        import shutil
        import time

        import redis

        binary = shutil.which("redis-server")
        if binary is None:
            skip_or_fail("redis-server not installed (apt-get install redis-server; .ci/run does it)")
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.directory),
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
                "--protected-mode",
                "yes",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                redis.Redis.from_url(self.url).ping()
                return
            except redis.RedisError:
                time.sleep(0.05)
        pytest.fail("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=20)
            self.process = None

    def client(self):
        import redis

        return redis.Redis.from_url(self.url, decode_responses=True)


def consumer(server, model_dir: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlc.cli.app",
            "consume",
            "--redis-url",
            server.url,
            "--stream",
            STREAM,
            "--results-stream",
            RESULTS,
            "--model-dir",
            str(model_dir),
            "--log-interval",
            "1",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def finish(proc: subprocess.Popen, timeout: float = 240) -> str:
    _, stderr = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, stderr.decode()
    return stderr.decode()


def enqueue(cli, server, source: Path, times: int = 1) -> int:
    for _ in range(times):
        result = cli("enqueue", source, "--redis-url", server.url, "--stream", STREAM, "--quiet")
        assert result.code == 0, result.stderr
    return server.client().xlen(STREAM)


def results(server) -> list[dict]:
    return [fields for _, fields in server.client().xrange(RESULTS)]


def wait_for(predicate, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def assert_exactly_once(server, n: int) -> None:
    sources = [r["source"] for r in results(server)]
    assert len(sources) == n and len(set(sources)) == n
    assert set(sources) == {entry_id for entry_id, _ in server.client().xrange(STREAM)}
    assert server.client().xpending(STREAM, "taggers")["pending"] == 0


def sigint_as_a_terminal_gives_it() -> None:
    """A child's SIGINT at its default: a shell's background job (CI's, a cron job) hands its children SIGINT
    ignored, and mlc keeps an ignored SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


# `python -c SWALLOWED SIGNAL mlc-args...`: runs mlc with a gc callback that, once mlc's stop handlers are in place,
# sends SIGNAL and lets the handler raise inside the callback, where Python prints the exception and drops it.
SWALLOWED = """
import gc, os, signal, sys
from mlc.cli.app import main

def swallow(phase, info):
    # A library's callback that the signal lands in: what it raises there is printed and dropped, as in a __del__.
    handler = signal.getsignal(SIGNAL)
    if phase == "start" and not fired and getattr(handler, "__module__", "") == "mlc.pipeline.stop_signals":
        fired.append(True)
        os.kill(os.getpid(), SIGNAL)
        for _ in range(10**7):  # the handler runs here, inside the callback
            pass

fired = []
SIGNAL = signal.Signals[sys.argv[1]]
sys.argv = ["mlc", *sys.argv[2:]]
gc.callbacks.append(swallow)
main()
"""


def run_with_a_swallowed_signal(sig: signal.Signals, *args: object) -> subprocess.CompletedProcess:
    """`mlc *args` in a child where `sig` lands in a gc callback and is dropped there (SWALLOWED)."""
    done = subprocess.run(
        [sys.executable, "-c", SWALLOWED, sig.name, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=sigint_as_a_terminal_gives_it,
    )
    assert "Exception ignored" in done.stderr  # the signal did land in the callback, and was dropped there
    return done
