"""Every command on every kind of bad input: one `mlc: error:` line naming what is wrong, the documented exit
code (README "Exit codes"), no traceback, and no output left behind. `--debug` adds the traceback."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from helpers import assert_one_line_error

pytestmark = pytest.mark.slow
DEAD_REDIS = "redis://:s3cret@127.0.0.1:1/0"  # nothing listens on port 1


@pytest.fixture(scope="module")
def bad(tmp_path_factory, model_dir, labelled_csv) -> dict[str, Path]:
    """One file or directory per kind of bad input, and a good model and data to pair them with."""
    root = tmp_path_factory.mktemp("bad")
    (root / "empty.csv").write_bytes(b"")
    (root / "garbage.jsonl").write_bytes(os.urandom(2048).replace(b"\n", b"\x00"))
    (root / "nocolumn.csv").write_text("name,value\nx,1\n")
    (root / "dupcolumn.csv").write_text("summaries,summaries,terms\nfirst text,second text,['cs.LG']\n")
    (root / "latin1.csv").write_bytes("summaries,terms\ncaf\u00e9,['cs.LG']\n".encode("latin-1"))
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"summaries": list(range(12)), "terms": [["cs.LG"]] * 12}), root / "numbers.parquet")
    broken_model = root / "broken_model"
    shutil.copytree(model_dir, broken_model)
    keras_file = broken_model / "model.keras"
    keras_file.write_bytes(keras_file.read_bytes()[:1000])
    return {
        "missing": root / "absent.csv",
        "empty": root / "empty.csv",
        "garbage": root / "garbage.jsonl",
        "nocolumn": root / "nocolumn.csv",
        "dupcolumn": root / "dupcolumn.csv",
        "latin1": root / "latin1.csv",
        "numbers": root / "numbers.parquet",
        "broken_model": broken_model,
        "no_model": root / "no_model",
        "model": model_dir,
        "data": labelled_csv,
    }


DATA_FAULTS = [
    ("missing", 3, ["absent.csv", "no such file"]),
    ("empty", 3, ["empty.csv", "empty"]),
    ("garbage", 3, ["garbage.jsonl", "line 1"]),
    ("nocolumn", 3, ["nocolumn.csv", "column", "'name'"]),
    ("dupcolumn", 3, ["dupcolumn.csv", "'summaries' appears 2 times"]),
    ("latin1", 3, ["latin1.csv", "UTF"]),
    ("numbers", 3, ["numbers.parquet", "column 'summaries' holds int64, not text"]),
]


def _commands(paths: dict[str, Path], data: Path, out: Path, redis_url: str) -> dict[str, list]:
    return {
        "train": ["train", "--data", data, "--model-dir", out / "model", "--epochs", "1"],
        "evaluate": ["evaluate", data, "--model-dir", paths["model"], "--json", out / "report.json"],
        "batch-predict": ["batch-predict", data, "--model-dir", paths["model"], "-o", out / "tags.parquet"],
        "enqueue": ["enqueue", data, "--redis-url", redis_url],
    }


@pytest.mark.parametrize("command", ["train", "evaluate", "batch-predict", "enqueue"])
@pytest.mark.parametrize("fault, code, fragments", DATA_FAULTS, ids=[f[0] for f in DATA_FAULTS])
def test_bad_data(cli, bad, tmp_path, request, command, fault, code, fragments):
    redis_server = request.getfixturevalue("redis_server") if command == "enqueue" else None
    argv = _commands(bad, bad[fault], tmp_path, redis_server.url if redis_server else DEAD_REDIS)[command]
    if command == "enqueue" and fault == "latin1":
        fragments = ["latin1.csv"]
    result = cli(*argv)
    assert_one_line_error(result, code, *fragments)
    assert not list(tmp_path.iterdir()), "nothing may be left behind"
    if redis_server is not None:  # the bad row is the first of its file: nothing was queued
        assert not redis_server.client().exists("mlc:abstracts")


MODEL_FAULTS = [("no_model", 4, ["no_model"]), ("broken_model", 4, ["broken_model", "model.keras"])]


@pytest.mark.parametrize("command", ["evaluate", "batch-predict", "info", "consume"])
@pytest.mark.parametrize("fault, code, fragments", MODEL_FAULTS, ids=[f[0] for f in MODEL_FAULTS])
def test_bad_model_dir(cli, bad, tmp_path, command, fault, code, fragments):
    model = bad[fault]
    argv = {
        "evaluate": ["evaluate", bad["data"], "--model-dir", model, "--json", tmp_path / "report.json"],
        "batch-predict": ["batch-predict", bad["data"], "--model-dir", model, "-o", tmp_path / "tags.parquet"],
        "info": ["info", model],
        "consume": ["consume", "--model-dir", model, "--redis-url", DEAD_REDIS, "--drain"],
    }[command]
    assert_one_line_error(cli(*argv), code, *fragments)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    "argv",
    [
        ["batch-predict", "x.csv", "--top-k", "0", "-o", "y.csv"],
        ["train", "--epochs", "many"],
        ["consume", "--batch-size", "-1"],
        ["evaluate"],
        ["no-such-command"],
        ["batch-predict", "x.csv", "--engine", "ray", "--out-dir", "out", "--report", "r.json"],
    ],
    ids=["top-k-0", "epochs-text", "batch-size-negative", "missing-argument", "unknown-command", "ray-report"],
)
def test_usage_errors_exit_2(cli, argv):
    result = cli(*argv)
    assert result.code == 2, result.stderr
    assert "Traceback" not in result.stderr and result.stderr.strip()


@pytest.mark.parametrize("command", ["enqueue", "consume"])
def test_unreachable_redis_exits_6_without_the_password(cli, bad, command):
    argv = ["enqueue", bad["data"]] if command == "enqueue" else ["consume", "--model-dir", bad["model"], "--drain"]
    result = cli(*argv, "--redis-url", DEAD_REDIS)
    assert_one_line_error(result, 6, "127.0.0.1:1")
    assert "s3cret" not in result.stderr + result.stdout


def test_debug_shows_the_traceback(cli, bad):
    result = cli("--debug", "info", bad["broken_model"])
    assert result.code == 4
    assert "Traceback" in result.stderr and "mlc: error:" in result.stderr
