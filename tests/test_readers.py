from __future__ import annotations

import gzip
import json

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from mlc.models.errors import InputError
from mlc.pipeline.readers import ReadOptions, detect_format, read_batches, read_table


def test_real_csv_reads_every_row_with_multiline_text(shared_abstracts_csv):
    table = read_table(shared_abstracts_csv)
    assert table.num_rows == 800
    assert table.column_names == ["titles", "summaries", "terms"]
    assert all(isinstance(t, str) and "\n" in t for t in table.column("summaries").to_pylist()[:5])


def test_csv_small_blocks_keep_every_row_and_text_types(labelled_csv):
    batches = list(read_batches(labelled_csv, ReadOptions(block_bytes=64 << 10)))
    assert len(batches) > 5
    assert sum(b.num_rows for b in batches) == 800
    assert all(b.schema.field("titles").type == pa.string() for b in batches)


def test_real_jsonl_and_gzip_variants_agree(shared_metadata_jsonl, tmp_path):
    plain = read_table(shared_metadata_jsonl)
    assert plain.num_rows == 1500
    zipped = tmp_path / "meta.jsonl.gz"
    zipped.write_bytes(gzip.compress(shared_metadata_jsonl.read_bytes()))
    assert read_table(zipped).column("abstract").to_pylist() == plain.column("abstract").to_pylist()


def test_jsonl_blocks_may_disagree_on_types(tmp_path):
    path = tmp_path / "mixed.jsonl"
    rows = [{"id": 1, "text": "a"}] * 3 + [{"id": "x-2", "text": "b", "extra": [1, 2]}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    table = read_table(path)
    assert table.num_rows == 4
    assert table.column("text").to_pylist() == ["a", "a", "a", "b"]


def test_parquet_round_trip(labelled_csv, tmp_path):
    target = tmp_path / "abstracts.parquet"
    pq.write_table(read_table(labelled_csv), target, row_group_size=100)
    batches = list(read_batches(target, ReadOptions(parquet_batch_rows=128)))
    assert sum(b.num_rows for b in batches) == 800 and len(batches) >= 7


@pytest.mark.parametrize(
    ("name", "content", "fragment"),
    [
        ("empty.csv", b"", "file is empty"),
        ("bad.jsonl", b'{"text": "a"}\n[1, 2]\n', "line 2: expected a JSON object"),
        ("broken.jsonl", b'{"text": "a"}\n{"text": \n', "line 2: invalid JSON"),
        ("latin1.jsonl", b'{"text": "a"}\n{"text": "caf\xe9"}\n', "line 2"),
        ("truncated.parquet", b"PAR1\x00\x00garbage", "unreadable Parquet"),
        ("data.xlsx", b"whatever", "cannot tell the format"),
    ],
)
def test_malformed_files_are_input_errors_naming_the_file(tmp_path, name, content, fragment):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError) as error:
        list(read_batches(path))
    assert str(path) in str(error.value) and fragment in str(error.value)


def test_invalid_utf8_csv_is_an_input_error(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(b"id,text\n1,hello\n2,caf\xe9 au lait\n")
    with pytest.raises(InputError) as error:
        list(read_batches(path))
    assert str(path) in str(error.value) and "UTF8" in str(error.value).replace("-", "")


def test_missing_file_and_format_override(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        list(read_batches(tmp_path / "nope.csv"))
    path = tmp_path / "rows.txt"
    pacsv.write_csv(pa.table({"text": ["x", "y"]}), path)
    assert detect_format(path, "csv") == "csv"
    assert read_table(path, ReadOptions(input_format="csv")).num_rows == 2


def test_uri_inputs_read_like_paths(labelled_csv, other_schema_jsonl, tmp_path):
    """Any filesystem pyarrow knows (s3://, gs://, hdfs://) goes through the same readers; file:// is the one
    these offline machines can check."""
    packed = tmp_path / "meta.jsonl.gz"
    packed.write_bytes(gzip.compress(other_schema_jsonl.read_bytes()))
    parquet = tmp_path / "abstracts.parquet"
    pq.write_table(read_table(labelled_csv), parquet)
    for local in (labelled_csv, other_schema_jsonl, packed, parquet):
        assert read_table(local.resolve().as_uri()).equals(read_table(local))
    with pytest.raises(InputError, match="no such file"):
        list(read_batches((tmp_path / "absent.csv").as_uri()))
