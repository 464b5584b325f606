"""`mlc train` end to end: the model directory, its metadata, and the saved model as Keras runs it."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from mlc.models.keras_file import load_keras_model
from mlc.models.model import Model
from mlc.pipeline.readers import read_table

from helpers import assert_one_line_error

pytestmark = pytest.mark.slow


def test_model_directory_is_complete(model_dir):
    names = {p.name for p in model_dir.iterdir()}
    assert {"model.keras", "labels.json", "metadata.json", "history.csv", "training_curves.png"} <= names
    assert not [n for n in names if n.endswith(".tmp")]
    metadata = json.loads((model_dir / "metadata.json").read_text())
    assert metadata["steps"]["rows_read"] == 800
    assert len(metadata["data"]["sha256"]) == 64
    assert metadata["hyperparameters"]["max_tokens"] > 200  # the made-up corpus has a few hundred words
    test = metadata["metrics"]["test"]
    assert 0.5 < test["binary_accuracy"] <= 1.0 and 0.0 < test["micro_f1"] <= 1.0
    assert {"tensorflow", "keras", "python"} <= set(metadata["versions"])
    assert metadata["threshold_folds"] == 0 and metadata["threshold_tuning"].startswith("tuned on ")
    assert 0.05 <= metadata["threshold"] <= 0.95
    assert set(metadata["thresholds"]) <= set(json.loads((model_dir / "labels.json").read_text()))
    assert set(metadata["metrics"]["test_at_0.5"]) == {"micro_f1", "macro_f1", "subset_accuracy"}
    assert (model_dir / "training_curves.png").read_bytes()[:4] == b"\x89PNG"


def test_reloaded_model_gives_the_same_probabilities(model_dir, labelled_csv):
    """The safe-mode reload of model.keras, run as saved (dense TF-IDF), equals the sparse fast path."""
    from mlc.models.tf_backend.runtime import tf_keras

    tf, keras = tf_keras()
    texts = read_table(labelled_csv).column("summaries").to_pylist()[:200]
    model = Model.load(model_dir)
    dense = load_keras_model(model_dir / "model.keras").predict(tf.constant(texts), verbose=0)
    sparse = model.scores(texts)
    assert dense.shape == (200, len(model.labels))
    np.testing.assert_allclose(sparse, dense, atol=1e-5)
    assert dense.max() > 0.5  # the model is not flat


def test_defaults_reach_their_quality_on_the_real_abstracts(tmp_path, shared_abstracts_csv, cli):
    """A floor well under the figures in BENCHMARKS.md (P@1 0.93, micro-F1 0.76 over 30 folds): the held-out
    split here is ~34 rows, so this guards against a broken model, not a point of quality."""
    target = tmp_path / "real"
    assert cli("train", "--data", shared_abstracts_csv, "--model-dir", target, "--quiet").code == 0
    metadata = json.loads((target / "metadata.json").read_text())
    test = metadata["metrics"]["test"]
    assert test["precision@1"] >= 0.75 and test["micro_f1"] >= 0.6, test
    # 800 rows: a validation split of ~30 rows, so the thresholds are also tuned on cross-fitted training rows
    assert metadata["threshold_folds"] == 5
    assert "out-of-fold scores of" in metadata["threshold_tuning"]


def test_train_on_real_data_in_another_schema(tmp_path, shared_metadata_jsonl, cli):
    target = tmp_path / "meta"
    result = cli(
        "train",
        "--data",
        shared_metadata_jsonl,
        "--model-dir",
        target,
        "--text-column",
        "abstract",
        "--labels-column",
        "categories",
        "--label-sep",
        " ",
        "--epochs",
        "2",
        "--threshold-folds",
        "0",
        "--quiet",
    )
    assert result.code == 0, result.stderr
    labels = json.loads((target / "labels.json").read_text())
    assert any(label.startswith(("math.", "hep-", "astro-ph")) for label in labels)
    info = cli("info", target, "--json")
    assert json.loads(info.stdout)["data"]["columns"]["labels"] == "categories"


def test_example_settings_model_has_no_scaling_and_matches_keras(tmp_path, labelled_csv, cli):
    """`--example-settings` trains the example's exact model (raw TF-IDF, no mlc layer); both kinds of model
    give the dense Keras model's probabilities through the sparse path."""
    import zipfile

    from mlc.models.tf_backend.runtime import tf_keras

    tf, _ = tf_keras()
    target = tmp_path / "example"
    result = cli(
        "train",
        "--data",
        labelled_csv,
        "--model-dir",
        target,
        "--example-settings",
        "--lr-schedule",
        "cosine",
        "--epochs",
        "2",
        "--threshold-folds",
        "0",
        "--quiet",
    )
    assert result.code == 0, result.stderr
    kinds = [
        layer["class_name"]
        for layer in json.loads(zipfile.ZipFile(target / "model.keras").read("config.json"))["config"]["layers"]
    ]
    assert kinds == ["InputLayer", "TextVectorization", "Dense", "Dense", "Dense"]
    hyper = json.loads((target / "metadata.json").read_text())["hyperparameters"]
    assert (hyper["learning_rate"], hyper["dropout"], hyper["sublinear_tf"], hyper["normalize"]) == (
        1e-3,
        0.0,
        False,
        False,
    )
    assert hyper["lr_schedule"] == "cosine"  # options given beside --example-settings still apply
    assert hyper["linear_share"] == 0.0  # the example's MLP alone: its own widths
    assert [d.kernel.shape[1] for d in Model.load(target).weights.dense][:2] == [512, 256]
    metadata = json.loads((target / "metadata.json").read_text())
    assert metadata["threshold_folds"] == 0 and metadata["threshold_tuning"].endswith(": 37 validation rows")
    texts = read_table(labelled_csv).column("summaries").to_pylist()[:100]
    model = Model.load(target)
    assert model.weights.scaling is None
    dense = load_keras_model(target / "model.keras").predict(tf.constant(texts), verbose=0)
    np.testing.assert_allclose(model.scores(texts), dense, atol=1e-5)


def test_default_model_holds_the_scaling_layer(model_dir):
    import zipfile

    layers = json.loads(zipfile.ZipFile(model_dir / "model.keras").read("config.json"))["config"]["layers"]
    assert layers[2]["registered_name"] == "mlc>TfIdfScaling"
    assert (layers[2]["config"]["sublinear"], layers[2]["config"]["normalize"]) == (True, True)
    assert Model.load(model_dir).weights.scaling is not None


def test_default_model_folds_the_logistic_head_into_its_layers_at_the_chosen_share(model_dir):
    """By default the head's share is chosen from SHARES on the tuning rows: one more unit per label in each
    hidden layer, still three Dense layers, and the output layer weighs the head's units by the share recorded."""
    from mlc.models.tf_backend.logistic_head import SHARES

    model = Model.load(model_dir)
    metadata = json.loads((model_dir / "metadata.json").read_text())
    hyper = metadata["hyperparameters"]
    assert hyper["linear_share"] in SHARES and hyper["linear_c"] == 100.0
    assert metadata["linear_share_choice"].startswith("the highest tuned micro-F1 on the tuning rows of 0.25: ")
    n = len(model.labels)
    assert [(d.kernel.shape[1], d.activation) for d in model.weights.dense] == [
        (512 + n, "relu"),
        (256 + n, "relu"),
        (n, "sigmoid"),
    ]
    np.testing.assert_allclose(model.weights.dense[-1].kernel[-n:], hyper["linear_share"] * np.eye(n), atol=1e-6)


def test_unknown_lr_schedule_is_refused_before_any_work(tmp_path, labelled_csv, cli):
    refused = cli("train", "--data", labelled_csv, "--model-dir", tmp_path / "no", "--lr-schedule", "step")
    assert refused.code == 2 and "constant or cosine" in refused.stderr
    assert not (tmp_path / "no").exists()
    one_fold = cli("train", "--data", labelled_csv, "--model-dir", tmp_path / "no", "--threshold-folds", "1")
    assert one_fold.code == 2 and "at least 2 folds" in one_fold.stderr
    assert not (tmp_path / "no").exists()
    share = cli("train", "--data", labelled_csv, "--model-dir", tmp_path / "no", "--linear-share", "1.5")
    assert share.code == 2 and "--linear-share" in share.stderr
    assert not (tmp_path / "no").exists()


def test_mlc_train_in_python_and_on_the_command_line_make_the_same_model(labelled_csv, tmp_path, cli):
    import mlc

    fitted = mlc.train(labelled_csv, tmp_path / "python", epochs=2, seed=5, threshold_folds=0)
    shell = cli(
        "train", "--data", labelled_csv, "--model-dir", tmp_path / "cli", "--epochs", "2", "--seed", "5",
        "--threshold-folds", "0",
    )  # fmt: skip
    assert shell.code == 0, shell.stderr
    # without a terminal, each step is logged once done, with its time: no phase of a long run is silent
    logged = [line.split("] ", 1)[1] for line in shell.stderr.splitlines() if line.startswith("[")]
    assert [re.sub(r"[\d,.]+", "N", line.split(":")[0].split(" /")[0]) for line in logged] == [
        "reading the data", "splitting N rows", "vocabulary of N training rows", "TF-IDF rows (N n-grams)",
        "network", "logistic head", "thresholds", "scoring the N test rows", "writing",
    ]  # fmt: skip
    assert (
        all(re.search(r": done in [\d.]+s$", line) for line in logged) and f"writing {tmp_path / 'cli'}" in logged[-1]
    )
    python, command_line = (json.loads((tmp_path / d / "metadata.json").read_text()) for d in ("python", "cli"))
    assert python.keys() == command_line.keys() and python["label_shares"] == command_line["label_shares"]
    assert python["label_shares"] and python["data"]["sha256"] == command_line["data"]["sha256"]
    for ours, theirs in zip(Model.load(tmp_path / "python").weights.dense, Model.load(tmp_path / "cli").weights.dense):
        np.testing.assert_allclose(ours.kernel, theirs.kernel, atol=1e-6)
    assert fitted.id == Model.load(tmp_path / "python").id
    # a model fitted from lists in Python records its label shares too, so drift is checked for it
    table = read_table(labelled_csv)
    texts, terms = table.column("summaries").to_pylist(), table.column("terms").to_pylist()
    labels = [[t.strip(" '") for t in row.strip("[]").split(",")] for row in terms]
    config = mlc.models.train_config.TrainConfig(epochs=1)
    model = Model.fit(texts[:600], labels[:600], texts[600:], labels[600:], config, threshold_folds=0)
    model.save(tmp_path / "from-lists")
    assert json.loads((tmp_path / "from-lists" / "metadata.json").read_text())["label_shares"]


def test_training_texts_without_words_are_one_line_naming_the_file_and_column(cli, tmp_path):
    data = tmp_path / "punctuation.csv"
    rows = [f'title {i},"!!! ... ?",\'["{"ab"[i % 2]}"]\'' for i in range(60)]
    data.write_text("titles,summaries,terms\n" + "\n".join(rows) + "\n")
    result = cli("train", "--data", data, "--model-dir", tmp_path / "model", "--quiet")
    assert_one_line_error(result, 3, str(data), "'summaries'", "no training text holds a word")
    assert not (tmp_path / "model").exists()
