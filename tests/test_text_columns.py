"""Several text columns (`--text-column titles,summaries`): joined per row, remembered by the model, used again by
batch-predict and enqueue."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlc.models.errors import InputError
from mlc.pipeline.batch_predict import PredictOptions, batch_predict
from mlc.pipeline.columns import joined_text, optional_column, text_columns


def test_columns_are_resolved_and_joined_skipping_nulls():
    names = ["Title", "Abstract", "n"]
    assert text_columns(names, "title, abstract", source="f") == ["Title", "Abstract"]
    assert text_columns(names, None, source="f", preferred=["Title", "Abstract"]) == ["Title", "Abstract"]
    assert text_columns(names, None, source="f", preferred=["titles", "Abstract"]) == ["Abstract"]  # not all present
    with pytest.raises(InputError, match="no text column 'body'"):
        text_columns(names, "title,body", source="f")
    for requested, preferred in (("abstract", None), (None, None), (None, ["abstract"])):  # which one was meant?
        with pytest.raises(InputError, match="f: column 'abstract' appears 2 times in the header"):
            text_columns(["abstract", "id", "abstract"], requested, source="f", preferred=preferred)
    with pytest.raises(InputError, match="column 'id' appears 2 times"):
        optional_column(["id", "abstract", "id"], None, ["id"], source="f")
    title = pa.array(["A title", None, None, "T"])
    abstract = pa.array(["an abstract", "only abstract", None, ""])
    empty = pa.nulls(4)  # a column with no value at all is text that is missing
    joined = joined_text([title, abstract, empty], ["Title", "Abstract", "n"], "f").to_pylist()
    assert joined == ["A title an abstract ", " only abstract ", None, "T  "]
    for values, kind in (([1, 2, None, 4], "int64"), ([{"a": 1}] * 4, "struct")):  # only strings are text
        with pytest.raises(InputError, match=f"f: column 'x' holds {kind}.*, not text"):
            joined_text([title, pa.array(values)], ["Title", "x"], "f")


@pytest.mark.slow
def test_train_on_titles_and_abstracts_then_predict_with_the_same_columns(cli, labelled_csv, tmp_path):
    model = tmp_path / "model"
    trained = cli(
        "train",
        "--data",
        labelled_csv,
        "--model-dir",
        model,
        "--text-column",
        "titles,summaries",
        "--epochs",
        "2",
        "--threshold-folds",
        "0",
        "--quiet",
    )
    assert trained.code == 0, trained.stderr
    assert json.loads((model / "metadata.json").read_text())["data"]["columns"]["text"] == ["titles", "summaries"]
    default = cli("batch-predict", labelled_csv, "--model-dir", model, "-o", tmp_path / "default.parquet")
    assert default.code == 0, default.stderr
    assert "text column 'titles' + 'summaries'" in default.stderr
    # The model's columns by default, the same columns named, and the abstract alone: through the pipeline in this
    # process (the command line passes --text-column through as it is).
    for name, columns in (("auto", None), ("explicit", "titles,summaries"), ("abstract", "summaries")):
        options = PredictOptions(text_column=columns)
        batch_predict([str(labelled_csv)], model, output=str(tmp_path / f"{name}.parquet"), options=options)
    cli_run, a, b, c = (pq.read_table(tmp_path / f"{n}.parquet") for n in ("default", "auto", "explicit", "abstract"))
    for other in (cli_run, b):  # the same labels; scores to float rounding (other batch shapes, other thread counts)
        assert other.column("label_1").equals(a.column("label_1"))
        np.testing.assert_allclose(other.column("score_1").to_numpy(), a.column("score_1").to_numpy(), atol=1e-5)
    assert not a.column("score_1").equals(c.column("score_1"))  # the title really is part of the input


@pytest.mark.slow
@pytest.mark.redis
def test_enqueue_joins_the_text_columns(cli, labelled_csv, redis_server):
    result = cli(
        "enqueue", labelled_csv, "--redis-url", redis_server.url, "--text-column", "titles,summaries", "--quiet"
    )
    assert result.code == 0, result.stderr
    ((_, first),) = redis_server.client().xrange("mlc:abstracts", count=1)
    import pandas as pd

    row = pd.read_csv(labelled_csv).iloc[0]
    assert first["text"] == f"{row['titles']} {row['summaries']}"
    assert "titles" not in first and "summaries" not in first and first["terms"] == row["terms"]
