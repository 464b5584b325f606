"""batch-predict with the local engine: every format in and out, row order, scores, slicing, bad input."""

from __future__ import annotations

import fcntl
import gzip
import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from mlc.models.errors import InputError
from mlc.pipeline.batch_predict import PredictOptions, batch_predict
from mlc.pipeline.readers import read_table

from helpers import assert_one_line_error

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def abstracts(labelled_csv) -> pa.Table:
    table = read_table(labelled_csv)
    return table.append_column("id", pa.array([f"p{i:04d}" for i in range(table.num_rows)]))


@pytest.fixture(scope="module")
def expected_scores(model_dir, abstracts) -> np.ndarray:
    """What the loaded model gives for the same texts, computed directly (no pipeline)."""
    from mlc.models.model import Model

    return Model.load(model_dir).scores(abstracts.column("summaries").to_pylist())


def write_input(table: pa.Table, path: Path) -> Path:
    name = path.name
    if name.endswith(".parquet"):
        pq.write_table(table, path, row_group_size=150)
    elif name.endswith((".csv", ".csv.gz")):
        sink = pa.output_stream(str(path), compression="gzip" if name.endswith(".gz") else None)
        pacsv.write_csv(table, sink)
        sink.close()
    else:
        lines = "".join(json.dumps(row) + "\n" for row in table.to_pylist())
        path.write_bytes(gzip.compress(lines.encode()) if name.endswith(".gz") else lines.encode())
    return path


def read_output(path: Path) -> list[dict]:
    if path.suffix == ".parquet":
        return pq.read_table(path).to_pylist()
    if path.name.endswith(".csv"):
        return pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(strings_can_be_null=True)).to_pylist()
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("in_name", ["in.csv", "in.csv.gz", "in.parquet", "in.jsonl", "in.jsonl.gz"])
@pytest.mark.parametrize("out_suffix", [".parquet", ".csv", ".jsonl"])
def test_every_format_to_every_format_keeps_rows_order_and_scores(
    model_dir, abstracts, expected_scores, tmp_path, in_name, out_suffix
):
    source = write_input(abstracts, tmp_path / in_name)
    target = tmp_path / f"out{out_suffix}"
    summary = batch_predict([str(source)], model_dir, output=str(target), options=PredictOptions(batch_size=128))
    assert summary.rows == 800 and summary.bad_rows == 0
    rows = read_output(target)
    assert [r["id"] for r in rows] == abstracts.column("id").to_pylist()
    labels = json.loads((model_dir / "labels.json").read_text())
    from mlc.models.model import Model

    thresholds = Model.load(model_dir).thresholds()  # the tuned per-label thresholds from metadata.json
    top = np.argsort(-expected_scores, axis=1, kind="stable")[:, :3]
    for i, row in enumerate(rows):
        for j in range(3):
            assert row[f"score_{j + 1}"] == pytest.approx(float(expected_scores[i, top[i, j]]), abs=1e-5)
        assert row["label_1"] == labels[top[i, 0]]
        assert 0.0 <= row["score_3"] <= row["score_2"] <= row["score_1"] <= 1.0
        expected_set = {labels[c] for c in np.nonzero(expected_scores[i] >= thresholds)[0]}
        got = row["labels"].split(";") if isinstance(row["labels"], str) else (row["labels"] or [])
        assert set(filter(None, got)) == expected_set
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_bad_rows_keep_their_place_with_an_error(model_dir, tmp_path):
    source = tmp_path / "rows.jsonl"
    source.write_text(
        '{"text": "deep convolutional networks for image segmentation"}\n{"text": null}\n{"text": "   "}\n'
        '{"other": 1}\n{"text": "stochastic gradient descent converges"}\n'
    )
    target = tmp_path / "out.jsonl"
    summary = batch_predict([str(source)], model_dir, output=str(target), options=PredictOptions(top_k=2))
    rows = read_output(target)
    assert [r["row"] for r in rows] == [0, 1, 2, 3, 4]
    assert [r["error"] for r in rows] == [None, "missing text", "empty text", "missing text", None]
    assert rows[1]["label_1"] is None and rows[1]["labels"] == [] and rows[0]["label_1"] is not None
    assert "label_3" not in rows[0]
    assert summary.bad_rows == 3
    with pytest.raises(InputError, match=r"row 1: field 'text': missing text \(--strict\)"):
        batch_predict(
            [str(source)], model_dir, output=str(tmp_path / "strict.jsonl"), options=PredictOptions(strict=True)
        )
    assert not (tmp_path / "strict.jsonl").exists()


def test_failure_mid_stream_leaves_no_output(model_dir, tmp_path):
    source = tmp_path / "long.jsonl"
    good = "".join(
        json.dumps({"id": f"d{i}", "abstract": f"text number {i} about neural networks"}) + "\n" for i in range(30000)
    )
    source.write_text(good + "{this is not json}\n")
    target = tmp_path / "out.parquet"
    with pytest.raises(InputError, match="line 30001: invalid JSON"):
        batch_predict([str(source)], model_dir, output=str(target), options=PredictOptions(batch_size=1000))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.jsonl"]  # no temp file, and the lock is gone


def test_out_dir_skip_existing_and_rerun_after_change(model_dir, abstracts, tmp_path):
    inbox, outbox = tmp_path / "inbox", tmp_path / "outbox"
    inbox.mkdir()
    write_input(abstracts.slice(0, 50), inbox / "a.jsonl")
    write_input(abstracts.slice(50, 30), inbox / "b.csv")
    options = PredictOptions(output_format="parquet", skip_existing=True)
    first = batch_predict([str(inbox / "*")], model_dir, out_dir=outbox, options=options)
    assert [(Path(f.target).name, f.rows, f.skipped) for f in first.files] == [
        ("a.parquet", 50, False),
        ("b.parquet", 30, False),
    ]
    second = batch_predict([str(inbox)], model_dir, out_dir=outbox, options=options)
    assert all(f.skipped for f in second.files)
    later = (outbox / "a.parquet").stat().st_mtime + 10
    os.utime(inbox / "a.jsonl", (later, later))
    third = batch_predict([str(inbox)], model_dir, out_dir=outbox, options=options)
    assert [f.skipped for f in third.files] == [False, True]
    assert pq.read_table(outbox / "b.parquet").num_rows == 30


def test_cli_missing_column_fails_before_any_output(cli, model_dir, abstracts, tmp_path):
    source = write_input(abstracts.select(["id", "titles"]), tmp_path / "in.parquet")
    result = cli("batch-predict", source, "--model-dir", model_dir, "-o", tmp_path / "out.parquet")
    assert_one_line_error(result, 3, "in.parquet", "no text column", "'titles'")
    assert not (tmp_path / "out.parquet").exists()


def test_cli_truncated_parquet_and_invalid_utf8_csv(cli, model_dir, abstracts, tmp_path):
    whole = write_input(abstracts, tmp_path / "whole.parquet").read_bytes()
    (tmp_path / "cut.parquet").write_bytes(whole[: len(whole) // 2])
    result = cli("batch-predict", tmp_path / "cut.parquet", "--model-dir", model_dir, "-o", tmp_path / "o1.jsonl")
    assert_one_line_error(result, 3, "cut.parquet", "Parquet")
    (tmp_path / "bad.csv").write_bytes(b"id,abstract\n1,fine text\n2,caf\xe9 text\n")
    result = cli("batch-predict", tmp_path / "bad.csv", "--model-dir", model_dir, "-o", tmp_path / "o2.jsonl")
    assert_one_line_error(result, 3, "bad.csv", "UTF")
    assert not list(tmp_path.glob("o*"))


def test_cli_stdin_to_stdout(cli, model_dir):
    lines = b'{"id": "a", "abstract": "image segmentation with convolutional networks"}\n{"id": "b", "abstract": ""}\n'
    result = cli("batch-predict", "-", "--model-dir", model_dir, "-o", "-", "--top-k", "1", stdin=gzip.compress(lines))
    assert result.code == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["id"] for r in rows] == ["a", "b"] and rows[1]["error"] == "empty text"
    assert set(rows[0]) == {"id", "label_1", "score_1", "labels", "error"}
    assert "1 bad rows" in result.stderr


def test_cli_second_run_on_a_locked_directory_says_so(cli, model_dir, abstracts, tmp_path):
    source = write_input(abstracts.slice(0, 10), tmp_path / "in.jsonl")
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    with open(outbox / ".mlc.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        result = cli("batch-predict", source, "--model-dir", model_dir, "--out-dir", outbox)
    assert_one_line_error(result, 5, "another mlc run")
    assert not (outbox / "in.jsonl").exists()
    again = cli("batch-predict", source, "--model-dir", model_dir, "--out-dir", outbox, "--quiet")
    assert again.code == 0 and len(read_output(outbox / "in.jsonl")) == 10


def test_threshold_option_overrides_the_tuned_thresholds(model_dir, abstracts, expected_scores, tmp_path):
    source = write_input(abstracts, tmp_path / "in.parquet")
    target = tmp_path / "out.parquet"
    batch_predict([str(source)], model_dir, output=str(target), options=PredictOptions(threshold=0.3))
    labels = json.loads((model_dir / "labels.json").read_text())
    for i, row in enumerate(read_output(target)):
        assert set(row["labels"]) == {labels[c] for c in np.nonzero(expected_scores[i] >= 0.3)[0]}


def test_pipeline_has_fixed_sizes_and_autotune_off(model_dir):
    """tf.data's autotune thread made each iterator's teardown wait out its sleep: the prediction pipeline sets its
    own parallelism and prefetch, and autotune stays off."""
    from mlc.models.model import Model
    from mlc.models.tf_backend.runner import LocalRunner, RunnerSettings
    from mlc.models.tf_backend.runtime import static_pipeline_options

    assert static_pipeline_options().autotune.enabled is False
    scorer = Model.load(model_dir).scorer
    thresholds = Model.load(model_dir).thresholds()
    runner = LocalRunner(lambda: scorer.batch_function(3, thresholds), RunnerSettings(2, slice_rows=None, op_threads=1))
    texts = pa.array(["image segmentation with deep networks", "spectral graph theory"])
    results = list(runner.run(iter([(texts, i) for i in range(3)])))
    assert [side for side, _ in results] == [0, 1, 2]
    assert all(np.array_equal(p.scores, results[0][1].scores) for _, p in results) and results[0][1].scores.shape == (
        2,
        3,
    )


def test_rows_in_flight_stay_bounded_whatever_the_cores():
    """More cores get more, smaller slices, never more rows in flight; 2 cores keep whole default batches."""
    from mlc.models.tf_backend.runner import MIN_SLICE_ROWS, ROWS_IN_FLIGHT, slice_rows
    from mlc.pipeline.batch_predict import DEFAULT_BATCH_SIZE

    assert slice_rows(3, gpu=False) >= DEFAULT_BATCH_SIZE
    for parallel in (5, 9, 17, 33):
        assert parallel * slice_rows(parallel, gpu=False) <= ROWS_IN_FLIGHT
    assert slice_rows(65, gpu=False) == MIN_SLICE_ROWS
    assert slice_rows(17, gpu=True) is None  # a GPU takes whole batches


def test_long_batches_run_as_slices_and_come_back_whole_in_order(model_dir, abstracts, expected_scores):
    from mlc.models.model import Model
    from mlc.models.tf_backend.runner import LocalRunner, RunnerSettings

    model = Model.load(model_dir)
    batches = lambda: model.scorer.batch_function(3, model.thresholds())  # noqa: E731
    runner = LocalRunner(batches, RunnerSettings(parallel=3, slice_rows=7, op_threads=1))
    texts = abstracts.column("summaries").combine_chunks()
    sizes, chunks, start = [20, 7, 1, 15, 8], [], 0  # several slices, exactly one, a short one
    for n in sizes:
        chunks.append((texts.slice(start, n), start))
        start += n
    results = list(runner.run(iter(chunks)))
    assert [side for side, _ in results] == [side for _, side in chunks]
    for (side, predictions), n in zip(results, sizes):
        scores = expected_scores[side : side + n]
        assert predictions.scores.shape == (n, 3) and predictions.above.shape[0] == n
        np.testing.assert_allclose(predictions.scores, -np.sort(-scores, axis=1)[:, :3], atol=1e-5)
        np.testing.assert_allclose(
            np.take_along_axis(scores, predictions.indices, axis=1), predictions.scores, atol=1e-5
        )


def test_many_cores_slice_the_default_batch_end_to_end(model_dir, abstracts, expected_scores, tmp_path, monkeypatch):
    monkeypatch.setenv("MLC_PARALLEL_BATCHES", "16")  # slices of 768 rows: the one 800-row batch runs as two
    source = write_input(abstracts, tmp_path / "in.parquet")
    target = tmp_path / "out.parquet"
    assert batch_predict([str(source)], model_dir, output=str(target)).rows == 800
    rows = read_output(target)
    assert [r["id"] for r in rows] == abstracts.column("id").to_pylist()
    np.testing.assert_allclose([r["score_1"] for r in rows], expected_scores.max(axis=1), atol=1e-5)


KERAS_PROBE = """
import sys
from pathlib import Path
from mlc.pipeline.batch_predict import batch_predict
summary = batch_predict([sys.argv[1]], Path(sys.argv[2]), output=sys.argv[3])
loaded = sorted(m for m in sys.modules if m in ("keras", "jax") or m.startswith(("keras.", "tf_keras", "jax.")))
from mlc.models.tf_backend.runtime import tf_keras
tf, keras = tf_keras()  # Keras still imports afterwards, on TensorFlow; so does JAX where installed
import importlib.util
jax_works = importlib.util.find_spec("jax") is None or float(__import__("jax.numpy").numpy.ones(2).sum()) == 2.0
print(summary.rows, len(loaded), keras.backend.backend(), hasattr(keras.optimizers, "Adam"), jax_works)
"""


def test_prediction_never_imports_keras_or_jax(model_dir, abstracts, tmp_path):
    """Start-up: TensorFlow's __init__ imports all of Keras, and JAX where installed, unless declined; prediction
    reads the model file as data and needs neither. Training in the same process afterwards still gets Keras."""
    import subprocess
    import sys

    source = write_input(abstracts.slice(0, 50), tmp_path / "in.parquet")
    result = subprocess.run(
        [sys.executable, "-c", KERAS_PROBE, str(source), str(model_dir), str(tmp_path / "out.parquet")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["50", "0", "tensorflow", "True", "True"]


CLI_IMPORTS_PROBE = """
import atexit, sys
atexit.register(lambda: print(sorted(m for m in ("pandas", "keras", "jax") if m in sys.modules)))
sys.argv = ["mlc", *sys.argv[1:]]
from mlc.cli.app import main
main()
"""


def test_the_command_line_tags_parquet_without_importing_pandas(model_dir, abstracts, tmp_path):
    """Start-up: pyarrow imports pandas on its first conversion of Python values only to ask whether they are
    pandas objects; the command line declines that probe (JSON Lines output, written through pandas, still
    imports it: the CLI tests that write .jsonl read those rows back)."""
    import subprocess
    import sys

    source = write_input(abstracts.slice(0, 20), tmp_path / "in.parquet")
    command = [sys.executable, "-c", CLI_IMPORTS_PROBE, "batch-predict", str(source), "-m", str(model_dir)]
    done = subprocess.run([*command, "-o", str(tmp_path / "out.parquet")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"
    assert pq.read_table(tmp_path / "out.parquet").num_rows == 20


NO_BACKEND_PROBE = """
import sys
from pathlib import Path
from mlc.models.errors import InputError
from mlc.pipeline.batch_predict import PredictOptions, batch_predict
folder, model = Path(sys.argv[1]), Path(sys.argv[2])
for name in ("absent.csv", "no_text.csv"):
    try:
        batch_predict([str(folder / name)], model, output=str(folder / "refused.csv"))
    except InputError as error:
        print(error.message.split(": ", 1)[1].split(";")[0])
empty = batch_predict([str(folder / "empty.csv")], model, out_dir=folder / "out")
skip = PredictOptions(skip_existing=True)
again = batch_predict([str(folder / "empty.csv")], model, out_dir=folder / "out", options=skip)
print(empty.rows, again.files[0].skipped, repr(empty.device), "tensorflow" in sys.modules)
"""


def test_inputs_refused_empty_or_up_to_date_never_start_the_backend(model_dir, tmp_path):
    """The backend starts when the first rows are ready to score: a missing file, a file without a text column, a
    header-only file and an input whose output is up to date fail or finish in a fraction of its start-up."""
    import subprocess
    import sys

    (tmp_path / "no_text.csv").write_text("id,title\n1,Deep nets\n")
    (tmp_path / "empty.csv").write_text("id,abstract\n")
    result = subprocess.run(
        [sys.executable, "-c", NO_BACKEND_PROBE, str(tmp_path), str(model_dir)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines() == ["no such file", "no text column", "0 True '' False"], result.stdout
    assert not (tmp_path / "refused.csv").exists()


def test_an_empty_inputs_output_has_the_schema_of_any_other(model_dir, tmp_path):
    """A header-only CSV and a zero-row Parquet give the columns and types a non-empty input gives, for every
    combination of the options that shape the output, so a folder of daily outputs reads as one dataset."""
    import pyarrow.dataset as ds

    rows = pa.table({"id": ["a", "b", "c"], "abstract": ["Deep nets.", "Galaxies.", ""], "extra": ["x", "y", "z"]})
    pacsv.write_csv(rows, tmp_path / "full.csv")
    (tmp_path / "empty.csv").write_text('"id","abstract","extra"\n')
    pq.write_table(rows.slice(0, 0), tmp_path / "none.parquet")
    inputs = [str(tmp_path / name) for name in ("full.csv", "empty.csv", "none.parquet")]
    # Every pair of id column and kept columns, and each value of the others at least twice (a full product
    # would run 32 times as long and meet no code path these do not).
    combinations = [
        (None, None, 0, False, 3), ("id", None, 2, True, 1), (None, ("extra",), 2, True, 3),
        ("id", ("extra",), 0, False, 1), ("id", ("extra",), 2, True, 3), (None, None, 2, False, 1),
    ]  # fmt: skip
    for id_column, keep, explain, with_model_id, k in combinations:
        options = PredictOptions(
            id_column=id_column, keep_columns=keep, explain=explain, with_model_id=with_model_id, top_k=k,
            output_format="parquet",
        )  # fmt: skip
        out = tmp_path / f"out-{id_column}-{keep}-{explain}-{with_model_id}-{k}"
        batch_predict(inputs, model_dir, out_dir=out, options=options)
        full, empty = pq.read_schema(out / "full.parquet"), pq.read_schema(out / "empty.parquet")
        assert empty.equals(full, check_metadata=True), (options, empty, full)
        assert pq.read_schema(out / "none.parquet").equals(full, check_metadata=True)
        assert full.names[: 2 if keep else 1] == ["id", "extra"][: 2 if keep else 1]  # the id first, kept after it
        assert pq.read_metadata(out / "empty.parquet").num_rows == 0
        daily = ds.dataset(out, format="parquet", exclude_invalid_files=True).to_table()
        assert daily.num_rows == 3 and daily.column("id").to_pylist() == ["a", "b", "c"]
