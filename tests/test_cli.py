"""The command line: help for every command, the version, and the train/evaluate/info errors a user meets first."""

from __future__ import annotations

import json

import pytest

from helpers import assert_one_line_error

COMMANDS = ("train", "evaluate", "batch-predict", "info", "enqueue", "consume", "explain")


def test_help_lists_the_commands(cli):
    result = cli("--help")
    assert result.code == 0
    for command in COMMANDS:
        assert command in result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(cli, command):
    result = cli(command, "--help")
    assert result.code == 0 and "Usage:" in result.stdout and "--" in result.stdout, result.stderr


def test_version(cli):
    import mlc

    result = cli("--version")
    assert result.code == 0 and result.stdout.strip() == f"mlc {mlc.__version__}"


def test_train_missing_file(cli, tmp_path):
    result = cli("train", "--data", tmp_path / "absent.csv", "--model-dir", tmp_path / "m")
    assert_one_line_error(result, 3, "absent.csv", "no such file")
    assert not (tmp_path / "m").exists()


def test_train_missing_column_lists_columns(cli, tmp_path, labelled_csv):
    result = cli("train", "--data", labelled_csv, "--model-dir", tmp_path / "m", "--labels-column", "tags")
    assert_one_line_error(result, 3, "no labels column 'tags'", "'terms'")
    assert not (tmp_path / "m").exists() and not list(tmp_path.iterdir())


def test_train_empty_file(cli, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    result = cli("train", "--data", empty, "--model-dir", tmp_path / "m")
    assert_one_line_error(result, 3, "empty.csv", "empty")


def test_train_unparsable_labels_names_the_row(cli, tmp_path):
    data = tmp_path / "bad_labels.csv"
    data.write_text("summaries,terms\nfirst text,['cs.LG']\nsecond text,\"['cs.CV', \"\n")
    result = cli("train", "--data", data, "--model-dir", tmp_path / "m")
    assert_one_line_error(result, 3, "bad_labels.csv", "row 1", "field 'terms'")


def test_train_offline_default_download_says_to_pass_data(cli, tmp_path):
    import os

    result_env = {"MLC_CACHE_DIR": str(tmp_path / "cache")}
    os.environ.update(result_env)
    try:
        result = cli("train", "--data", "http://127.0.0.1:9/arxiv_data.csv", "--model-dir", tmp_path / "m")
    finally:
        del os.environ["MLC_CACHE_DIR"]
    assert_one_line_error(result, 6, "cannot download", "--data")
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").iterdir())  # no partial download


def test_evaluate_and_info_on_a_trained_model(cli, model_dir, labelled_csv, tmp_path):
    report_path = tmp_path / "report.json"
    result = cli("evaluate", labelled_csv, "--model-dir", model_dir, "--json", report_path)
    assert result.code == 0, result.stderr
    report = json.loads(report_path.read_text())
    assert report["rows"] == 800
    for name in (
        "binary_accuracy",
        "binary_accuracy_predict_nothing",
        "micro_f1",
        "macro_f1",
        "precision@1",
        "precision@3",
        "recall@3",
        "hamming_loss",
        "subset_accuracy",
    ):
        assert 0.0 <= report[name] <= 1.0, name
    assert report["binary_accuracy"] > report["binary_accuracy_predict_nothing"]
    assert report["unknown_labels"]["occurrences"] > 0  # rare labels dropped from training are reported
    assert "micro_f1" in result.stdout and "net.routing" in result.stdout  # the corpus's most common label
    info = cli("info", model_dir)
    assert info.code == 0 and "micro_f1" in info.stdout and "net.routing" in info.stdout


def test_evaluate_compare_and_at_k(cli, model_dir, labelled_csv, tmp_path):
    report_path = tmp_path / "both.json"
    result = cli(
        "evaluate",
        labelled_csv,
        "--model-dir",
        model_dir,
        "--compare",
        model_dir,
        "--at-k",
        "5,1",
        "--json",
        report_path,
    )
    assert result.code == 0, result.stderr
    first, second = json.loads(report_path.read_text())
    assert {"precision@5", "recall@5", "ndcg@5", "ndcg@1"} <= set(first) and "precision@3" not in first
    assert first["micro_f1"] == second["micro_f1"]  # the same model on the same rows
    assert "difference" in result.stdout and "ndcg@5" in result.stdout and "+0.0000" in result.stdout
    bad = cli("evaluate", labelled_csv, "--model-dir", model_dir, "--at-k", "three")
    assert bad.code == 2 and "--at-k" in bad.stderr


def test_evaluate_missing_model_dir(cli, tmp_path, labelled_csv):
    result = cli("evaluate", labelled_csv, "--model-dir", tmp_path / "nomodel")
    assert_one_line_error(result, 4, "no such model directory")


def test_info_rejects_a_corrupt_model_dir(cli, model_dir, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(model_dir, broken)
    (broken / "metadata.json").write_text("{not json")
    assert_one_line_error(cli("info", broken), 4, "metadata.json", "not valid JSON")


@pytest.mark.slow
def test_the_quick_start_runs_from_any_directory(cli, labelled_csv, tmp_path, monkeypatch):
    """`mlc train`, then `mlc batch-predict input.parquet`: the model goes to the per-user default location and
    the output beside its input, which a second run neither overwrites unasked nor takes as an input."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("MLC_MODEL_DIR", raising=False)
    work = tmp_path / "anywhere"
    work.mkdir()
    pq.write_table(
        pa.table({"id": ["a", "b"], "abstract": ["Deep networks for image segmentation.", "Graph theory."]}),
        work / "input.parquet",
    )
    trained = cli("train", "--data", labelled_csv, "--epochs", "2", "--threshold-folds", "0", "--quiet", cwd=work)
    assert trained.code == 0, trained.stderr
    default = tmp_path / "data" / "mlc" / "models" / "default"
    assert (default / "model.keras").is_file() and str(default) in cli("info", cwd=work).stdout

    first = cli("batch-predict", "input.parquet", cwd=work)
    assert first.code == 0, first.stderr
    assert "input.tagged.parquet" in first.stderr
    assert pq.read_table(work / "input.tagged.parquet").column("id").to_pylist() == ["a", "b"]
    assert_one_line_error(
        cli("batch-predict", "input.parquet", "--quiet", cwd=work), 3, "input.tagged.parquet", "--force"
    )
    skipped = cli("batch-predict", ".", "--skip-existing", cwd=work)  # the directory: input.parquet only
    assert skipped.code == 0 and "1 skipped" in skipped.stderr and "input.tagged.tagged" not in skipped.stderr
    assert cli("batch-predict", "input.parquet", "--force", "--quiet", cwd=work).code == 0
    assert sorted(p.name for p in work.iterdir()) == ["input.parquet", "input.tagged.parquet"]
