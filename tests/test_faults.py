"""Process faults with real processes: kill -9 mid-file, a full disk (RLIMIT_FSIZE), Ctrl-C. After each: nothing
under a final name that is not complete, no temp file left once a run ends, and a rerun that completes."""

from __future__ import annotations

import os
import resource
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from helpers import assert_one_line_error, run_with_a_swallowed_signal, sigint_as_a_terminal_gives_it, wait_for

pytestmark = pytest.mark.slow


def _start(*args: object, limit_bytes: int | None = None) -> subprocess.Popen:
    def limit() -> None:
        sigint_as_a_terminal_gives_it()
        if limit_bytes is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return subprocess.Popen(
        [sys.executable, "-m", "mlc.cli.app", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=limit,
    )


def _wait_for_temp(directory: Path, name: str, process: subprocess.Popen, timeout: float = 120) -> Path:
    """The temp file of output `name` once it holds data: the run is then mid-file."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for candidate in directory.glob(f".{name}.*.tmp"):
            if candidate.stat().st_size > 0:
                return candidate
        assert process.poll() is None, process.communicate()
        time.sleep(0.02)
    raise AssertionError(f"no temp file for {name} within {timeout}s")


def test_kill_9_mid_file_then_skip_existing_completes(model_dir, labelled_csv, make_corpus, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a.csv").write_bytes(labelled_csv.read_bytes())
    big = inbox / "b.parquet"
    big.write_bytes(make_corpus(100_000).read_bytes())  # long enough to be killed while it is written
    out = tmp_path / "out"
    run = (
        "batch-predict",
        inbox,
        "--model-dir",
        model_dir,
        "--out-dir",
        out,
        "--output-format",
        "parquet",
        "--batch-size",
        "1024",
    )
    process = _start(*run)
    temp = _wait_for_temp(out, "b.parquet", process)
    assert stat.S_IMODE(temp.stat().st_mode) == 0o600  # private while it is being written
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert (out / "a.parquet").exists() and pq.read_metadata(out / "a.parquet").num_rows == 800
    assert not (out / "b.parquet").exists(), "a killed run must leave nothing under the final name"
    first_done = (out / "a.parquet").stat().st_mtime_ns

    rerun = subprocess.run(
        [sys.executable, "-m", "mlc.cli.app", *map(str, run), "--skip-existing"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert rerun.returncode == 0, rerun.stderr
    assert "a.csv: skipped" in rerun.stderr and "removed, left by an interrupted run" in rerun.stderr
    assert (out / "a.parquet").stat().st_mtime_ns == first_done
    assert pq.read_metadata(out / "b.parquet").num_rows == 100_000
    assert sorted(p.name for p in out.iterdir()) == ["a.parquet", "b.parquet"]  # no temp, no lock file left


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_full_disk_is_a_clean_error_with_no_partial_output(model_dir, make_corpus, tmp_path, suffix):
    target = tmp_path / f"tags{suffix}"
    process = _start(
        "batch-predict", make_corpus(20_000), "--model-dir", model_dir, "-o", target, "--quiet", limit_bytes=64_000
    )
    _, stderr = process.communicate(timeout=300)
    from helpers import CliResult

    assert_one_line_error(
        CliResult(process.returncode, "", stderr.decode()), 7, str(target), "cannot write", "File too large"
    )
    assert not list(tmp_path.iterdir())


def test_full_disk_while_saving_a_model(labelled_csv, tmp_path):
    target = tmp_path / "model"
    process = _start(
        "train",
        "--data",
        labelled_csv,
        "--model-dir",
        target,
        "--epochs",
        "1",
        "--threshold-folds",
        "0",
        "--quiet",
        limit_bytes=500_000,
    )
    _, stderr = process.communicate(timeout=300)
    from helpers import CliResult

    assert_one_line_error(CliResult(process.returncode, "", stderr.decode()), 7, str(target), "cannot write")
    assert not list(tmp_path.iterdir())


STOP_SIGNALS = sum(1 << (sig - 1) for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGTERM))


def _blocked_signals_by_thread(pid: int) -> dict[int, int]:
    """Each thread's blocked-signal mask (bit n-1 for signal n), from /proc."""
    masks = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        status = (task / "status").read_text()
        masks[int(task.name)] = int(
            next(line for line in status.splitlines() if line.startswith("SigBlk:")).split()[1], 16
        )
    return masks


@pytest.mark.parametrize(
    "sig, code, said",
    [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")],
    ids=["ctrl-c", "sigterm"],
)
def test_a_signal_mid_file_removes_the_temp_file_and_the_lock(model_dir, make_corpus, tmp_path, sig, code, said):
    """Ctrl-C, and SIGTERM (how cron's `timeout`, systemd and Kubernetes stop a job): the documented exit code,
    and neither the temp file nor `.mlc.lock` left behind. Mid-file no thread but mlc's signal waiter can take
    the signal: one handled in a TensorFlow thread could corrupt its heap and abort the process."""
    out = tmp_path / "out"
    process = _start(
        "batch-predict", make_corpus(300_000), "--model-dir", model_dir, "--out-dir", out, "--batch-size", "1024"
    )
    _wait_for_temp(out, "corpus_300000.parquet", process)
    blocked = _blocked_signals_by_thread(process.pid)
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == code, stderr
    assert said in stderr.decode()
    assert not list(out.iterdir())
    taking = [thread for thread, mask in blocked.items() if mask & STOP_SIGNALS != STOP_SIGNALS]
    assert len(blocked) > 4 and len(taking) <= 1, blocked  # the waiter, inside sigwait, has them unblocked


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["ctrl-c", "sigterm"])
def test_a_signal_stops_a_run_waiting_on_an_idle_pipe(model_dir, tmp_path, sig, code):
    """The main thread blocked in a read of a pipe whose writer sends nothing: the signal waiter wakes it, and the
    run ends at once with the signal's code, not when the writer goes away."""
    fifo = tmp_path / "in.csv"
    os.mkfifo(fifo)
    process = _start("batch-predict", fifo, "--model-dir", model_dir, "--output", tmp_path / "out.parquet")
    deadline = time.monotonic() + 60
    while True:  # the writer's end, once mlc has opened the reader's
        try:
            writer = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError:
            assert process.poll() is None and time.monotonic() < deadline, process.communicate()
            time.sleep(0.05)
    try:
        wait_for(lambda: "pipe_read" in Path(f"/proc/{process.pid}/wchan").read_text(), timeout=60)  # in its read
        process.send_signal(sig)
        _, stderr = process.communicate(timeout=20)
    finally:
        os.close(writer)
        process.kill()
    assert process.returncode == code, stderr
    assert not (tmp_path / "out.parquet").exists()


@pytest.mark.parametrize(
    "sig, code, said",
    [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")],
    ids=["ctrl-c", "sigterm"],
)
def test_a_signal_a_library_swallowed_still_ends_the_run(model_dir, make_corpus, tmp_path, sig, code, said):
    """A Ctrl-C or SIGTERM raised where Python only prints what is raised (a destructor, a gc callback) is noted by
    mlc's handler: the run ends at the next batch with the signal's code and leaves no output, not tagging on."""
    out = tmp_path / "out"
    done = run_with_a_swallowed_signal(
        sig, "batch-predict", make_corpus(50_000), "-m", model_dir, "--out-dir", out, "--batch-size", "1024"
    )
    assert done.returncode == code, done.stderr
    assert said in done.stderr.splitlines()[-1]
    assert not out.exists() or not list(out.iterdir())


CONVERTED = """
import os, signal, sys
from mlc.cli import exits
from mlc.models.errors import InputError

def app(standalone_mode):
    caught = False
    try:
        os.kill(os.getpid(), signal.Signals[sys.argv[1]])
        for _ in range(10**7):  # the handler raises here
            pass
    except BaseException:
        caught = True
    if caught:  # what a library made of it, outside the except block: nothing chained shows the signal
        raise InputError("in.parquet: unreadable Parquet: read cut short") if sys.argv[2] == "input" else TypeError()
exits.run(app)
"""


@pytest.mark.parametrize("made_into", ["input", "type"])
@pytest.mark.parametrize(
    "sig, code, said",
    [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")],
    ids=["ctrl-c", "sigterm"],
)
def test_an_error_raised_after_a_signal_ends_with_the_signals_code(sig, code, said, made_into):
    """A library that turns Ctrl-C or SIGTERM into an error of its own (a file error, a TypeError without a
    message) does not make an interrupted run look like a bad input or a crash."""
    done = subprocess.run(
        [sys.executable, "-c", CONVERTED, sig.name, made_into],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=sigint_as_a_terminal_gives_it,
    )
    assert done.returncode == code, done.stderr
    assert done.stderr.strip().splitlines() == [f"mlc: {said}" + (" (SIGTERM)" if code == 143 else "")]


def test_a_swallowed_signal_stops_training_before_anything_is_saved(labelled_csv, tmp_path):
    """`mlc train` stops at its next step or epoch when the Ctrl-C landed where Python drops what is raised."""
    target = tmp_path / "model"
    done = run_with_a_swallowed_signal(signal.SIGINT, "train", "--data", labelled_csv, "--model-dir", target)
    assert done.returncode == 130, done.stderr
    assert not target.exists()
