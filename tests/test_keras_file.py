"""model.keras: written from numpy weights, read back as data with the same weights as Keras's own loader, and
nothing but mlc's architecture accepted."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from mlc.models.errors import ModelError
from mlc.models.keras_file import load_keras_model, read_keras_file
from mlc.models.model import Model

from helpers import assert_one_line_error

pytestmark = pytest.mark.slow


def test_weights_read_as_data_equal_keras_loaded_weights(model_dir):
    from mlc.models.tf_backend.internals import vectorizer_state
    from mlc.models.tf_backend.runtime import tf_keras

    _, keras = tf_keras()
    ours = read_keras_file(model_dir / "model.keras")
    loaded = load_keras_model(model_dir / "model.keras")
    vectorizer = next(layer for layer in loaded.layers if isinstance(layer, keras.layers.TextVectorization))
    vocabulary, idf = vectorizer_state(vectorizer)
    assert ours.vocabulary == vocabulary
    np.testing.assert_array_equal(ours.idf, idf)
    assert ours.vectorizer["max_tokens"] == vectorizer.get_config()["max_tokens"]
    assert [d.activation for d in ours.dense] == ["relu", "relu", "sigmoid"]
    dense = [layer.get_weights() for layer in loaded.layers if isinstance(layer, keras.layers.Dense)]
    for a, (kernel, bias) in zip(ours.dense, dense, strict=True):
        np.testing.assert_array_equal(a.kernel, kernel)
        np.testing.assert_array_equal(a.bias, bias)


def test_a_model_saved_and_loaded_again_is_the_same_model(model_dir, tmp_path):
    model = Model.load(model_dir)
    again = Model.load(model.save(tmp_path / "again"))
    assert again.labels == model.labels and again.metadata == model.metadata
    assert again.weights.vocabulary == model.weights.vocabulary and again.weights.scaling == model.weights.scaling
    for a, b in zip(again.weights.dense, model.weights.dense, strict=True):
        np.testing.assert_array_equal(a.kernel, b.kernel)


def test_mlc_writes_the_archive_keras_writes(model_dir, tmp_path):
    """mlc saves unzipped, writes the kernels with h5py and zips; Keras's own `.save` of the same model gives the same
    members in the same order and the same weights under the same names."""
    import h5py

    from mlc.models.keras_file import write_keras_file

    ours, theirs = tmp_path / "ours.keras", tmp_path / "theirs.keras"
    write_keras_file(Model.load(model_dir).weights, ours)
    load_keras_model(model_dir / "model.keras").save(theirs)

    def weights(path: Path) -> dict:
        found = {}
        with zipfile.ZipFile(path) as archive, h5py.File(archive.open("model.weights.h5"), "r") as h5:
            h5.visititems(lambda name, item: found.update({name: item[()]} if isinstance(item, h5py.Dataset) else {}))
            h5.visititems(lambda name, item: found.update({f"{name}@": dict(item.attrs)}))
        return found

    with zipfile.ZipFile(ours) as a, zipfile.ZipFile(theirs) as b:
        assert a.namelist() == b.namelist()
        # the same architecture; Keras numbers shared objects by their memory address, which differs run to run
        assert _without_object_ids(json.loads(a.read("config.json"))) == _without_object_ids(
            json.loads(b.read("config.json"))
        )
    mine, keras_own = weights(ours), weights(theirs)
    assert mine.keys() == keras_own.keys()
    for name, value in keras_own.items():
        if isinstance(value, dict) and "_lookup_layer" in name:
            assert mine[name].keys() == value.keys(), name  # the inner lookup is named by a per-process counter
        elif isinstance(value, dict):
            assert mine[name] == value, name
        else:
            np.testing.assert_array_equal(mine[name], value, err_msg=name)


def test_a_model_written_to_a_relative_path_is_whole(model_dir, tmp_path, monkeypatch):
    """Keras's unzipped save keeps a relative path's assets (the vocabulary) in a temporary directory of its own."""
    monkeypatch.chdir(tmp_path)
    model = Model.load(model_dir)
    again = Model.load(model.save(Path("relative") / "model"))
    assert again.weights.vocabulary == model.weights.vocabulary and again.labels == model.labels


def _without_object_ids(config):
    if isinstance(config, dict):
        return {k: _without_object_ids(v) for k, v in config.items() if k != "shared_object_id"}
    if isinstance(config, list):
        return [_without_object_ids(v) for v in config]
    return config


def lambda_model_dir(model_dir: Path, target: Path, marker: Path) -> Path:
    """A copy of a real model directory whose model.keras carries a Lambda layer that writes `marker` if run."""
    from mlc.models.tf_backend.runtime import tf_keras

    tf, keras = tf_keras()
    shutil.copytree(model_dir, target)
    original = load_keras_model(model_dir / "model.keras")
    texts = keras.Input(shape=(), dtype="string")
    hidden = original.layers[1](texts)
    path = str(marker)
    hidden = keras.layers.Lambda(lambda x: (open(path, "w").write("ran"), x)[1])(hidden)
    for layer in original.layers[2:]:
        hidden = layer(hidden)
    keras.Model(texts, hidden).save(target / "model.keras")
    marker.unlink(missing_ok=True)  # building the model ran the function once; loading must not
    return target


def test_lambda_layer_is_refused_and_never_runs(model_dir, tmp_path, cli):
    marker = tmp_path / "code-ran"
    hostile = lambda_model_dir(model_dir, tmp_path / "hostile", marker)
    with pytest.raises(ModelError, match="Lambda"):
        read_keras_file(hostile / "model.keras")
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"text": "deep learning for images"}) + "\n")
    result = cli("batch-predict", source, "--model-dir", hostile, "-o", tmp_path / "out.jsonl")
    assert_one_line_error(result, 4, "Lambda", "model.keras")
    assert not marker.exists()
    assert not (tmp_path / "out.jsonl").exists()


@pytest.mark.parametrize("damage", ["truncate", "no-config", "no-weights"])
def test_damaged_archive_is_a_model_error(model_dir, tmp_path, damage):
    target = tmp_path / "model.keras"
    if damage == "truncate":
        target.write_bytes((model_dir / "model.keras").read_bytes()[:5000])
    else:
        skip = "config.json" if damage == "no-config" else "model.weights.h5"
        with zipfile.ZipFile(model_dir / "model.keras") as src, zipfile.ZipFile(target, "w") as dst:
            for item in src.infolist():
                if item.filename != skip:
                    dst.writestr(item, src.read(item))
    with pytest.raises(ModelError, match="model.keras"):
        read_keras_file(target)


def test_dropout_model_loads_and_matches_keras(tmp_path, labelled_csv, cli):
    """A model trained with Dropout (identity at inference) is saved without it and scores as Keras's loader does."""
    from mlc.models.tf_backend.runtime import tf_keras
    from mlc.pipeline.readers import read_table

    target = tmp_path / "dropout"
    result = cli(
        "train",
        "--data",
        labelled_csv,
        "--model-dir",
        target,
        "--dropout",
        "0.5",
        "--weight-decay",
        "0.01",
        "--epochs",
        "2",
        "--threshold-folds",
        "0",
        "--linear-share",
        "0",
        "--quiet",
    )
    assert result.code == 0, result.stderr
    config = json.loads(zipfile.ZipFile(target / "model.keras").read("config.json"))
    assert "Dropout" not in [layer["class_name"] for layer in config["config"]["layers"]]
    tf, _ = tf_keras()
    texts = read_table(labelled_csv).column("summaries").to_pylist()[:100]
    dense = load_keras_model(target / "model.keras").predict(tf.constant(texts), verbose=0)
    np.testing.assert_allclose(Model.load(target).scores(texts), dense, atol=1e-5)
    assert json.loads((target / "metadata.json").read_text())["hyperparameters"]["dropout"] == 0.5


def _rewrite_config(source, target, change) -> None:
    """Copy model.keras with its config.json changed by `change(config)`."""
    import json

    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "config.json":
                config = json.loads(data)
                change(config)
                data = json.dumps(config).encode()
            dst.writestr(item, data)


@pytest.mark.parametrize(
    "change, fragment",
    [
        (lambda c: c["config"]["layers"][-1].update(class_name="EvilDense"), "EvilDense"),
        (lambda c: c["config"]["layers"][-1].update(module="evil.layers"), "evil.layers"),
        # mlc's own scaling layer: only under its registered name, only right after the vectorizer, only bools
        (lambda c: c["config"]["layers"][2].update(registered_name="evil>TfIdfScaling"), "mlc loads only its own"),
        (lambda c: c["config"]["layers"].insert(4, c["config"]["layers"][2]), "refusing"),
        (lambda c: c["config"]["layers"][2]["config"].update(sublinear="yes"), "sublinear"),
    ],
    ids=["unknown-class", "foreign-module", "scaling-wrong-name", "scaling-wrong-place", "scaling-bad-setting"],
)
def test_unknown_classes_and_modules_are_refused(model_dir, tmp_path, change, fragment):
    target = tmp_path / "model.keras"
    _rewrite_config(model_dir / "model.keras", target, change)
    with pytest.raises(ModelError, match=fragment):
        read_keras_file(target)


def _shrink_first_layer(config) -> None:
    dense = [layer for layer in config["config"]["layers"] if layer["class_name"] == "Dense"]
    dense[0]["config"]["units"] = 1  # the real kernel is vocabulary x 512: far more bytes than 1 unit needs


@pytest.mark.parametrize(
    "change, fragment",
    [
        (_shrink_first_layer, "more than its architecture"),
        (lambda c: c["config"]["layers"][-1]["config"].update(units="16"), "not a positive whole number"),
    ],
    ids=["oversized-weights", "units-not-a-number"],
)
def test_weights_member_larger_than_the_architecture_is_refused_unread(model_dir, tmp_path, change, fragment):
    """model.weights.h5 is read whole into memory, so its declared size is checked against the architecture first
    (a small config with a huge weights member would otherwise allocate whatever the member claims)."""
    target = tmp_path / "model.keras"
    _rewrite_config(model_dir / "model.keras", target, change)
    with pytest.raises(ModelError, match=fragment):
        read_keras_file(target)


def test_label_count_must_match_the_output_layer(model_dir, tmp_path, cli):
    import json
    import shutil

    from helpers import assert_one_line_error

    broken = tmp_path / "model"
    shutil.copytree(model_dir, broken)
    labels = json.loads((broken / "labels.json").read_text())
    (broken / "labels.json").write_text(json.dumps(labels + ["extra.label"]))
    assert_one_line_error(
        cli("batch-predict", "-", "--model-dir", broken, "-o", tmp_path / "o.jsonl", stdin=b'{"text": "x"}\n'),
        4,
        "outputs",
        "labels",
    )
    metadata = json.loads((model_dir / "metadata.json").read_text())
    (broken / "labels.json").write_text(json.dumps(labels))
    (broken / "metadata.json").write_text(json.dumps({**metadata, "schema_version": 99}))
    assert_one_line_error(cli("info", broken), 4, "schema_version")


def test_plain_keras_load_after_importing_mlc_layers(model_dir, tmp_path):
    """What the README tells users: `import mlc.models.tf_backend.keras_layers`, then Keras's own safe-mode loader,
    in a fresh interpreter."""
    import subprocess
    import sys

    script = (
        "import os; os.environ['KERAS_BACKEND'] = 'tensorflow'\n"
        "import mlc.models.tf_backend.keras_layers, keras\n"
        f"model = keras.saving.load_model({str(model_dir / 'model.keras')!r}, safe_mode=True)\n"
        "print(model.layers[2].__class__.__name__, model.predict(keras.ops.convert_to_tensor(['deep nets']), "
        "verbose=0).shape)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1].startswith("TfIdfScaling (1, ")


def test_weights_read_from_a_file_are_read_only_and_copied_by_the_scorer(model_dir):
    """A model read from disk goes into TensorFlow's own memory whatever alignment malloc gave its arrays, the same
    way every run: the scorer shares only the writeable aligned arrays training makes."""
    from mlc.models.model import Model
    from mlc.models.tf_backend.runtime import tensor_view
    from mlc.models.tf_backend.scorer import TfScorer

    for _ in range(4):
        weights = Model.load(model_dir).weights
        assert not any(d.kernel.flags.writeable or d.bias.flags.writeable for d in weights.dense)
        held = {tensor_view(kernel).ctypes.data for kernel, _, _ in TfScorer(weights).weights}
        assert not held & {d.kernel.ctypes.data for d in weights.dense}
