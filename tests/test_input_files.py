"""Input files as users have them: long fields, names with glob characters, text columns of the wrong type, and an
inbox where one file is bad: every readable input is tagged, the bad one is named, cron does not retry it."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.csv
import pyarrow.parquet as pq
import pytest

from mlc.pipeline.readers import MAX_RECORD_BYTES

from helpers import assert_one_line_error

pytestmark = pytest.mark.slow
TEXT = "Deep convolutional networks for image segmentation. "


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_csv_field_of_20_mb_is_read(cli, model_dir, tmp_path):
    source = tmp_path / "long.csv"
    with open(source, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "abstract"])
        writer.writerows([["a", TEXT], ["paper", TEXT * (20_000_000 // len(TEXT))], ["b", TEXT]])
    result = cli("batch-predict", source, "--model-dir", model_dir, "-o", tmp_path / "out.jsonl", "--quiet")
    assert result.code == 0, result.stderr
    rows = _rows(tmp_path / "out.jsonl")
    assert [r["id"] for r in rows] == ["a", "paper", "b"] and all(r["label_1"] for r in rows)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_a_record_over_the_limit_is_one_line_naming_its_row(cli, model_dir, tmp_path, suffix):
    huge = "x " * (MAX_RECORD_BYTES // 2 + 1000)
    source = tmp_path / f"huge{suffix}"
    table = pa.table({"id": ["a", "b", "c"], "abstract": [TEXT, TEXT, huge]})
    if suffix == ".parquet":
        pq.write_table(table, source)
    elif suffix == ".csv":
        pa.csv.write_csv(table, source)
    else:
        source.write_text("".join(json.dumps(row) + "\n" for row in table.to_pylist()))
    result = cli("batch-predict", source, "--model-dir", model_dir, "-o", tmp_path / "out.jsonl", "--quiet")
    where = "line 3" if suffix == ".jsonl" else "row 2"
    assert_one_line_error(result, 3, source.name, where, f"longer than {MAX_RECORD_BYTES >> 20} MB")
    assert not (tmp_path / "out.jsonl").exists()


def test_a_file_named_like_a_glob_is_that_file(cli, model_dir, tmp_path):
    source = tmp_path / "a [1].jsonl"
    source.write_text(json.dumps({"id": "x", "abstract": TEXT}) + "\n")
    (tmp_path / "a 1.jsonl").write_text(
        json.dumps({"id": "other", "abstract": TEXT}) + "\n"
    )  # what the glob would match
    result = cli("batch-predict", source, "--model-dir", model_dir, "-o", tmp_path / "out.jsonl", "--quiet")
    assert result.code == 0, result.stderr
    assert [r["id"] for r in _rows(tmp_path / "out.jsonl")] == ["x"]


@pytest.mark.parametrize(
    "values, kind",
    [([1, 2], "int64"), ([1.5, 2.5], "double"), ([True, False], "bool"), ([b"ab", b"cd"], "binary")],
    ids=["int", "float", "bool", "binary"],
)
def test_a_text_column_that_is_not_text_is_refused(cli, model_dir, tmp_path, values, kind):
    source = tmp_path / "typed.parquet"
    pq.write_table(pa.table({"id": ["a", "b"], "abstract": values}), source)
    result = cli("batch-predict", source, "--model-dir", model_dir, "-o", tmp_path / "out.jsonl")
    assert_one_line_error(result, 3, "typed.parquet", f"column 'abstract' holds {kind}, not text")
    assert not (tmp_path / "out.jsonl").exists()


def test_a_json_text_that_is_not_a_string_is_a_bad_row_and_a_typed_column_refuses_the_file(cli, model_dir, tmp_path):
    """JSON values carry their own types, so one number among strings is one bad row, in any block; a Parquet
    column of numbers is the wrong column, so the file is refused."""
    source = tmp_path / "numbers.jsonl"
    values = [42, TEXT, True, {"a": 1}, [1, 2], None, 4.5, ""]
    source.write_text("".join(json.dumps({"id": i, "abstract": v}) + "\n" for i, v in enumerate(values)))
    result = cli("batch-predict", source, "--model-dir", model_dir, "-o", tmp_path / "o.jsonl", "--quiet")
    assert result.code == 0, result.stderr
    assert [row["error"] for row in _rows(tmp_path / "o.jsonl")] == [
        "text is a number", None, "text is a boolean", "text is an object", "text is a list", "missing text",
        "text is a number", "empty text",
    ]  # fmt: skip
    numbers = tmp_path / "numbers.parquet"
    pq.write_table(pa.table({"id": [1, 2], "abstract": [123, 456]}), numbers)
    assert_one_line_error(
        cli("batch-predict", numbers, "--model-dir", model_dir, "-o", tmp_path / "p.jsonl"),
        3,
        "numbers.parquet",
        "column 'abstract' holds int64, not text",
    )


def test_json_blocks_that_change_fields_or_types_are_held_to_the_first(cli, model_dir, tmp_path):
    """Blocks of a long JSONL file infer their own schemas: a field missing from a later block is null there, an
    id that turns from numbers to digits is cast, one that cannot be is one line naming where it changed."""
    source = tmp_path / "drifting.jsonl"
    first = [{"id": i, "abstract": TEXT, "pad": "x" * 1500} for i in range(6_000)]  # over one 8 MB block
    later = [{"id": str(i), "note": "x"} for i in range(6_000, 6_010)]
    source.write_text("".join(json.dumps(row) + "\n" for row in first + later))
    result = cli("batch-predict", source, "--model-dir", model_dir, "-o", tmp_path / "o.parquet", "--quiet")
    assert result.code == 0, result.stderr
    table = pq.read_table(tmp_path / "o.parquet", columns=["id", "error"])
    assert table.column("id").to_pylist() == list(range(6_010))
    assert table.column("error").to_pylist()[-10:] == ["missing text"] * 10
    with open(source, "a") as handle:
        handle.write(json.dumps({"id": "not-a-number", "abstract": TEXT}) + "\n")
    failed = cli("batch-predict", source, "--model-dir", model_dir, "-o", tmp_path / "f.parquet", "--quiet")
    assert_one_line_error(failed, 3, "drifting.jsonl: row 6010: field 'id' holds string where earlier rows hold")
    assert not (tmp_path / "f.parquet").exists()


def test_one_bad_file_in_an_inbox_stops_neither_this_run_nor_the_next(cli, model_dir, tmp_path):
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    (inbox / "a.jsonl").write_text(json.dumps({"id": "a", "abstract": TEXT}) + "\n")
    (inbox / "b2.parquet").write_bytes(b"PAR1 not really parquet")
    (inbox / "c.jsonl").write_text(json.dumps({"id": "c", "abstract": TEXT}) + "\n")
    first = cli("batch-predict", inbox, "--model-dir", model_dir, "--out-dir", out, "--skip-existing")
    assert first.code == 3, first.stderr
    errors = [line for line in first.stderr.splitlines() if line.startswith("mlc: error:")]
    assert (
        len(errors) == 2
        and "b2.parquet: unreadable Parquet" in errors[0]
        and errors[1].endswith("not tagged: " + str(inbox / "b2.parquet"))
    )
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["a.jsonl", "c.jsonl"]
    assert [r["id"] for r in _rows(out / "c.jsonl")] == ["c"]

    again = cli("batch-predict", inbox, "--model-dir", model_dir, "--out-dir", out, "--skip-existing")
    assert again.code == 0, again.stderr
    assert "b2.parquet: skipped, unchanged since it failed" in again.stderr
    assert "0 file(s), 3 skipped (1 unchanged since they failed)" in again.stderr

    (inbox / "b2.parquet").write_bytes(b"still not parquet, but changed")  # a new upload is tried again
    third = cli("batch-predict", inbox, "--model-dir", model_dir, "--out-dir", out, "--skip-existing")
    assert third.code == 3 and "b2.parquet: unreadable Parquet" in third.stderr

    fail_fast = cli(
        "batch-predict", inbox, "--model-dir", model_dir, "--out-dir", tmp_path / "ff", "--fail-fast", "--quiet"
    )
    assert_one_line_error(fail_fast, 3, "b2.parquet")
    assert sorted(p.name for p in (tmp_path / "ff").iterdir() if not p.name.startswith(".")) == ["a.jsonl"]


def test_an_output_that_would_replace_its_input_is_refused(cli, model_dir, tmp_path):
    """--out-dir the input's own folder in the input's format, -o the input, or -o a link to it: the finished
    output would replace the rows it was made from, so the run is refused before anything is read or written."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    source = inbox / "new.csv"
    source.write_text("id,abstract\n1,Deep nets for images.\n")
    (inbox / "link.csv").symlink_to(source)
    for where in (
        ["--out-dir", inbox],
        ["-o", source],
        ["-o", inbox / "link.csv"],
        ["-o", inbox / ".." / "inbox/new.csv"],
    ):
        result = cli("batch-predict", source, "--model-dir", model_dir, *where)
        assert_one_line_error(result, 3, f"{source}: its output would replace it")
    assert source.read_text() == "id,abstract\n1,Deep nets for images.\n"
    assert sorted(p.name for p in inbox.iterdir()) == ["link.csv", "new.csv"]
    beside = cli("batch-predict", source, "--model-dir", model_dir, "--out-dir", inbox, "--output-format", "jsonl")
    assert beside.code == 0, beside.stderr  # the same folder in another format is another file
    assert [row["id"] for row in _rows(inbox / "new.jsonl")] == ["1"]  # CSV values stay text
