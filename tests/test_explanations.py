"""Explanations: the `why` column, `mlc explain`, `model.explain`, and what a weight is."""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import replace

import numpy as np
import pyarrow.parquet as pq
import pytest

import mlc
from mlc.models.errors import InputError
from mlc.models.features import STRIP_PUNCTUATION
from mlc.models.model import Model
from mlc.models.tf_backend.logistic_head import folded_weights
from mlc.models.weights import DenseWeights
from mlc.pipeline.batch_predict import PredictOptions, batch_predict
from mlc.pipeline.readers import read_table

from helpers import assert_one_line_error

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model(model_dir) -> Model:
    return mlc.load(model_dir)


@pytest.fixture(scope="module")
def texts(labelled_csv) -> list[str]:
    return read_table(labelled_csv).column("summaries").to_pylist()[:60]


def _tokens(text: str) -> list[str]:
    """mlc's default standardize and split: lower case, punctuation to spaces."""
    return re.sub(STRIP_PUNCTUATION, " ", text.lower()).split()


def _hand_tf_idf(model: Model, text: str) -> dict[int, float]:
    """TF-IDF of one text as mlc's default model computes it: split punctuation, uni- and bigrams, idf * (1 + log
    count), the row scaled to unit length with its out-of-vocabulary n-grams counted in the norm (column 0)."""
    tokens = _tokens(text)
    grams = Counter(tokens + [f"{a} {b}" for a, b in zip(tokens, tokens[1:])])
    column = {term: i for i, term in enumerate(model.vocabulary)}
    idf = model.weights.idf
    values: dict[int, float] = {}
    oov = sum(count for gram, count in grams.items() if gram not in column)
    for gram, count in grams.items():
        if gram in column:
            values[column[gram]] = idf[column[gram]] * (1 + math.log(count))
    oov_value = idf[0] * (1 + math.log(oov)) if oov else 0.0
    norm = math.sqrt(sum(v * v for v in values.values()) + oov_value**2)
    return {c: v / norm for c, v in {**values, 0: oov_value}.items()}


def test_the_logistic_heads_weights_are_value_times_coefficient(model):
    """A model whose output is the logistic head alone (share 1): each term's weight is its TF-IDF value times the
    head's coefficient for that label, computed here by hand."""
    rng = np.random.default_rng(0)
    vocabulary_size, n_labels = len(model.vocabulary), len(model.labels)
    kernel = rng.normal(0, 1, (vocabulary_size, n_labels)).astype(np.float32)
    bias = rng.normal(0, 1, n_labels).astype(np.float32)
    dense = [(d.kernel, d.bias) for d in model.weights.dense]
    layers = folded_weights(dense, kernel, bias, share=1.0)
    activations = ("relu", "relu", "sigmoid")
    weights = replace(model.weights, dense=[DenseWeights(k, b, a) for (k, b), a in zip(layers, activations)])
    head_only = Model(weights, model.labels, model.metadata)
    text = " ".join(model.vocabulary[1:40:3]) + ", and " + " ".join(model.vocabulary[2:12:2]) + " zzqx"
    x = _hand_tf_idf(model, text)
    [[top_label, _]] = head_only.predict(text, k=1)[0].top
    j = model.labels.index(top_label)
    expected = sorted(((model.vocabulary[c], v * kernel[c, j]) for c, v in x.items() if c), key=lambda p: -p[1])
    expected = [(term, round(w, 4)) for term, w in expected if round(w, 4) > 0][:8]
    [[got]] = head_only.explain(text, k=1, n=8)
    assert [t["term"] for t in got] == [term for term, _ in expected]
    assert [t["weight"] for t in got] == pytest.approx([float(w) for _, w in expected], abs=2e-4)
    assert len(got) == 8
    # the weights and the bias add up to the logit: the explanation is the whole of this model's score
    every = head_only.explain_labels(text, k=1, n=len(x))[0][0]
    total = sum(w for _, w in every.terms) + sum(w for _, w in every.against) + x[0] * kernel[0, j] + bias[j]
    assert total == pytest.approx(math.log(every.score / (1 - every.score)), abs=1e-2)


def _terms(why: list) -> list:
    """A `why` column as (term, float32 weight) tuples: the formats' float text differs, the float32 does not."""
    return [[[(t["term"], float(np.float32(t["weight"]))) for t in label] for label in row] for row in why]


def test_why_is_the_same_in_every_format_and_in_python(model_dir, model, labelled_csv, tmp_path, cli):
    outputs = {fmt: tmp_path / f"out.{fmt}" for fmt in ("parquet", "jsonl", "csv")}
    result = cli("batch-predict", labelled_csv, "-m", model_dir, "-o", outputs["parquet"], "--explain", "4", "--quiet")
    assert result.code == 0, result.stderr
    for fmt in ("jsonl", "csv"):  # the same pipeline in this process: each writer's form of `why`
        batch_predict([str(labelled_csv)], model_dir, output=str(outputs[fmt]), options=PredictOptions(explain=4))
    parquet = pq.read_table(outputs["parquet"]).column("why").to_pylist()
    jsonl = [json.loads(line)["why"] for line in outputs["jsonl"].read_text().splitlines()]
    csv = [json.loads(cell) for cell in read_table(outputs["csv"]).column("why").to_pylist()]
    for other in (jsonl, csv):
        assert _terms(other) == _terms(parquet)
    texts = read_table(labelled_csv).column("summaries").to_pylist()
    python = model.explain(texts, k=3, n=4)
    assert _terms(python) == _terms(parquet)
    assert sum(len(label) for row in parquet for label in row) > len(parquet) * 3 * 3  # nearly every label explained
    table = model.predict_table(read_table(labelled_csv), explain=4)
    assert table.column("why").to_pylist() == parquet
    # each row's explanations follow its label_1..label_k order: a term list per label, weights largest first
    first = pq.read_table(outputs["parquet"]).slice(0, 50).to_pylist()
    for row in first:
        assert len(row["why"]) == 3
        for label in row["why"]:
            assert [t["weight"] for t in label] == sorted((t["weight"] for t in label), reverse=True)
            assert all(t["weight"] > 0 and t["term"] in model.vocabulary for t in label)


def test_top_terms_raise_the_score_more_than_others(model, texts):
    """Removing the words of a text's 3 explained terms for its top label lowers that label's score more than
    removing as many other words of the text, picked at random (bench/explain.py measures this on held-out rows)."""
    rng = np.random.default_rng(1)
    drops_top, drops_random = [], []
    for text in texts[:30]:
        [explained] = model.explain(text, k=1, n=3)[0]
        (label, score), index = model.predict(text, k=1)[0].top[0], None
        index = model.labels.index(label)
        tokens = _tokens(text)
        explained_words = {word for term in explained for word in term["term"].split()}
        kept = [t for t in tokens if t not in explained_words]
        others = [i for i, t in enumerate(tokens) if t not in explained_words]
        removed = set(rng.choice(others, size=min(len(tokens) - len(kept), len(others)), replace=False).tolist())
        at_random = [t for i, t in enumerate(tokens) if i not in removed]
        after = model.scores([" ".join(kept), " ".join(at_random)])[:, index]
        drops_top.append(score - after[0])
        drops_random.append(score - after[1])
    assert np.mean(drops_top) > 2 * np.mean(drops_random)
    assert np.mean(np.array(drops_top) > np.array(drops_random)) >= 0.8


def test_out_of_vocabulary_and_empty_texts_give_empty_explanations(model, model_dir, tmp_path, cli):
    explained = model.explain(["zzqx wwvq", "", "   "], k=2, n=3)
    assert explained == [[[], []], [], []]
    source = tmp_path / "odd.jsonl"
    source.write_text('{"text": "zzqx wwvq"}\n{"text": ""}\n{"text": null}\n')
    target = tmp_path / "odd.parquet"
    assert cli("batch-predict", source, "-m", model_dir, "-o", target, "--explain", "2", "--quiet").code == 0
    assert pq.read_table(target).column("why").to_pylist() == [[[], [], []], [], []]


def test_explain_must_be_at_least_one(model, model_dir, labelled_csv, tmp_path, cli):
    for value in ("0", "-1"):
        result = cli("batch-predict", labelled_csv, "-m", model_dir, "-o", tmp_path / "x.parquet", "--explain", value)
        assert result.code == 2 and "--explain" in result.stderr
        assert not (tmp_path / "x.parquet").exists()
    with pytest.raises(InputError, match="at least 1"):
        model.explain("deep nets", n=0)
    assert_one_line_error(cli("explain", "text", "-m", tmp_path / "absent"), 4, "absent")


def test_mlc_explain_prints_tables_and_json(model, model_dir, texts, cli):
    shown = cli("explain", texts[0], "zzqx", "-m", model_dir, "--top-k", "2", "-n", "3")
    assert shown.code == 0, shown.stderr
    top = model.predict(texts[0], k=2)[0].top
    assert all(label in shown.stdout for label, _ in top)
    assert "for: n-gram" in shown.stdout and "against: n-gram" in shown.stdout
    assert "no n-gram of the text is in the vocabulary" in shown.stdout
    as_json = cli(
        "explain", "-", "-m", model_dir, "--json", "-n", "3", stdin=(texts[0] + "\n\n" + texts[1] + "\n").encode()
    )
    assert as_json.code == 0, as_json.stderr
    report = json.loads(as_json.stdout)
    assert [r["text"] for r in report] == texts[:2]
    first = report[0]["labels"]
    assert [label["label"] for label in first] == [label for label, _ in model.predict(texts[0], k=3)[0].top]
    assert [t["term"] for t in first[0]["terms"]] == [t["term"] for t in model.explain(texts[0], k=1, n=3)[0][0]]
    assert all(t["weight"] < 0 for label in first for t in label["against"])


@pytest.mark.parametrize(
    ("stdin", "args", "fragments"),
    [
        (b"", ["-"], ["-: no text on standard input"]),
        (b"\n   \n", ["-"], ["-: no text on standard input"]),
        (b"deep networks\n\xff\xfe segmentation\n", ["-"], ["-: line 2: not valid UTF-8"]),
        (None, ["deep networks", " "], ["text 2: empty text"]),
    ],
)
def test_mlc_explain_refuses_unusual_input_in_one_line(model_dir, cli, stdin, args, fragments):
    assert_one_line_error(cli("explain", *args, "-m", model_dir, stdin=stdin), 3, *fragments)


def test_the_python_api_takes_no_texts_and_refuses_undecodable_ones(model):
    assert model.explain([]) == [] and model.explain_labels([]) == [] and model.predict([]) == []
    undecodable = b"deep \xff networks".decode("utf-8", "surrogateescape")
    for method in (model.predict, model.explain, model.explain_labels):
        with pytest.raises(InputError, match="text 0 is not valid UTF-8"):
            method([undecodable])
