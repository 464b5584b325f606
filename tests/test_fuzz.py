"""Property-based tests of every reader and of label parsing: whatever the bytes, a reader yields rows or raises
`InputError` with a one-line message naming the file; nothing else escapes, nothing hangs, nothing crashes."""

from __future__ import annotations

import gzip
import json
import os
import string
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mlc.models.errors import InputError
from mlc.pipeline.columns import text_with_faults
from mlc.pipeline.labels import parse_label_cell, parse_label_column
from mlc.pipeline.readers import MAX_JSON_DEPTH, ReadOptions, read_batches
from mlc.pipeline.training_data import ColumnOptions, load_labelled

# Each example must finish in seconds (a hang fails the test); the examples run in one process.
FUZZ = settings(
    max_examples=150, deadline=5000, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
SUFFIXES = [".csv", ".jsonl", ".parquet", ".csv.gz", ".jsonl.gz", ".ndjson"]


def _read_all(path: Path, block_bytes: int = 1 << 16) -> list[pa.RecordBatch]:
    """Read `path` completely; the only acceptable failure is a one-line InputError naming it."""
    try:
        return list(read_batches(path, ReadOptions(block_bytes=block_bytes)))
    except InputError as error:
        assert str(path) in error.message and "\n" not in error.message
        return []


def _write(tmp_path: Path, suffix: str, payload: bytes) -> Path:
    path = tmp_path / f"input{suffix}"
    path.write_bytes(gzip.compress(payload) if suffix.endswith(".gz") else payload)
    return path


@FUZZ
@given(payload=st.binary(max_size=4096), suffix=st.sampled_from(SUFFIXES))
def test_arbitrary_bytes(tmp_path, payload, suffix):
    _read_all(_write(tmp_path, suffix, payload))


@FUZZ
@given(payload=st.binary(max_size=2048), suffix=st.sampled_from(SUFFIXES))
def test_arbitrary_bytes_after_a_valid_start(tmp_path, payload, suffix):
    """A good first block, then garbage: rows already read are fine, the garbage is an InputError."""
    head = (
        b"text,labels\nhello world,cs.LG\n" if ".csv" in suffix else b'{"text": "hello world", "labels": ["cs.LG"]}\n'
    )
    _read_all(_write(tmp_path, suffix, head + payload), block_bytes=64)


# Values JSON can carry, nested, with the awkward cases: NULs, huge ints, lone surrogates escaped, deep lists.
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=False),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=50),
    st.sampled_from(["", "\x00", "a\x00b", "cs.LG", "['cs.LG']"]),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=20,
)
records = st.dictionaries(
    st.sampled_from(["text", "labels", "id", "title", "x"]) | st.text(max_size=5), json_values, max_size=5
)


def _jsonl_line(record: dict, mode: str) -> bytes:
    line = json.dumps(record)
    if mode == "latin1":  # a producer that wrote Latin-1 instead of UTF-8
        return line.encode("utf-8", "surrogatepass").replace(b"a", b"\xe9", 1) + b"\n"
    if mode == "deep":
        return ("[" * (MAX_JSON_DEPTH * 3) + "]" * (MAX_JSON_DEPTH * 3) + "\n").encode()
    if mode == "truncated":
        return line[: max(1, len(line) // 2)].encode("utf-8", "surrogatepass") + b"\n"
    return line.encode("utf-8", "surrogatepass") + b"\n"


@FUZZ
@given(
    rows=st.lists(
        st.tuples(records, st.sampled_from(["plain"] * 6 + ["latin1", "deep", "truncated"])), min_size=1, max_size=30
    ),
    gz=st.booleans(),
)
@example(rows=[({"labels": None}, "latin1")], gz=False)  # invalid UTF-8 in a key: pyarrow raised UnicodeDecodeError
def test_jsonl_records_of_any_shape(tmp_path, rows, gz):
    """Wrong types, mixed types across blocks, NULs, bad encodings, deep nesting: rows or InputError, then the
    text and labels stages either take the rows or say which field is wrong."""
    path = _write(tmp_path, ".jsonl.gz" if gz else ".jsonl", b"".join(_jsonl_line(r, mode) for r, mode in rows))
    batches = _read_all(path, block_bytes=256)
    for batch in batches:
        if "text" in batch.schema.names:
            try:
                texts, bad, reasons = text_with_faults(batch, ["text"], str(path))
                assert len(texts) == len(bad) == len(reasons) == batch.num_rows
            except InputError as error:
                assert "column 'text' holds" in error.message and "not text" in error.message
    _load_labelled(path)


def _load_labelled(path: Path) -> None:
    try:
        data = load_labelled(path, ColumnOptions(text_column="text", labels_column="labels"))
    except InputError as error:
        assert str(path) in error.message and "\n" not in error.message
        return
    assert all(isinstance(t, str) and t.strip() for t in data.texts)
    assert all(labels and all(isinstance(x, str) and x for x in labels) for labels in data.labels)


csv_cells = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", '"', '""', "a\nb", "x,y", "\x00", "['cs.LG', 'cs.CV']", "[1, 2]", "[[[", "1e999"]),
)


@FUZZ
@given(
    header=st.lists(
        st.sampled_from(["text", "labels", "id"]) | st.text(min_size=1, max_size=6), min_size=1, max_size=4
    ),
    rows=st.lists(st.lists(csv_cells, min_size=0, max_size=5), max_size=20),
    encoding=st.sampled_from(["utf-8", "utf-8", "latin-1", "utf-16"]),
)
@example(
    header=["text", "text", "labels"], rows=[["", "", ""]], encoding="utf-8"
)  # a repeated column name (found by CI)
def test_csv_of_any_shape(tmp_path, header, rows, encoding):
    """Ragged rows, quotes, embedded newlines and NULs, other encodings: rows or an InputError naming the file."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    path = _write(tmp_path, ".csv", buffer.getvalue().encode(encoding, "replace"))
    _read_all(path, block_bytes=128)
    _load_labelled(path)


@FUZZ
@given(st.one_of(json_values, st.text(max_size=200), st.binary(max_size=20), st.sets(st.text(max_size=3), max_size=3)))
def test_label_cells_of_any_shape(value):
    """A cell is a list of distinct, stripped, non-empty strings, or a ValueError with the reason; never eval'd."""
    try:
        labels = parse_label_cell(value)
    except ValueError as error:
        assert str(error)
        return
    assert all(isinstance(label, str) and label and label == label.strip() for label in labels)
    assert len(set(labels)) == len(labels)


@FUZZ
@given(st.lists(st.one_of(json_values, st.text(alphabet=string.printable, max_size=30)), max_size=10))
def test_label_column_errors_name_file_row_and_field(values):
    try:
        parse_label_column(values, source="data.csv", column="terms")
    except InputError as error:
        assert error.message.startswith("data.csv: row ") and "'terms'" in error.message


def test_literal_that_would_run_code_is_never_evaluated():
    with pytest.raises(ValueError):
        parse_label_cell("[__import__('os').system('touch /tmp/mlc-pwned')]")
    assert not Path("/tmp/mlc-pwned").exists()


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 100_000])
def test_deeply_nested_jsonl_is_refused_not_a_crash(tmp_path, depth):
    """pyarrow's JSON parser crashed the process on this line (SIGSEGV); it is now an error naming the line."""
    path = tmp_path / "deep.jsonl"
    path.write_text('{"text": "fine"}\n{"text": "x", "labels": ' + "[" * depth + "]" * depth + "}\n")
    with pytest.raises(InputError, match=r"deep.jsonl: line 2: JSON nested deeper than"):
        list(read_batches(path))


def test_nesting_within_the_limit_is_read(tmp_path):
    path = tmp_path / "nested.jsonl"
    depth = MAX_JSON_DEPTH - 1
    path.write_text('{"text": "x", "meta": ' + "[" * depth + "]" * depth + ', "s": "' + "[" * 200 + '"}\n')
    assert sum(b.num_rows for b in read_batches(path)) == 1


def test_huge_field_is_read_whole(tmp_path):
    text = "word " * 2_000_000  # a 10 MB abstract, bigger than a read block
    path = tmp_path / "huge.jsonl"
    path.write_text(json.dumps({"text": text, "labels": ["cs.LG"]}) + "\n")
    batches = list(read_batches(path, ReadOptions(block_bytes=1 << 16)))
    assert batches[0].column("text")[0].as_py() == text


@FUZZ
@given(
    names=st.lists(
        st.lists(
            st.sampled_from(list("ab./\\-_ ~$*?\n\u00e9") + ["..", ".csv", ".jsonl.gz", "../"]), min_size=1, max_size=12
        ).map(lambda parts: "".join(parts) + ".csv"),
        min_size=1,
        max_size=4,
        unique=True,
    ),
    fmt=st.sampled_from([None, "parquet", "csv", "jsonl"]),
)
def test_outputs_never_escape_out_dir(tmp_path, names, fmt):
    """Whatever the input names (.., slashes, globs, newlines), every output is a direct child of --out-dir."""
    from mlc.pipeline.file_plan import plan_jobs

    out_dir = tmp_path / "out"
    try:
        jobs = plan_jobs(names, None, out_dir, fmt)
    except InputError as error:  # two inputs with one output name, or a name with no format ("a/.csv")
        assert "would both write" in error.message or "cannot tell the format" in error.message
        return
    for job in jobs:
        target = Path(job.target)
        assert target.parent == out_dir and target.name not in ("", ".", "..")
        assert Path(os.path.normpath(target)).parent == out_dir
