"""Read the weights of an mlc `model.keras` without building Keras objects from it.

Prediction needs the vectorizer's vocabulary and IDF weights and the Dense kernels, nothing else. Building the
Keras model to get them costs ~530 MB of transient memory at a 63k vocabulary (a random initial kernel, the
loaded copy, the variable), which alone broke the 1.5 GB budget of batch-predict. Here the archive's
`config.json` is checked against the one architecture `mlc train` writes: an InputLayer, one TextVectorization
in `tf_idf` mode, Dense layers with known activations, and nothing else. Any other class (a `Lambda`, a
custom layer) is refused, so no code from the file can run. Weights are then read with h5py.

`keras.saving.load_model(path, safe_mode=True)` still opens the same file; a test checks both give the same
probabilities.
"""
from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlc.models.errors import ModelError
from mlc.models.features import KERAS_STANDARDIZE, SPLIT_PUNCTUATION, standardize_name
from mlc.models.scaling import CLASS_NAME as SCALING, REGISTERED_NAME as SCALING_NAME, Scaling

ACTIVATIONS = ("relu", "sigmoid", "linear", "tanh", "softmax")
VECTORIZER_KEYS = ("standardize", "split", "ngrams", "output_mode")
STANDARDIZE = (*KERAS_STANDARDIZE, SPLIT_PUNCTUATION)


@dataclass
class DenseWeights:
    kernel: np.ndarray
    bias: np.ndarray
    activation: str


@dataclass
class ModelWeights:
    """What prediction needs from a model: the vectorizer's settings, vocabulary and IDF, and the Dense stack."""

    vectorizer: dict[str, Any]  # standardize, split, ngrams
    vocabulary: list[str]
    idf: np.ndarray
    dense: list[DenseWeights]
    scaling: Scaling | None = None  # the model's TfIdfScaling layer, if it has one (models before it have none)

    @property
    def n_outputs(self) -> int:
        return int(self.dense[-1].kernel.shape[1])


def weights_from_model(model: Any) -> ModelWeights:
    """The same, from an in-memory Keras model (right after training)."""
    from mlc.models.backend import tf_keras
    from mlc.models.features import vectorizer_state

    _, keras = tf_keras()
    vectorizers = [l for l in model.layers if isinstance(l, keras.layers.TextVectorization)]
    dense = [l for l in model.layers if isinstance(l, keras.layers.Dense)]
    dropout = [l for l in model.layers if isinstance(l, keras.layers.Dropout)]  # identity at inference
    scaling = [l for l in model.layers if type(l).__name__ == SCALING]
    if len(vectorizers) != 1 or not dense or len(scaling) > 1 or len(model.layers) != 2 + len(dense) + len(dropout) + len(scaling):
        raise ModelError("model is not an mlc model (expected one TextVectorization layer followed by Dense layers)")
    config = vectorizers[0].get_config()
    vocabulary, idf = vectorizer_state(vectorizers[0])
    return ModelWeights(
        vectorizer=_vectorizer_settings(config),
        vocabulary=vocabulary,
        idf=idf,
        dense=[DenseWeights(l.kernel.numpy(), l.bias.numpy(), _activation_name(l.get_config()["activation"])) for l in dense],
        scaling=Scaling(scaling[0].sublinear, scaling[0].normalize) if scaling else None,
    )


def check_archive(path: Path) -> None:
    """A quick look without reading the weights (for `mlc info`): the file is a whole zip archive holding an mlc
    architecture and a weights file. Truncation loses the zip's central directory, so it shows here."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: missing")
    try:
        with zipfile.ZipFile(path) as archive:
            _check_architecture(path, json.loads(archive.read("config.json")))
            if "model.weights.h5" not in archive.namelist():
                raise ModelError(f"{path}: no model.weights.h5 in the archive")
    except ModelError:
        raise
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, UnicodeDecodeError) as error:
        raise ModelError(f"{path}: cannot read the model: {' '.join(str(error).split())[:300]}") from error


def read_archive(path: Path) -> ModelWeights:
    """Weights of `path` (a model.keras file), after checking its architecture is mlc's; ModelError otherwise."""
    import h5py

    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
            layers = _check_architecture(path, config)
            vocabulary_files = sorted(n for n in archive.namelist() if re.fullmatch(r"assets/layers/[^/]+/_lookup_layer/vocabulary\.txt", n))
            if len(vocabulary_files) != 1:
                raise ModelError(f"{path}: expected one vectorizer vocabulary in the archive, found {len(vocabulary_files)}")
            vocabulary = _vocabulary_lines(archive.read(vocabulary_files[0]).decode("utf-8"))
            _check_weights_size(path, archive.getinfo("model.weights.h5"), layers, len(vocabulary))
            # Read whole, then parsed from memory: h5py seeking inside a zip member stream took 1.5 s for a 131 MB
            # file (75k vocabulary), this 0.2 s; the bytes are dropped once the arrays are copied out.
            with h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r") as weights:
                model = _weights(path, layers, vocabulary, weights)
            model.scaling = _scaling(config)
            return model
    except ModelError:
        raise
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, UnicodeDecodeError) as error:
        raise ModelError(f"{path}: cannot read the model: {' '.join(str(error).split())[:300]}") from error


# Per parameter the weights file may hold the value and two optimiser moments, in float64 at worst, plus HDF5's
# own structures: generous for any model Keras writes, and still refuses a small architecture whose weights
# member claims gigabytes (it is read whole into memory, below).
BYTES_PER_PARAMETER = 3 * 8
HDF5_OVERHEAD = 2**20


def _check_weights_size(path: Path, info: zipfile.ZipInfo, layers: list[dict[str, Any]], vocabulary_size: int) -> None:
    """The weights member's declared size (zipfile never reads past it) against what the architecture can need."""
    parameters, width = vocabulary_size, vocabulary_size  # IDF weights, then the first kernel's inputs
    for layer in layers[2:]:
        units = layer["config"].get("units")
        if not isinstance(units, int) or isinstance(units, bool) or units < 1:
            raise ModelError(f"{path}: layer '{layer['config'].get('name')}' has units {units!r}, not a positive whole number")
        parameters += width * units + units
        width = units
    limit = parameters * BYTES_PER_PARAMETER + HDF5_OVERHEAD
    if info.file_size > limit:
        raise ModelError(
            f"{path}: model.weights.h5 is {info.file_size:,} bytes, more than its architecture's {parameters:,} "
            f"parameters can need ({limit:,}); refusing to read it"
        )


def _check_architecture(path: Path, config: Any) -> list[dict[str, Any]]:
    try:
        assert config["class_name"] == "Functional"
        layers = config["config"]["layers"]
        kinds = [layer["class_name"] for layer in layers]
    except (AssertionError, KeyError, TypeError) as error:
        raise ModelError(f"{path}: not a Keras functional model written by mlc") from error
    for layer in layers:
        if layer.get("class_name") == SCALING and layer.get("registered_name") == SCALING_NAME:
            continue  # mlc's own layer, by its registered name (its place is checked below); never loaded, reimplemented
        if layer.get("module") != "keras.layers" or layer.get("registered_name") not in (None, layer["class_name"]):
            raise ModelError(f"{path}: layer '{layer.get('name')}' is a {layer.get('module')}.{layer['class_name']}; mlc loads only its own Keras layers")
    body = kinds[3:] if kinds[2:3] == [SCALING] else kinds[2:]
    if kinds[:2] != ["InputLayer", "TextVectorization"] or "Dense" not in body or not set(body) <= {"Dense", "Dropout"}:
        raise ModelError(f"{path}: layers {kinds} are not mlc's (InputLayer, TextVectorization, [TfIdfScaling], Dense/Dropout...); refusing to load")
    vectorizer = layers[1]["config"]
    if vectorizer.get("output_mode") != "tf_idf" or standardize_name(vectorizer.get("standardize")) not in STANDARDIZE or vectorizer.get("split") not in ("whitespace", "character", None):
        raise ModelError(f"{path}: vectorizer settings {({k: vectorizer.get(k) for k in VECTORIZER_KEYS})} are not mlc's")
    for layer in layers[2:]:
        if layer["class_name"] == "Dense":
            _activation_name(layer["config"].get("activation"), path)
        if layer["class_name"] == SCALING:
            config = layer.get("config") or {}
            if not all(isinstance(config.get(key), bool) for key in ("sublinear", "normalize")):
                raise ModelError(f"{path}: layer '{config.get('name')}' has no boolean sublinear/normalize settings")
    # Dropout: identity at inference; TfIdfScaling: read by `_scaling`
    return [*layers[:2], *(layer for layer in layers[2:] if layer["class_name"] == "Dense")]


def _scaling(config: Any) -> Scaling | None:
    layers = config["config"]["layers"]
    if layers[2]["class_name"] != SCALING:
        return None
    return Scaling(layers[2]["config"]["sublinear"], layers[2]["config"]["normalize"])


def _weights(path: Path, layers: list[dict[str, Any]], vocabulary: list[str], weights: Any) -> ModelWeights:
    groups = weights["layers"]
    vectorizers = [name for name in groups if "_lookup_layer" in groups[name] and "idf_weights" in groups[name]["_lookup_layer"]["vars"]]
    # Keras names weight groups by class in layer order: dense, dense_1, dense_2, ...
    dense_groups = sorted((name for name in groups if re.fullmatch(r"dense(_\d+)?", name)), key=lambda n: int(n.rpartition("_")[2]) if "_" in n else 0)
    if len(vectorizers) != 1 or len(dense_groups) != len(layers) - 2:
        raise ModelError(f"{path}: weight groups {sorted(groups)} do not match its layers")
    idf = np.asarray(groups[vectorizers[0]]["_lookup_layer"]["vars"]["idf_weights"][()], dtype=np.float32)
    if len(idf) < len(vocabulary):
        raise ModelError(f"{path}: {len(vocabulary)} vocabulary entries but {len(idf)} IDF weights")
    dense = []
    width = len(vocabulary)
    for layer, name in zip(layers[2:], dense_groups):
        variables = groups[name]["vars"]
        kernel = np.asarray(variables["0"][()], dtype=np.float32)
        bias = np.asarray(variables["1"][()], dtype=np.float32) if "1" in variables else np.zeros(kernel.shape[1], np.float32)
        if kernel.ndim != 2 or kernel.shape[0] != width or bias.shape != (kernel.shape[1],):
            raise ModelError(f"{path}: layer '{layer['config'].get('name')}' has a {kernel.shape} kernel where {width} inputs were expected")
        dense.append(DenseWeights(kernel, bias, _activation_name(layer["config"].get("activation"), path)))
        width = kernel.shape[1]
    settings = layers[1]["config"]
    return ModelWeights(
        vectorizer=_vectorizer_settings(settings),
        vocabulary=vocabulary,
        idf=idf[: len(vocabulary)],
        dense=dense,
    )


def _vectorizer_settings(config: dict[str, Any]) -> dict[str, Any]:
    """The settings the prediction path reads; `standardize` by name, whether the config holds mlc's function
    itself (a model in memory) or its serialized reference (a model file)."""
    settings = {key: config.get(key) for key in VECTORIZER_KEYS}
    settings["standardize"] = standardize_name(settings["standardize"])
    return settings


def _vocabulary_lines(text: str) -> list[str]:
    """Exactly as Keras's IndexLookup.load_assets reads vocabulary.txt (splitlines, trailing blanks dropped)."""
    lines = text.splitlines()
    while lines and lines[-1] == "":
        lines.pop()
    return lines


def _activation_name(activation: Any, path: Path | None = None) -> str:
    name = activation if isinstance(activation, str) else getattr(activation, "__name__", repr(activation))
    if name not in ACTIVATIONS:
        where = f"{path}: " if path else ""
        raise ModelError(f"{where}activation {name!r} is not one mlc uses ({', '.join(ACTIVATIONS)})")
    return name
