"""Inputs and outputs that are not regular files: pipes and FIFOs are read once with every row tagged as from a
file; devices, FIFOs and open descriptors given as outputs are written in place and stay what they were."""

from __future__ import annotations

import gzip
import json
import os
import pty
import stat
import subprocess
import sys
import threading
import tty
from pathlib import Path

import pyarrow as pa
import pyarrow.csv
import pyarrow.parquet as pq
import pytest

from helpers import assert_one_line_error, run_cli

pytestmark = pytest.mark.slow
ROWS = 2_000


@pytest.fixture(scope="module")
def inputs(make_corpus, tmp_path_factory) -> dict[str, Path]:
    """The same rows as a Parquet, CSV, JSONL and gzip JSONL/CSV file."""
    table = pq.read_table(make_corpus(ROWS))
    folder = tmp_path_factory.mktemp("stream-inputs")
    files = {"parquet": folder / "rows.parquet", "csv": folder / "rows.csv", "jsonl": folder / "rows.jsonl"}
    pq.write_table(table, files["parquet"])
    pa.csv.write_csv(table, files["csv"])
    files["jsonl"].write_text("".join(json.dumps(row) + "\n" for row in table.to_pylist()))
    for name in ("jsonl", "csv"):
        files[f"{name}.gz"] = folder / f"rows.{name}.gz"
        files[f"{name}.gz"].write_bytes(gzip.compress(files[name].read_bytes()))
    return files


@pytest.fixture(scope="module")
def expected(model_dir, inputs, tmp_path_factory) -> list[dict]:
    """What the regular Parquet file is tagged as."""
    target = tmp_path_factory.mktemp("expected") / "rows.jsonl"
    result = run_cli("batch-predict", inputs["parquet"], "--model-dir", model_dir, "-o", target, "--quiet")
    assert result.code == 0, result.stderr
    return _rows(target)


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _mlc(*args: object, pass_fds: tuple[int, ...] = (), stdout: int | None = subprocess.PIPE) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "mlc.cli.app", *map(str, args)],
        stdout=stdout,
        stderr=subprocess.PIPE,
        pass_fds=pass_fds,
        env={**os.environ, "COLUMNS": "200"},
    )


def _feed_fifo(fifo: Path, source: Path) -> subprocess.Popen:
    """A child process that writes `source` into `fifo` (blocking until mlc opens it), as `zcat f > fifo` does."""
    return subprocess.Popen(["sh", "-c", 'cat "$1" > "$2"', "sh", str(source), str(fifo)])


@pytest.mark.parametrize("kind", ["csv", "jsonl", "jsonl.gz", "csv.gz", "parquet"])
def test_a_fifo_input_is_tagged_as_the_file_is(model_dir, inputs, expected, tmp_path, kind):
    """In process (the command line's own path through a pipe is the process substitution test's)."""
    from mlc.pipeline.batch_predict import PredictOptions, batch_predict

    fifo = tmp_path / "input"
    os.mkfifo(fifo)
    writer = _feed_fifo(fifo, inputs[kind])
    target = tmp_path / "out.jsonl"
    options = PredictOptions(input_format=kind.split(".")[0])
    assert batch_predict([str(fifo)], model_dir, output=str(target), options=options).rows == ROWS
    assert writer.wait(timeout=60) == 0
    _assert_same_tags(_rows(target), expected)
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["input", "out.jsonl"]  # no spool, lock or record left


@pytest.mark.parametrize("rows", [1, ROWS])
def test_a_process_substitution_is_read_once(model_dir, inputs, expected, tmp_path, rows):
    """`mlc batch-predict <(zcat f.jsonl.gz)`: the argument is `/dev/fd/N`, a pipe; no row is lost to a sniff."""
    data = gzip.compress("".join(json.dumps(row) + "\n" for row in _rows(inputs["jsonl"])[:rows]).encode())
    read_end, write_end = os.pipe()
    target = tmp_path / "out.jsonl"
    proc = _mlc(
        "batch-predict", f"/dev/fd/{read_end}", "--input-format", "jsonl", "-m", model_dir, "-o", target, "-q",
        pass_fds=(read_end,),
    )  # fmt: skip
    os.close(read_end)
    with os.fdopen(write_end, "wb") as pipe:
        pipe.write(data)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr.decode()
    _assert_same_tags(_rows(target), expected[:rows])


def _assert_same_tags(got: list[dict], expected: list[dict]) -> None:
    """The same rows, labels and errors; scores within float32 rounding (a one-row batch, or TensorFlow's threads
    set otherwise in this test process, round otherwise than the reference run)."""

    def without_scores(row: dict) -> dict:
        return {key: value for key, value in row.items() if not key.startswith("score_")}

    assert [without_scores(row) for row in got] == [without_scores(row) for row in expected]
    scores = [(row[f"score_{i}"], want[f"score_{i}"]) for row, want in zip(got, expected) for i in (1, 2, 3)]
    assert all(a == b is None or abs(a - b) < 1e-5 for a, b in scores)


def test_a_fifo_output_receives_every_row_and_stays_a_fifo(model_dir, inputs, expected, tmp_path):
    fifo = tmp_path / "tagged"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    proc = _mlc("batch-predict", inputs["parquet"], "-m", model_dir, "-o", fifo, "--output-format", "jsonl", "-q")
    _, stderr = proc.communicate(timeout=120)
    reader.join(timeout=60)
    assert proc.returncode == 0, stderr.decode()
    assert [json.loads(line) for line in received[0].decode().splitlines()] == expected
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tagged"]


def test_a_device_output_stays_a_device(cli, model_dir, inputs, tmp_path):
    node = tmp_path / "null"
    try:
        os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # the same device as /dev/null
    except PermissionError:
        pytest.skip("making a device node needs CAP_MKNOD (root in most containers)")
    for fmt in ("csv", "parquet"):
        result = cli("batch-predict", inputs["csv"], "-m", model_dir, "-o", node, "--output-format", fmt, "-q")
        assert result.code == 0, result.stderr
        assert stat.S_ISCHR(node.stat().st_mode)
    link = tmp_path / "link"
    link.symlink_to(node)
    assert cli("batch-predict", inputs["csv"], "-m", model_dir, "-o", link, "--output-format", "csv", "-q").code == 0
    assert link.is_symlink() and stat.S_ISCHR(node.stat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "null"]  # no temp file, no lock


def test_a_terminal_device_receives_the_rows(model_dir, inputs, expected, tmp_path):
    """A character device whose bytes can be read back: a pseudo-terminal in raw mode."""
    controller, terminal = pty.openpty()
    tty.setraw(terminal)
    received = bytearray()

    def read_all() -> None:
        while True:
            try:
                chunk = os.read(controller, 1 << 16)
            except OSError:  # the terminal side closed
                return
            if not chunk:
                return
            received.extend(chunk)

    reader = threading.Thread(target=read_all)
    reader.start()
    device = os.ttyname(terminal)
    proc = _mlc("batch-predict", inputs["jsonl"], "-m", model_dir, "-o", device, "--output-format", "jsonl", "-q")
    _, stderr = proc.communicate(timeout=120)
    assert stat.S_ISCHR(os.stat(device).st_mode)  # still the terminal (it goes once both ends close)
    os.close(terminal)
    reader.join(timeout=60)
    os.close(controller)
    assert proc.returncode == 0, stderr.decode()
    assert [json.loads(line) for line in received.decode().splitlines()] == expected


def test_dev_stdout_appends_where_the_shell_points_it(model_dir, inputs, tmp_path):
    log = tmp_path / "tagged.jsonl"
    for _ in range(2):
        with open(log, "ab") as append:
            proc = _mlc(
                "batch-predict", inputs["jsonl"], "-m", model_dir, "-o", "/dev/stdout", "--output-format", "jsonl",
                "-q", stdout=append.fileno(),
            )  # fmt: skip
            _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr.decode()
    assert len(log.read_text().splitlines()) == 2 * ROWS


def test_no_output_is_written_beside_a_stream(cli, model_dir, inputs, tmp_path):
    fifo = tmp_path / "rows.jsonl"
    os.mkfifo(fifo)
    result = cli("batch-predict", fifo, "-m", model_dir)
    assert_one_line_error(result, 3, str(fifo), "not a regular file", "give -o or --out-dir")


def test_train_and_evaluate_read_a_pipe_once(cli, labelled_csv, tmp_path):
    """The training data's hash is the file's, though it came through a pipe."""
    import hashlib

    fifo = tmp_path / "labelled"
    os.mkfifo(fifo)
    writer = _feed_fifo(fifo, labelled_csv)
    model = tmp_path / "model"
    result = cli(
        "train", "--data", fifo, "--input-format", "csv", "--model-dir", model, "--epochs", "1",
        "--threshold-folds", "0", "--quiet",
    )  # fmt: skip
    assert writer.wait(timeout=60) == 0
    assert result.code == 0, result.stderr
    data = json.loads((model / "metadata.json").read_text())["data"]
    assert data["sha256"] == hashlib.sha256(labelled_csv.read_bytes()).hexdigest()
    writer = _feed_fifo(fifo, labelled_csv)
    result = cli("evaluate", fifo, "--input-format", "csv", "--model-dir", model, "--json", tmp_path / "report.json")
    assert writer.wait(timeout=60) == 0
    assert result.code == 0, result.stderr
    assert json.loads((tmp_path / "report.json").read_text())["data"]["steps"]["rows_read"] == 800
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labelled", "model", "report.json"]
