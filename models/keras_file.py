"""`model.keras`: written from numpy weights, and read back as numpy weights without building Keras objects.
Reading checks the archive's `config.json` against the one architecture mlc writes before h5py reads a weight,
so no code from the file can run; `load_keras_model` gives the Keras object itself, in safe mode."""

from __future__ import annotations

import json
import re
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from mlc.models.errors import ModelError
from mlc.models.features import KERAS_STANDARDIZE, SPLIT_PUNCTUATION, standardize_name
from mlc.models.scaling import CLASS_NAME as SCALING
from mlc.models.scaling import REGISTERED_NAME as SCALING_NAME
from mlc.models.scaling import Scaling
from mlc.models.tf_backend.internals import IDF_VARIABLE, LOOKUP_GROUP, VOCABULARY_ASSET
from mlc.models.weights import ACTIVATIONS, DenseWeights, ModelWeights
from mlc.models.zip_member import open_member

VECTORIZER_KEYS = ("standardize", "split", "ngrams", "output_mode", "max_tokens")
STANDARDIZE = (*KERAS_STANDARDIZE, SPLIT_PUNCTUATION)
# Per parameter the weights member may hold the value and two optimiser moments, in float64 at worst, plus
# HDF5's own structures: generous for any model Keras writes, and still refuses a member that claims gigabytes.
BYTES_PER_PARAMETER = 3 * 8
HDF5_OVERHEAD = 2**20
KERAS_MEMBERS = ("metadata.json", "config.json", "model.weights.h5")  # in the order Keras writes them


def write_keras_file(weights: ModelWeights, path: Path) -> None:
    """Build the end-to-end Keras model (raw strings in, probabilities out) from `weights` and save it."""
    from mlc.models.tf_backend.runtime import tf_keras
    from mlc.models.tf_backend.scaling_ops import make_layer
    from mlc.models.tf_backend.tfidf import keras_standardize

    _, keras = tf_keras()
    settings = weights.vectorizer
    vectorizer = keras.layers.TextVectorization(
        max_tokens=settings.get("max_tokens") or len(weights.vocabulary),
        ngrams=settings["ngrams"],
        output_mode="tf_idf",
        standardize=keras_standardize(settings["standardize"]),
        split=settings["split"],
        name="vectorizer",
    )
    vectorizer.set_vocabulary(weights.vocabulary, weights.idf)
    texts = keras.Input(shape=(), dtype="string", name="text")
    hidden = vectorizer(texts)
    if weights.scaling is not None and weights.scaling.active:
        hidden = make_layer(weights.idf, weights.scaling)(hidden)
    kernels = {}
    for i, dense in enumerate(weights.dense):
        name = "probabilities" if i == len(weights.dense) - 1 else f"dense_{i}"
        layer = keras.layers.Dense(dense.kernel.shape[1], activation=dense.activation, name=name)
        layer.add_weight = _kernel_of_no_rows(layer.add_weight)
        hidden = layer(hidden)
        layer.save_own_variables = _bias_only(dense.bias)
        kernels[name] = dense.kernel
    model = keras.Model(texts, hidden, name="mlc_end_to_end")
    # Saved unzipped, then zipped member by member: Keras zips through a weights file assembled in memory
    with tempfile.TemporaryDirectory(dir=Path(path).parent, prefix=".unzipped-") as unzipped:
        members = Path(unzipped).resolve() / "model"  # absolute: Keras puts a relative path's assets in a temp dir
        model.save(members, zipped=False)
        _write_kernels(members / "model.weights.h5", kernels)
        zip_directory(members, Path(path))


def _kernel_of_no_rows(add_weight: Any) -> Any:
    """A Dense layer's `add_weight` that gives its kernel no rows: the file's kernels are written from the weights
    themselves (`_write_kernels`), and a full-size variable would be one more first layer in memory."""

    def add(*args: Any, name: str | None = None, shape: Any = None, **kwargs: Any) -> Any:
        if name == "kernel":
            shape = (0, *tuple(shape)[1:])
        return add_weight(*args, name=name, shape=shape, **kwargs)

    return add


def _bias_only(bias: np.ndarray) -> Any:
    def save_own_variables(store: Any) -> None:
        store["1"] = bias  # also makes the layer's group, where `_write_kernels` finds it by the layer's name

    return save_own_variables


def _write_kernels(weights_file: Path, kernels: dict[str, np.ndarray]) -> None:
    """Each Dense kernel as weight "0" of its layer's group, written by h5py from the array itself: Keras's writer
    first copies every weight into a new numpy array, one more first-layer kernel in memory while saving."""
    import h5py

    left = dict(kernels)
    with h5py.File(weights_file, "a") as h5:
        for group in h5["layers"].values():
            variables = group.get("vars")
            name = variables.attrs.get("name") if variables is not None else None
            if name in left:
                variables.create_dataset("0", data=left.pop(name))
    if left:
        raise ModelError(f"{weights_file}: Keras wrote no weights group for layers {sorted(left)}")


def zip_directory(directory: Path, path: Path) -> None:
    """`directory`'s files as the zip archive `path`, stored as Keras stores them: Keras's own members first, each
    copied in chunks."""
    first = [directory / name for name in KERAS_MEMBERS]
    rest = sorted(p for p in directory.rglob("*") if p.is_file() and p not in first)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for file in [p for p in first if p.is_file()] + rest:
            archive.write(file, file.relative_to(directory).as_posix())


def load_keras_model(path: Path) -> Any:
    """The end-to-end Keras model of a `model.keras`, loaded by Keras in safe mode (for users who want it)."""
    import mlc.models.tf_backend.keras_layers  # noqa: F401  registers mlc's layer and standardize function
    from mlc.models.tf_backend.runtime import tf_keras

    _, keras = tf_keras()
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as error:  # Keras raises many types for a bad file; all mean the same to the user
        raise ModelError(f"{path}: cannot load the model: {' '.join(str(error).split())[:300]}") from error


def check_keras_file(path: Path) -> None:
    """A quick look without reading the weights (for `mlc info`): a whole zip archive holding an mlc
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


def read_keras_file(path: Path) -> ModelWeights:
    """Weights of `path`, after checking its architecture is mlc's; ModelError otherwise. No TensorFlow."""
    import h5py

    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
            layers = _check_architecture(path, config)
            vocabulary_files = sorted(n for n in archive.namelist() if re.fullmatch(VOCABULARY_ASSET, n))
            if len(vocabulary_files) != 1:
                raise ModelError(
                    f"{path}: expected one vectorizer vocabulary in the archive, found {len(vocabulary_files)}"
                )
            vocabulary = _vocabulary_lines(archive.read(vocabulary_files[0]).decode("utf-8"))
            _check_weights_size(path, archive.getinfo("model.weights.h5"), layers, len(vocabulary))
            # in place: h5py seeking inside zipfile's member stream is far slower, and a copy in memory doubles it
            with open_member(archive, "model.weights.h5") as member, h5py.File(member, "r") as weights:
                model = _weights(path, layers, vocabulary, weights)
            model.scaling = _scaling(config)
            return model
    except ModelError:
        raise
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, UnicodeDecodeError) as error:
        raise ModelError(f"{path}: cannot read the model: {' '.join(str(error).split())[:300]}") from error


def _check_weights_size(path: Path, info: zipfile.ZipInfo, layers: list[dict[str, Any]], vocabulary_size: int) -> None:
    """The weights member's declared size (zipfile never reads past it) against what the architecture can need."""
    parameters, width = vocabulary_size, vocabulary_size  # IDF weights, then the first kernel's inputs
    for layer in layers[2:]:
        units = layer["config"].get("units")
        if not isinstance(units, int) or isinstance(units, bool) or units < 1:
            raise ModelError(
                f"{path}: layer '{layer['config'].get('name')}' has units {units!r}, not a positive whole number"
            )
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
            continue  # mlc's own layer by its registered name (its place is checked below): reimplemented, never loaded
        if layer.get("module") != "keras.layers" or layer.get("registered_name") not in (None, layer["class_name"]):
            raise ModelError(
                f"{path}: layer '{layer.get('name')}' is a {layer.get('module')}.{layer['class_name']}; mlc "
                "loads only its own Keras layers"
            )
    body = kinds[3:] if kinds[2:3] == [SCALING] else kinds[2:]
    if kinds[:2] != ["InputLayer", "TextVectorization"] or "Dense" not in body or not set(body) <= {"Dense", "Dropout"}:
        raise ModelError(
            f"{path}: layers {kinds} are not mlc's (InputLayer, TextVectorization, [TfIdfScaling], "
            "Dense/Dropout...); refusing to load"
        )
    vectorizer = layers[1]["config"]
    if (
        vectorizer.get("output_mode") != "tf_idf"
        or standardize_name(vectorizer.get("standardize")) not in STANDARDIZE
        or vectorizer.get("split") not in ("whitespace", "character", None)
    ):
        raise ModelError(
            f"{path}: vectorizer settings { ({k: vectorizer.get(k) for k in VECTORIZER_KEYS}) } are not mlc's"
        )
    for layer in layers[2:]:
        if layer["class_name"] == "Dense":
            activation_name(layer["config"].get("activation"), path)
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
    vectorizers = [
        name for name in groups if LOOKUP_GROUP in groups[name] and IDF_VARIABLE in groups[name][LOOKUP_GROUP]["vars"]
    ]
    # Keras names weight groups by class in layer order: dense, dense_1, dense_2, ...
    dense_groups = sorted(
        (name for name in groups if re.fullmatch(r"dense(_\d+)?", name)),
        key=lambda n: int(n.rpartition("_")[2]) if "_" in n else 0,
    )
    if len(vectorizers) != 1 or len(dense_groups) != len(layers) - 2:
        raise ModelError(f"{path}: weight groups {sorted(groups)} do not match its layers")
    idf = np.asarray(groups[vectorizers[0]][LOOKUP_GROUP]["vars"][IDF_VARIABLE][()], dtype=np.float32)
    if len(idf) < len(vocabulary):
        raise ModelError(f"{path}: {len(vocabulary)} vocabulary entries but {len(idf)} IDF weights")
    dense = []
    width = len(vocabulary)
    for layer, name in zip(layers[2:], dense_groups):
        variables = groups[name]["vars"]
        kernel = np.asarray(variables["0"][()], dtype=np.float32)
        bias = (
            np.asarray(variables["1"][()], dtype=np.float32)
            if "1" in variables
            else np.zeros(kernel.shape[1], np.float32)
        )
        if kernel.ndim != 2 or kernel.shape[0] != width or bias.shape != (kernel.shape[1],):
            raise ModelError(
                f"{path}: layer '{layer['config'].get('name')}' has a {kernel.shape} kernel where {width} "
                "inputs were expected"
            )
        # read-only: a backend copies weights read from a file into its own memory (TensorFlow's scorer shares only
        # writeable aligned arrays, which training makes) instead of sharing them as chance alignment allows
        kernel.flags.writeable = bias.flags.writeable = False
        dense.append(DenseWeights(kernel, bias, activation_name(layer["config"].get("activation"), path)))
        width = kernel.shape[1]
    return ModelWeights(
        vectorizer=vectorizer_settings(layers[1]["config"]),
        vocabulary=vocabulary,
        idf=idf[: len(vocabulary)],
        dense=dense,
    )


def vectorizer_settings(config: dict[str, Any]) -> dict[str, Any]:
    """The settings prediction reads from a TextVectorization config; `standardize` by name, whether the config
    holds mlc's function itself (a layer in memory) or its serialized reference (a model file)."""
    settings = {key: config.get(key) for key in VECTORIZER_KEYS}
    settings["standardize"] = standardize_name(settings["standardize"])
    return settings


def _vocabulary_lines(text: str) -> list[str]:
    """Exactly as Keras's IndexLookup.load_assets reads vocabulary.txt (splitlines, trailing blanks dropped)."""
    lines = text.splitlines()
    while lines and lines[-1] == "":
        lines.pop()
    return lines


def activation_name(activation: Any, path: Path | None = None) -> str:
    """A Dense activation by name, refusing any mlc does not use."""
    name = activation if isinstance(activation, str) else getattr(activation, "__name__", repr(activation))
    if name not in ACTIVATIONS:
        where = f"{path}: " if path else ""
        raise ModelError(f"{where}activation {name!r} is not one mlc uses ({', '.join(ACTIVATIONS)})")
    return name
