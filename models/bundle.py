"""The model directory: what `mlc train` writes and every other command loads, with its metadata validated.

    model.keras           end-to-end Keras model (raw strings in, probabilities out), safe-mode loadable
    labels.json           the label vocabulary, in output order
    metadata.json         data source + sha256, columns, row counts per step, hyper-parameters, versions, metrics
    history.csv           per-epoch loss and binary accuracy, train and validation
    training_curves.png   the example's plots of the above
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlc.models.archive import ModelWeights
from mlc.models.atomic import atomic_path
from mlc.models.errors import ModelError

MODEL_FILE = "model.keras"
LABELS_FILE = "labels.json"
METADATA_FILE = "metadata.json"
HISTORY_FILE = "history.csv"
CURVES_FILE = "training_curves.png"
SCHEMA_VERSION = 1
DEFAULT_THRESHOLD = 0.5


@dataclass
class ModelBundle:
    path: Path
    weights: ModelWeights
    labels: list[str]
    metadata: dict[str, Any]

    @property
    def threshold(self) -> float:
        return float(self.metadata.get("threshold", DEFAULT_THRESHOLD))

    @property
    def text_columns(self) -> list[str] | None:
        """The input column(s) the model was trained on (several when trained on e.g. titles + abstracts)."""
        text = self.metadata.get("data", {}).get("columns", {}).get("text")
        if isinstance(text, str):
            return [text]
        return [str(t) for t in text] if isinstance(text, list) and text else None

    def thresholds(self, override: float | None = None) -> Any:
        """Per-label decision thresholds in output order: `override` for all, else the tuned ones (global where
        a label has none of its own)."""
        import numpy as np

        if override is not None:
            return np.full(len(self.labels), override, dtype=np.float32)
        per_label = self.metadata.get("thresholds") or {}
        return np.array([per_label.get(label, self.threshold) for label in self.labels], dtype=np.float32)


def save_bundle(
    target: Path, model: Any, labels: list[str], metadata: dict[str, Any], history: dict[str, list[float]]
) -> Path:
    """Write the whole directory under a temporary name and rename it into place: never a half model."""
    from mlc.models.curves import plot_history, write_history_csv

    with atomic_path(Path(target), directory=True) as tmp:
        model.save(tmp / MODEL_FILE)
        (tmp / LABELS_FILE).write_text(json.dumps(labels, ensure_ascii=False, indent=1) + "\n")
        (tmp / METADATA_FILE).write_text(json.dumps({"schema_version": SCHEMA_VERSION, **metadata}, indent=2) + "\n")
        write_history_csv(history, tmp / HISTORY_FILE)
        plot_history(history, tmp / CURVES_FILE)
    return Path(target)


def read_metadata(path: Path) -> tuple[dict[str, Any], list[str]]:
    """Metadata and labels of a model directory, validated, without loading TensorFlow."""
    path = Path(path)
    if not path.is_dir():
        raise ModelError(f"{path}: no such model directory (train one with `mlc train --model-dir {path}`)")
    metadata = _read_json(path / METADATA_FILE)
    labels = _read_json(path / LABELS_FILE)
    if not isinstance(metadata, dict) or metadata.get("schema_version") != SCHEMA_VERSION:
        found = metadata.get("schema_version") if isinstance(metadata, dict) else None
        raise ModelError(f"{path / METADATA_FILE}: schema_version {found!r}, this mlc reads {SCHEMA_VERSION}")
    if not isinstance(labels, list) or not labels or not all(isinstance(l, str) for l in labels):
        raise ModelError(f"{path / LABELS_FILE}: expected a non-empty JSON list of label names")
    if len(set(labels)) != len(labels):
        raise ModelError(f"{path / LABELS_FILE}: label names repeat")
    threshold = metadata.get("threshold", DEFAULT_THRESHOLD)
    if not isinstance(threshold, (int, float)) or not 0.0 <= threshold <= 1.0:
        raise ModelError(f"{path / METADATA_FILE}: threshold {threshold!r} is not a number in [0, 1]")
    per_label = metadata.get("thresholds", {})
    if not isinstance(per_label, dict) or any(
        label not in labels or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0 for label, value in per_label.items()
    ):
        raise ModelError(f"{path / METADATA_FILE}: 'thresholds' must map the model's labels to numbers in [0, 1]")
    return metadata, labels


def load_bundle(path: Path) -> ModelBundle:
    """Metadata, labels and weights of a model directory, checked for consistency. The model file is read as
    data (`mlc.models.archive`): no Keras object is built from it and no code in it can run."""
    from mlc.models.archive import read_archive

    path = Path(path)
    metadata, labels = read_metadata(path)
    model_file = path / MODEL_FILE
    if not model_file.is_file():
        raise ModelError(f"{model_file}: missing")
    weights = read_archive(model_file)
    if weights.n_outputs != len(labels):
        raise ModelError(f"{path}: the model has {weights.n_outputs} outputs but {LABELS_FILE} lists {len(labels)} labels")
    return ModelBundle(path=path, weights=weights, labels=labels, metadata=metadata)


def load_keras_model(path: Path) -> Any:
    """The end-to-end Keras model itself, in safe mode (for users who want the Keras object; tests compare it)."""
    from mlc.models.backend import tf_keras

    import mlc.models.layers  # noqa: F401  registers mlc>TfIdfScaling and mlc>lower_and_split_punctuation, the non-stock objects an mlc model may hold

    model_file = Path(path) / MODEL_FILE
    _, keras = tf_keras()
    try:
        return keras.saving.load_model(model_file, compile=False, safe_mode=True)
    except Exception as error:  # Keras raises many types for a bad file; all mean the same to the user
        raise ModelError(f"{model_file}: cannot load the model: {' '.join(str(error).split())[:300]}") from error


def _read_json(file: Path) -> Any:
    if not file.is_file():
        raise ModelError(f"{file}: missing (is {file.parent} a model directory written by `mlc train`?)")
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelError(f"{file}: not valid JSON ({error})") from error
