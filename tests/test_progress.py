"""What a run shows while it works: progress lines in a log (no terminal), a bar with its total on a terminal with
messages above it, one rate in the bar, the summary and the report, and `mlc train`'s steps."""

from __future__ import annotations

import gzip
import json
import os
import re
import select
import subprocess
import sys
import time

import pytest

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def screen_lines(output: str) -> list[str]:
    """What a terminal shows of each line: what follows its last carriage return or erase-line, colours removed."""
    lines = output.replace("\r\n", "\n").split("\n")  # a terminal's line ends
    return [ANSI.sub("", re.split(r"\x1b\[2K|\r", line)[-1]) for line in lines]


def progress_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("progress: ")]


def summary_rate(stderr: str) -> int:
    found = re.findall(r"([\d,]+) rows/s overall on ", stderr)
    assert found, stderr
    return int(found[-1].replace(",", ""))


def logged_run(cli, model_dir, source, tmp_path) -> tuple:
    """batch-predict without a terminal, a progress line per batch: (result, its progress lines, their shares)."""
    result = cli(
        "batch-predict", source, "-m", model_dir, "-o", tmp_path / "out.parquet", "--batch-size", "1000",
        "--progress-interval", "0.000001",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    lines = progress_lines(result.stderr)
    shares = [int(m.group(1)) for line in lines if (m := re.search(r"(\d+)% of its", line))]
    return result, lines, shares


def test_a_log_gets_progress_lines_with_share_and_time_left(cli, model_dir, make_corpus, tmp_path):
    source = make_corpus(20_000)
    result, lines, shares = logged_run(cli, model_dir, source, tmp_path)
    assert len(lines) >= 5, result.stderr  # one per batch at this interval
    assert all(f"progress: {source}: " in line and "of its 20,000 rows" in line for line in lines)
    assert shares == sorted(shares) and shares[-1] == 100
    assert any("left" in line for line in lines) and all("rows/s overall" in line for line in lines)
    # the message about the text column is a line of its own, before any progress line
    first = result.stderr.splitlines()
    assert first[0].startswith(f"{source}: text column"), result.stderr


@pytest.mark.parametrize("suffix", [".csv", ".jsonl.gz"])
def test_text_inputs_count_the_bytes_read(cli, model_dir, make_corpus, tmp_path, suffix):
    source = make_corpus(20_000, suffix.replace(".gz", ""))
    if suffix.endswith(".gz"):
        packed = tmp_path / f"corpus{suffix}"
        packed.write_bytes(gzip.compress(source.read_bytes()))
        source = packed
    result, lines, shares = logged_run(cli, model_dir, source, tmp_path)
    size = os.path.getsize(source)  # compressed bytes for gzip: what the reader takes from the file
    assert lines and all(f"of its {size:,} bytes" in line for line in lines), result.stderr
    assert shares == sorted(shares) and shares[-1] == 100  # a reader reads ahead of the rows tagged


def test_bytes_done_are_the_readers_offset_then_the_whole_file_once_it_closes(tmp_path):
    """A text input's share is its reader's offset while the file is open; once the reader has read to the end and
    closed it, the whole file, though rows it read ahead are still being tagged."""
    from mlc.pipeline.input_size import input_size

    path = tmp_path / "rows.csv"
    path.write_bytes(b"text\n" + b"x" * 9_995)
    size = input_size(path, "csv")
    assert (size.unit, size.total, size.done(0)) == ("bytes", 10_000, None)  # not open yet
    with open(path, "rb", buffering=0) as reader:
        reader.read(4_000)
        assert size.done(0) == 4_000
    assert size.done(0) == 10_000


def test_no_progress_lines_when_turned_off_or_quiet_or_from_a_stream(cli, model_dir, make_corpus, tmp_path):
    source = make_corpus(20_000)
    off = cli("batch-predict", source, "-m", model_dir, "-o", tmp_path / "a.parquet", "--progress-interval", "0")
    quiet = cli("batch-predict", source, "-m", model_dir, "-o", tmp_path / "b.parquet", "--quiet")
    assert off.code == quiet.code == 0
    assert not progress_lines(off.stderr) and not progress_lines(quiet.stderr)
    assert quiet.stderr.count("\n") == 1  # the summary only
    piped = cli(
        "batch-predict", "-", "-m", model_dir, "-o", tmp_path / "c.parquet", "--input-format", "parquet",
        "--batch-size", "1000", "--progress-interval", "0.000001", stdin=source.read_bytes(),
    )  # fmt: skip
    assert piped.code == 0, piped.stderr
    lines = progress_lines(piped.stderr)
    assert lines and not any("%" in line or "left" in line for line in lines)  # no total for a stream


def test_one_rate_in_the_summary_and_the_report(cli, model_dir, make_corpus, tmp_path):
    report = tmp_path / "run.json"
    result = cli(
        "batch-predict", make_corpus(20_000), "-m", model_dir, "-o", tmp_path / "o.parquet", "--report", report
    )
    assert result.code == 0, result.stderr
    data = json.loads(report.read_text())
    assert abs(summary_rate(result.stderr) - data["rows_per_second"]) <= 1
    assert data["rows"] == 20_000


def test_a_terminal_shows_a_bar_with_its_total_and_messages_above_it(model_dir, make_corpus, tmp_path):
    """stderr on a pseudo-terminal: the bar is drawn in place (carriage returns, cursor moves), every message is a
    whole line of its own, and the bar's last state has the summary's rate."""
    source = make_corpus(20_000)
    leader, follower = os.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlc.cli.app", "batch-predict", str(source), "-m", str(model_dir), "-o",
         str(tmp_path / "o.parquet"), "--batch-size", "1000"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=follower,
        env={**os.environ, "COLUMNS": "160", "TERM": "xterm"},
    )  # fmt: skip
    os.close(follower)
    shown = b""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 1.0)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            shown += chunk
        elif proc.poll() is not None:
            break
    os.close(leader)
    assert proc.wait(timeout=60) == 0, shown.decode(errors="replace")
    text = shown.decode("utf-8", "replace")
    lines = screen_lines(text)
    message = [line for line in lines if "text column" in line]
    assert message == [f"{source}: text column 'abstract', keeping id"], text  # a line of its own, above the bar
    bar_states = [line for line in lines if "rows/s overall" in line and "file(s)" not in line]
    assert bar_states and "corpus_20000.parquet" in bar_states[-1] and "100%" in bar_states[-1], text
    rate = summary_rate(text)
    shown = re.findall(r"([\d.,]+)(k?) rows/s overall", bar_states[-1])[-1]  # the bar's last state
    shown_rate = float(shown[0].replace(",", "")) * (1000 if shown[1] else 1)
    assert abs(shown_rate - rate) <= (50 if shown[1] else 1), (shown, rate)


def test_training_names_each_step_as_it_starts(labelled_csv, tmp_path):
    import mlc

    steps: list[str] = []
    mlc.train(labelled_csv, tmp_path / "m", epochs=1, threshold_folds=2, on_step=steps.append)
    names = [re.sub(r"[\d,]+", "N", step).split(":")[0] for step in steps]
    assert names[:2] == ["reading the data", "splitting N rows"]
    expected = ["vocabulary of N training rows", "TF-IDF rows (N n-grams)", "network", "logistic head"]
    assert names[2:6] == expected
    assert steps.count("thresholds: cross-fitting model 1/2") == 1 and "thresholds: cross-fitting model 2/2" in steps
    assert names[-3] == "thresholds" and steps[-3].startswith("thresholds: tuning on out-of-fold scores")
    assert steps[-2].startswith("scoring the ") and steps[-1] == f"writing {tmp_path / 'm'}"
