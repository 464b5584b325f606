"""The model directory `mlc train` writes and every command reads: model.keras (raw strings in, probabilities
out), labels.json (output order), metadata.json (`ModelMetadata`), history.csv and training_curves.png."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from mlc.models.atomic import atomic_path
from mlc.models.errors import ModelError
from mlc.models.metadata import ModelMetadata, check_schema
from mlc.models.weights import ModelWeights

MODEL_FILE = "model.keras"
LABELS_FILE = "labels.json"
METADATA_FILE = "metadata.json"
HISTORY_FILE = "history.csv"
CURVES_FILE = "training_curves.png"
REQUIRED_FILES = (MODEL_FILE, LABELS_FILE, METADATA_FILE)


def default_model_dir() -> Path:
    """Where `mlc train` writes and every command reads a model unless told otherwise: `$MLC_MODEL_DIR`, else
    `$XDG_DATA_HOME/mlc/models/default`, else `~/.local/share/mlc/models/default`; the same from any directory."""
    if os.environ.get("MLC_MODEL_DIR"):
        return Path(os.environ["MLC_MODEL_DIR"]).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "mlc" / "models" / "default"


def write_model_dir(
    target: Path,
    weights: ModelWeights,
    labels: list[str],
    metadata: ModelMetadata,
    history: dict[str, list[float]] | None = None,
) -> Path:
    """Write the whole directory under a temporary name and rename it into place: never a half model."""
    from mlc.models.curves import plot_history, write_history_csv
    from mlc.models.keras_file import write_keras_file

    with atomic_path(Path(target), directory=True) as tmp:
        write_keras_file(weights, tmp / MODEL_FILE)
        (tmp / LABELS_FILE).write_text(json.dumps(labels, ensure_ascii=False, indent=1) + "\n")
        metadata.model_id = model_id(tmp, metadata)
        (tmp / METADATA_FILE).write_text(json.dumps(metadata.to_json(), indent=2) + "\n")
        if history:
            write_history_csv(history, tmp / HISTORY_FILE)
            plot_history(history, tmp / CURVES_FILE)
    return Path(target)


def model_id(directory: Path, metadata: ModelMetadata) -> str:
    """What names a model on every output: 12 hex digits of a SHA-256 over model.keras, labels.json and the
    decision thresholds, so a retrained or re-tuned model never shares the id of the one it replaces."""
    digest = hashlib.sha256()
    for name in (MODEL_FILE, LABELS_FILE):
        with open(directory / name, "rb") as file:
            for block in iter(lambda: file.read(1 << 20), b""):
                digest.update(block)
    digest.update(json.dumps([metadata.threshold, metadata.thresholds], sort_keys=True).encode())
    return digest.hexdigest()[:12]


def read_metadata(path: Path) -> tuple[ModelMetadata, list[str]]:
    """Metadata and labels of a model directory, checked, without reading the weights or loading TensorFlow."""
    path = Path(path)
    if not path.is_dir():
        raise ModelError(f"{path}: no such model directory (train one with `mlc train --model-dir {path}`)")
    raw = _read_json(path / METADATA_FILE)
    labels = _read_json(path / LABELS_FILE)
    check_schema(raw, path / METADATA_FILE)
    if not isinstance(labels, list) or not labels or not all(isinstance(label, str) for label in labels):
        raise ModelError(f"{path / LABELS_FILE}: expected a non-empty JSON list of label names")
    if len(set(labels)) != len(labels):
        raise ModelError(f"{path / LABELS_FILE}: label names repeat")
    metadata = ModelMetadata.from_json(raw, labels, path / METADATA_FILE)
    if not metadata.model_id and (path / MODEL_FILE).is_file():  # written before ids existed: the same hash
        metadata.model_id = model_id(path, metadata)
    return metadata, labels


def read_model_dir(path: Path) -> tuple[ModelWeights, list[str], ModelMetadata]:
    """Weights, labels and metadata, checked for consistency. `model.keras` is read as data
    (`mlc.models.keras_file`): no Keras object is built from it and no code in it can run."""
    from mlc.models.keras_file import read_keras_file

    path = Path(path)
    metadata, labels = read_metadata(path)
    model_file = path / MODEL_FILE
    if not model_file.is_file():
        raise ModelError(f"{model_file}: missing")
    weights = read_keras_file(model_file)
    if weights.n_outputs != len(labels):
        raise ModelError(
            f"{path}: the model has {weights.n_outputs} outputs but {LABELS_FILE} lists {len(labels)} labels"
        )
    return weights, labels, metadata


def _read_json(file: Path) -> Any:
    if not file.is_file():
        raise ModelError(f"{file}: missing (is {file.parent} a model directory written by `mlc train`?)")
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelError(f"{file}: not valid JSON ({error})") from error
