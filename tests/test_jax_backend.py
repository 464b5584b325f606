"""The JAX backend against the TensorFlow one: the TensorFlow-free vectoriser gives the saved Keras model's TF-IDF
rows, the JAX scorer its top-k, scores, labels and explanations; and the prediction commands run with TensorFlow
hidden from the import system."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from helpers import assert_one_line_error

pytest.importorskip("jax", reason="the jax backend needs JAX: pip install 'mlc[jax]'")

HOSTILE = [
    "",
    "   \t\n\v\f\r ",
    "!!! ... ??? --- ''' ```",
    "Deep-Learning; IMAGE (segmentation) graph-based/learning",
    "deep deep deep deep learning learning",
    "Émile Noël naïve résumé αβγ 数学 DEEP learning ÀÉÎ",
    "deep\u00a0learning\u2028image\u3000graph\x85x",  # spaces Unicode has, ASCII does not: no split there
    "tab\tsep\x0bvertical\x0cfeed\rreturn",
    "emoji 😀 between 😀😀 words",
    "nul\x00byte and \x1f unit separator",
    "under_score back\\slash [brackets] {braces} @at #hash",
    "word " * 3000,  # long
    "x",
]


def _saved_keras_rows(model_dir: Path, texts: list[str]) -> np.ndarray:
    """The TF-IDF rows (dense) of the saved model.keras: its own TextVectorization and TfIdfScaling layers."""
    import mlc.models.tf_backend.keras_layers  # noqa: F401  registers mlc's layer for the safe-mode loader
    from mlc.models.tf_backend.runtime import tf_keras

    tf, keras = tf_keras()
    saved = keras.saving.load_model(model_dir / "model.keras", safe_mode=True)
    vectorize = next(layer for layer in saved.layers if isinstance(layer, keras.layers.TextVectorization))
    rows = vectorize(tf.constant(texts))
    scaling = next((layer for layer in saved.layers if type(layer).__name__ == "TfIdfScaling"), None)
    return (scaling(rows) if scaling is not None else rows).numpy()


def _vectorised_rows(model_dir: Path, texts: list[str]) -> np.ndarray:
    from mlc.models.model import Model
    from mlc.models.vectorizer import NgramVectorizer

    weights = Model.load(model_dir).weights
    rows = NgramVectorizer(weights.vectorizer, weights.vocabulary, weights.idf, weights.scaling)(texts)
    dense = np.zeros((rows.n_rows, len(weights.vocabulary)), dtype=np.float32)
    dense[np.repeat(np.arange(rows.n_rows), rows.row_lengths), rows.columns] = rows.values
    return dense


def _texts(path: Path, column: str, n: int) -> list[str]:
    import pandas as pd

    return pd.read_csv(path)[column].astype(str).tolist()[:n]


def test_vectoriser_gives_the_saved_keras_layers_rows(model_dir, labelled_csv):
    texts = _texts(labelled_csv, "summaries", 300) + HOSTILE
    expected = _saved_keras_rows(model_dir, texts)
    found = _vectorised_rows(model_dir, texts)
    np.testing.assert_allclose(found, expected, rtol=1e-5, atol=1e-6)
    assert np.array_equal(found != 0, expected != 0)  # the same n-grams, not only close values
    assert not found[-len(HOSTILE) :][:3].any()  # empty, only spaces, only punctuation: no n-grams at all


def test_first_layer_by_column_blocks_is_the_rows_product(model_dir, labelled_csv):
    """The CPU's first layer, summed block by block in column order, is the rows' product with the kernel for any
    block size, the last block short or not, and leaves the padding rows zero."""
    from mlc.models.jax_backend.scorer import first_layer_by_columns
    from mlc.models.model import Model
    from mlc.models.vectorizer import NgramVectorizer

    texts = _texts(labelled_csv, "summaries", 100) + HOSTILE
    weights = Model.load(model_dir).weights
    sparse = NgramVectorizer(weights.vectorizer, weights.vocabulary, weights.idf, weights.scaling)(texts)
    rows, kernel = _vectorised_rows(model_dir, texts), weights.dense[0].kernel
    for block_rows in (1, 7, len(texts), 0):
        out = np.zeros((len(texts) + 5, kernel.shape[1]), dtype=np.float32)
        first_layer_by_columns(sparse, kernel, out, block_rows)
        np.testing.assert_allclose(out[: len(texts)], rows @ kernel, rtol=1e-5, atol=1e-5)
        assert not out[len(texts) :].any()


@pytest.fixture(scope="module")
def real_model_dir(tmp_path_factory, shared_abstracts_csv) -> Path:
    """A model of the real rows: their vocabulary, not the test corpus's."""
    from conftest import train_small

    return train_small(shared_abstracts_csv, tmp_path_factory.mktemp("real") / "model")


def test_vectoriser_on_the_real_rows(real_model_dir, shared_abstracts_csv):
    texts = _texts(shared_abstracts_csv, "summaries", 800)
    np.testing.assert_allclose(
        _vectorised_rows(real_model_dir, texts), _saved_keras_rows(real_model_dir, texts), rtol=1e-5, atol=1e-6
    )


def _assert_same_predictions(model_dir: Path, texts: list[str]) -> None:
    import mlc

    tf_model, jax_model = mlc.load(model_dir), mlc.load(model_dir, backend="jax")
    assert jax_model.scorer.device() in ("CPU", "GPU x1") or jax_model.scorer.device().startswith("GPU")
    for explain in (0, 5):
        a, b = tf_model.predict_batch(texts, 3, explain=explain), jax_model.predict_batch(texts, 3, explain=explain)
        np.testing.assert_array_equal(a.indices, b.indices)
        np.testing.assert_allclose(a.scores, b.scores, atol=1e-5)
        np.testing.assert_array_equal(a.above, b.above)
        if explain:
            np.testing.assert_array_equal(a.terms, b.terms)
            np.testing.assert_allclose(a.term_weights, b.term_weights, atol=1e-5)
    np.testing.assert_allclose(tf_model.scores(texts), jax_model.scores(texts), atol=1e-5)
    for ours, theirs in zip(tf_model.predict(texts), jax_model.predict(texts)):
        assert ours.labels == theirs.labels and [label for label, _ in ours.top] == [label for label, _ in theirs.top]
        np.testing.assert_allclose([s for _, s in ours.top], [s for _, s in theirs.top], atol=1e-5)
    assert tf_model.explain(texts[:20]) == jax_model.explain(texts[:20])
    ours = [[(e.label, e.terms, e.against) for e in row] for row in tf_model.explain_labels(texts[:20], n=4)]
    theirs = [[(e.label, e.terms, e.against) for e in row] for row in jax_model.explain_labels(texts[:20], n=4)]
    assert ours == theirs


def test_jax_scorer_equals_tensorflow(model_dir, labelled_csv):
    _assert_same_predictions(model_dir, _texts(labelled_csv, "summaries", 400) + HOSTILE)


def test_jax_scorer_equals_tensorflow_on_the_real_rows(real_model_dir, shared_abstracts_csv):
    _assert_same_predictions(real_model_dir, _texts(shared_abstracts_csv, "summaries", 800))


def test_empty_batches_and_padding():
    from mlc.models.jax_backend.scorer import MIN_PADDED, padded_size

    sizes = [padded_size(n) for n in range(1, 20_000, 7)]
    assert all(size >= n for size, n in zip(sizes, range(1, 20_000, 7)))
    assert all(size <= max(1.25 * n + 8, MIN_PADDED) for size, n in zip(sizes, range(1, 20_000, 7)))
    assert len(set(sizes)) < 40  # few compiled shapes


def test_batch_predict_backends_write_the_same_rows(cli, model_dir, labelled_csv, tmp_path):
    outputs = {}
    for backend in ("tensorflow", "jax"):
        target = tmp_path / f"{backend}.parquet"
        result = cli(
            "batch-predict", labelled_csv, "-m", model_dir, "-o", target, "--backend", backend, "--explain", "3"
        )
        assert result.code == 0, result.stderr
        outputs[backend] = pq.read_table(target)
    a, b = outputs["tensorflow"], outputs["jax"]
    assert a.schema == b.schema and a.num_rows == b.num_rows == 800
    for name in a.column_names:
        if name.startswith("score") or name == "why":
            continue
        assert a.column(name).equals(b.column(name)), name
    for name in (n for n in a.column_names if n.startswith("score")):
        np.testing.assert_allclose(a.column(name).to_numpy(), b.column(name).to_numpy(), atol=1e-5)
    terms = lambda table: [[[t["term"] for t in label] for label in row] for row in table.column("why").to_pylist()]  # noqa: E731
    assert terms(a) == terms(b)


def test_mlc_backend_variable_and_unknown_names(cli, model_dir, tmp_path):
    result = cli("explain", "deep networks for images", "-m", model_dir, "--backend", "torch")
    assert_one_line_error(result, 2, "unknown backend 'torch'", "tensorflow, jax")
    proc = subprocess.run(
        [sys.executable, "-m", "mlc.cli.app", "explain", "deep networks for images", "-m", str(model_dir), "--json"],
        capture_output=True,
        env={**os.environ, "MLC_BACKEND": "jax"},
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)[0]["labels"]


# A child interpreter in which TensorFlow and Keras cannot be imported; every attempt is written to a file.
HIDDEN = textwrap.dedent(
    """
    import importlib.abc, sys
    attempts, sys.argv = sys.argv[1], ["mlc", *sys.argv[2:]]
    class Hidden(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("tensorflow", "keras", "tf_keras"):
                with open(attempts, "a") as log:
                    log.write(name + "\\n")
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None
    sys.meta_path.insert(0, Hidden())
    from mlc.cli.app import main
    main()
    """
)


def _without_tensorflow(
    tmp_path: Path, *args: str, stdin: str | None = None
) -> tuple[subprocess.CompletedProcess, str]:
    attempts = tmp_path / "tensorflow-imports.log"
    attempts.write_text("")
    proc = subprocess.run(
        [sys.executable, "-c", HIDDEN, str(attempts), *map(str, args)],
        capture_output=True,
        text=True,
        input=stdin,
        env={**os.environ, "COLUMNS": "200"},
        timeout=300,
    )
    return proc, attempts.read_text()


def test_prediction_commands_run_without_tensorflow(model_dir, labelled_csv, tmp_path):
    out = tmp_path / "tags.parquet"
    proc, attempts = _without_tensorflow(
        tmp_path, "batch-predict", labelled_csv, "-m", model_dir, "-o", out, "--backend", "jax"
    )
    assert proc.returncode == 0, proc.stderr
    assert attempts == "" and pq.read_table(out).num_rows == 800
    proc, attempts = _without_tensorflow(
        tmp_path, "explain", "-", "-m", model_dir, "--backend", "jax", "--json", stdin="graph networks\n"
    )
    assert proc.returncode == 0 and attempts == "", proc.stderr
    assert json.loads(proc.stdout)[0]["labels"]
    proc, attempts = _without_tensorflow(tmp_path, "evaluate", labelled_csv, "-m", model_dir, "--backend", "jax")
    assert proc.returncode == 0 and attempts == "", proc.stderr
    assert "micro" in proc.stdout.lower()


def test_train_and_the_default_backend_say_which_extra_they_need(model_dir, labelled_csv, tmp_path):
    proc, _ = _without_tensorflow(tmp_path, "train", "--data", labelled_csv, "--model-dir", tmp_path / "m")
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("mlc: error: training needs tensorflow") and "mlc[tensorflow]" in lines[0]
    assert not (tmp_path / "m").exists()
    proc, _ = _without_tensorflow(
        tmp_path, "batch-predict", labelled_csv, "-m", model_dir, "-o", tmp_path / "x.parquet"
    )
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert "the tensorflow backend needs tensorflow" in lines[0] and "mlc[tensorflow]" in lines[0]
    assert not (tmp_path / "x.parquet").exists()


@pytest.mark.redis
def test_consume_with_the_jax_backend_without_tensorflow(model_dir, redis_server, tmp_path):
    import redis

    client = redis.Redis.from_url(redis_server.url)
    texts = ["deep networks for image segmentation", "spectral graph theory", "robot motion planning"] * 20
    for i, text in enumerate(texts):
        client.xadd("mlc:abstracts", {"text": text, "id": str(i)})
    proc, attempts = _without_tensorflow(
        tmp_path, "consume", "--redis-url", redis_server.url, "-m", model_dir, "--drain", "--backend", "jax"
    )
    assert proc.returncode == 0 and attempts == "", proc.stderr
    results = client.xrange("mlc:tags")
    assert len(results) == len(texts)
    import mlc

    expected = mlc.load(model_dir).predict(texts)
    for (_, fields), want in zip(results, expected):
        got = json.loads(fields[b"labels"]) if fields[b"labels"].startswith(b"[") else fields[b"labels"].decode()
        assert got == want.labels or got == ",".join(want.labels)


def test_predict_table_with_the_jax_backend(model_dir):
    import mlc

    table = pa.table({"id": ["a", "b", "c"], "abstract": ["deep image networks", "", "graph theory of groups"]})
    a = mlc.load(model_dir).predict_table(table)
    b = mlc.load(model_dir, backend="jax").predict_table(table)
    assert a.column("labels").equals(b.column("labels")) and a.column("error").equals(b.column("error"))
