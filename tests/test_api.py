"""The Python API: `import mlc` starts no TensorFlow, and a loaded model tags exactly as batch-predict does."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import mlc
from mlc.models.errors import InputError

TEXTS = ["Deep convolutional networks for image segmentation.", "", "Spectral graph theory and random walks."]


def test_import_mlc_does_not_import_tensorflow():
    code = "import sys, mlc; m = mlc.load; print('tensorflow' in sys.modules, 'keras' in sys.modules, mlc.__version__)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    tensorflow, keras, version = result.stdout.split()
    assert (tensorflow, keras) == ("False", "False")
    assert version == mlc.__version__ != "0+unknown"


@pytest.mark.slow
def test_predict_gives_top_k_pairs_and_the_labels_over_the_thresholds(model_dir):
    model = mlc.load(model_dir)
    results = model.predict(TEXTS, k=3)
    scores = model.scores(TEXTS)
    assert len(results) == 3 and results[1].top == [] and results[1].labels == []  # no text, no tags
    for row in (0, 2):
        order = np.argsort(-scores[row], kind="stable")[:3]
        assert [label for label, _ in results[row].top] == [model.labels[j] for j in order]
        np.testing.assert_allclose([s for _, s in results[row].top], scores[row, order], atol=1e-6)
        assert results[row].labels == [model.labels[j] for j in np.flatnonzero(scores[row] >= model.thresholds())]
    assert model.predict(TEXTS[0], k=1)[0].top[0][0] == results[0].top[0][0]  # one string is one text
    assert all(label in model.labels for label, _ in model.predict(TEXTS[0], k=100)[0].top)
    with pytest.raises(InputError, match="at least 1"):
        model.predict(TEXTS, k=0)
    with pytest.raises(InputError, match="not a string"):
        model.predict(["ok", 3])


@pytest.mark.slow
def test_predict_table_equals_batch_predict(model_dir, tmp_path, cli):
    """The same rows through `model.predict_table` and through `mlc batch-predict`: the same columns and values."""
    table = pa.table({"id": ["a", "b", "c", "d"], "abstract": [TEXTS[0], None, TEXTS[2], "   "]})
    source = tmp_path / "in.parquet"
    pq.write_table(table, source)
    result = cli("batch-predict", source, "--model-dir", model_dir, "-o", tmp_path / "out.parquet", "--quiet")
    assert result.code == 0, result.stderr
    written = pq.read_table(tmp_path / "out.parquet")
    model = mlc.load(model_dir)
    assert model.predict_table(table).equals(written)
    assert (
        model.predict_table(table.to_pandas()).cast(written.schema).equals(written)
    )  # pandas 3 strings are large_string
    assert model.predict_table(table, text_column="abstract", k=1).column_names == [
        "id",
        "label_1",
        "score_1",
        "labels",
        "error",
    ]
