"""Which model tagged a row (the model id on every output), and did tonight's run look like the training data
(the run report, drift, exit 8)."""

from __future__ import annotations

import json
from collections import Counter

import pyarrow.parquet as pq
import pytest

from mlc.models.metadata import ModelMetadata
from mlc.models.model import Model
from mlc.models.model_dir import model_id
from mlc.pipeline.batch_predict import PredictOptions, batch_predict
from mlc.pipeline.readers import read_table
from mlc.pipeline.run_report import DriftTolerance

from helpers import assert_one_line_error

pytestmark = pytest.mark.slow


def test_every_model_has_an_id_that_names_its_files_and_thresholds(model_dir, cli):
    model = Model.load(model_dir)
    assert len(model.id) == 12 and int(model.id, 16) >= 0
    assert json.loads((model_dir / "metadata.json").read_text())["model_id"] == model.id
    assert model_id(model_dir, model.metadata) == model.id
    other = ModelMetadata(threshold=model.metadata.threshold, thresholds={**model.metadata.thresholds, "x": 0.1})
    assert model_id(model_dir, other) != model.id  # re-tuned thresholds: another model
    info = cli("info", model_dir)
    assert info.code == 0 and model.id in info.stdout
    assert json.loads(cli("info", model_dir, "--json").stdout)["model_id"] == model.id


def test_outputs_carry_the_model_id(model_dir, labelled_csv, tmp_path, cli):
    model = Model.load(model_dir)
    parquet = tmp_path / "out.parquet"
    assert cli("batch-predict", labelled_csv, "-m", model_dir, "-o", parquet, "--quiet").code == 0
    meta = pq.read_schema(parquet).metadata
    assert meta[b"mlc.model_id"].decode() == model.id
    assert json.loads(meta[b"mlc.thresholds"])["default"] == model.metadata.threshold
    assert meta[b"mlc.version"]
    assert "model_id" not in pq.read_schema(parquet).names  # a column only when asked for
    target = tmp_path / "with_id.csv"
    done = cli("batch-predict", labelled_csv, "-m", model_dir, "-o", target, "--with-model-id", "--quiet")
    assert done.code == 0, done.stderr
    assert set(read_table(target).column("model_id").to_pylist()) == {model.id}
    for fmt in ("jsonl", "parquet"):  # the same pipeline in this process, each writer
        target = tmp_path / f"with_id.{fmt}"
        batch_predict([str(labelled_csv)], model_dir, output=str(target), options=PredictOptions(with_model_id=True))
        assert set(read_table(target).column("model_id").to_pylist()) == {model.id}


def test_the_report_counts_what_the_output_holds(model_dir, labelled_csv, tmp_path, cli):
    source = tmp_path / "in.csv"
    text = labelled_csv.read_text()
    source.write_text(text + '"",,"[\'net.routing\']"\n')  # one row with empty text: a bad row
    out, report_path = tmp_path / "out.parquet", tmp_path / "report.json"
    done = cli("batch-predict", source, "-m", model_dir, "-o", out, "--report", report_path)
    assert done.code == 0, done.stderr
    assert "training" in done.stderr and "top-1" in done.stderr  # the table on stderr
    report = json.loads(report_path.read_text())
    rows = pq.read_table(out).to_pylist()
    tagged = [row for row in rows if not row["error"]]
    assert report["rows"] == len(rows) and report["tagged_rows"] == len(tagged) == len(rows) - 1
    assert report["bad_rows"] == dict(Counter(row["error"] for row in rows if row["error"]))
    assert report["model_id"] == Model.load(model_dir).id
    given = Counter(label for row in tagged for label in row["labels"])
    first = Counter(row["label_1"] for row in tagged)
    training = Model.load(model_dir).metadata.label_shares
    for entry in report["labels"]:
        assert entry["share"] == pytest.approx(given[entry["label"]] / len(tagged), abs=1e-6)
        assert entry["top_1_share"] == pytest.approx(first[entry["label"]] / len(tagged), abs=1e-6)
        assert entry["training_share"] == training[entry["label"]]
    assert report["drift"] == []  # the same kind of data it was trained on


def test_a_shifted_input_is_drift_and_fail_on_drift_exits_8_with_the_output_written(
    model_dir, labelled_csv, tmp_path, cli
):
    table = read_table(labelled_csv)
    only = [i for i, terms in enumerate(table.column("terms").to_pylist()) if terms == "['astro.comets']"]
    source = tmp_path / "comets.parquet"
    pq.write_table(table.take(only), source)
    out = tmp_path / "comets.tagged.parquet"
    warned = cli("batch-predict", source, "-m", model_dir, "-o", out, "--report", tmp_path / "r.json", "--quiet")
    assert warned.code == 0 and "astro.comets" in json.loads((tmp_path / "r.json").read_text())["drift"]
    failed = cli("batch-predict", source, "-m", model_dir, "-o", out, "--fail-on-drift", "--force", "--quiet")
    last = failed.stderr.strip().splitlines()[-1]  # after the run's summary line, the one error line
    assert failed.code == 8 and last.startswith("mlc: error: ") and "drifted" in last and "astro.comets" in last
    assert "Traceback" not in failed.stderr
    assert pq.read_metadata(out).num_rows == len(only)  # written before the exit
    loose = ("--fail-on-drift", "--force", "--drift-tolerance", "100,50", "--quiet")  # no label moves that far
    loose = cli("batch-predict", source, "-m", model_dir, "-o", out, *loose)
    assert loose.code == 0, loose.stderr
    bad = cli("batch-predict", source, "-m", model_dir, "-o", out, "--drift-tolerance", "0.5", "--force")
    assert_one_line_error(bad, 2, "--drift-tolerance")


@pytest.mark.parametrize(("rows", "drift"), [(1, False), (5, False), (50, True), (5000, True)])
def test_drift_needs_the_evidence_of_enough_rows(model_dir, labelled_csv, tmp_path, rows, drift):
    """Rows of one subject only: at 1 or 5 rows no share is evidence of anything, at 50 and more it is drift."""
    table = read_table(labelled_csv)
    only = [i for i, terms in enumerate(table.column("terms").to_pylist()) if terms == "['astro.comets']"]
    source = tmp_path / "comets.parquet"
    pq.write_table(table.take([only[i % len(only)] for i in range(rows)]), source)
    options = PredictOptions(count_labels=True)  # what --report asks for; exit 8 is the test above's
    summary = batch_predict([str(source)], model_dir, output=str(tmp_path / "out.parquet"), options=options)
    report = summary.report(model_dir, DriftTolerance())
    assert ("astro.comets" in report["drift"]) == drift
    comets = next(row for row in report["labels"] if row["label"] == "astro.comets")
    assert comets["decidable"] == drift and ("astro.comets" in report["too_few_rows_for"]) != drift
    if not drift:
        assert report["drift"] == []
    if rows == 1:  # one row tells nothing of any label's share
        assert len(report["too_few_rows_for"]) == len(report["labels"])
