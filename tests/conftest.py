"""Shared fixtures: the real data in ../shared/data, one small model trained once per session, a CLI runner."""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # Ray on 127.0.0.1: tests talk to loopback only
SHARED_DATA = Path(os.environ.get("MLC_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))
ABSTRACTS_CSV = SHARED_DATA / "arxiv_abstracts.csv"
METADATA_JSONL = SHARED_DATA / "arxiv_metadata.jsonl"


@pytest.fixture(scope="session")
def abstracts_csv() -> Path:
    if not ABSTRACTS_CSV.exists():
        pytest.fail(f"shared data not found at {SHARED_DATA} (set MLC_SHARED_DATA)")
    return ABSTRACTS_CSV


@pytest.fixture(scope="session")
def metadata_jsonl() -> Path:
    if not METADATA_JSONL.exists():
        pytest.fail(f"shared data not found at {SHARED_DATA} (set MLC_SHARED_DATA)")
    return METADATA_JSONL


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory, abstracts_csv: Path) -> Path:
    """A model trained once per session on the shared abstracts (few epochs: tests check behaviour, not quality)."""
    from mlc.models.train_config import TrainConfig
    from mlc.pipeline.training import run_train
    from mlc.pipeline.training_data import ColumnOptions

    target = tmp_path_factory.mktemp("models") / "arxiv"
    run_train(str(abstracts_csv), target, ColumnOptions(), TrainConfig(epochs=4, seed=7), quiet=True)
    return target


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


@pytest.fixture
def cli():
    return run_cli


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
            pytest.fail("redis-server not installed (apt-get install -y redis-server; .ci/run does it)")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
             "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--protected-mode", "yes"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
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


@pytest.fixture
def redis_server(tmp_path_factory: pytest.TempPathFactory):
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def make_corpus(tmp_path_factory: pytest.TempPathFactory):
    """`make_corpus(rows, suffix)`: distinct synthetic abstracts from ../shared/tools/make_corpus.py, cached per session."""
    tool = SHARED_DATA.parent / "tools" / "make_corpus.py"
    made: dict[tuple[int, str], Path] = {}

    def build(rows: int, suffix: str = ".parquet") -> Path:
        if (rows, suffix) not in made:
            target = tmp_path_factory.mktemp("corpus") / f"corpus_{rows}{suffix}"
            subprocess.run([sys.executable, str(tool), "--rows", str(rows), "--out", str(target)], check=True, capture_output=True)
            made[rows, suffix] = target
        return made[rows, suffix]

    return build
