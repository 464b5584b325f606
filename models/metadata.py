"""`metadata.json`: where a model came from, how it was fitted, its decision thresholds and test figures.

One dataclass is written by `mlc train`, read back (and checked) by every command, shown by `mlc info`.
"""

from __future__ import annotations

import platform
from dataclasses import asdict, dataclass, field, fields
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import numpy as np

from mlc.models.errors import ModelError

SCHEMA_VERSION = 1
DEFAULT_THRESHOLD = 0.5


@dataclass
class ModelMetadata:
    """The JSON keys, in the order they are written; every one has a default, so older files read as well."""

    schema_version: int = SCHEMA_VERSION
    model_id: str = ""  # a short hash of model.keras, labels.json and the thresholds (`mlc.models.model_dir`)
    created: str = ""
    data: dict[str, Any] = field(default_factory=dict)  # source, sha256, columns {text, labels, title}, label_sep
    steps: dict[str, int] = field(default_factory=dict)  # rows after each preparation step
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    linear_share_choice: str = ""  # how the logistic head's share was chosen
    n_labels: int = 0
    threshold: float = DEFAULT_THRESHOLD  # the global decision threshold
    thresholds: dict[str, float] = field(default_factory=dict)  # labels whose own threshold differs from it
    threshold_tuning: str = ""
    threshold_folds: int = 0
    training: dict[str, Any] = field(default_factory=dict)  # epochs_run, best_epoch
    metrics: dict[str, Any] = field(default_factory=dict)  # test, test_at_0.5
    label_shares: dict[str, float] = field(default_factory=dict)  # share of training rows with each label
    versions: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, value: Any, labels: list[str], path: Path) -> ModelMetadata:
        """Checked: the schema version this mlc reads, thresholds in [0, 1] naming the model's labels."""
        check_schema(value, path)
        threshold = value.get("threshold", DEFAULT_THRESHOLD)
        if not _is_probability(threshold):
            raise ModelError(f"{path}: threshold {threshold!r} is not a number in [0, 1]")
        per_label = value.get("thresholds", {})
        if not isinstance(per_label, dict) or any(
            label not in labels or not _is_probability(t) for label, t in per_label.items()
        ):
            raise ModelError(f"{path}: 'thresholds' must map the model's labels to numbers in [0, 1]")
        known = {f.name for f in fields(cls)}
        return cls(**{key: item for key, item in value.items() if key in known})

    @property
    def text_columns(self) -> list[str] | None:
        """The input column(s) the model was trained on (several when trained on e.g. titles + abstracts)."""
        text = (self.data.get("columns") or {}).get("text")
        if isinstance(text, str):
            return [text]
        return [str(t) for t in text] if isinstance(text, list) and text else None

    def thresholds_for(self, labels: list[str], override: float | None = None) -> np.ndarray:
        """Per-label decision thresholds in output order: `override` for all, else the tuned ones."""
        if override is not None:
            return np.full(len(labels), override, dtype=np.float32)
        return np.array([self.thresholds.get(label, self.threshold) for label in labels], dtype=np.float32)


def check_schema(value: Any, path: Path) -> None:
    """ModelError unless `value` is a metadata object of the schema version this mlc reads."""
    if not isinstance(value, dict) or value.get("schema_version") != SCHEMA_VERSION:
        found = value.get("schema_version") if isinstance(value, dict) else None
        raise ModelError(f"{path}: schema_version {found!r}, this mlc reads {SCHEMA_VERSION}")


def _is_probability(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 <= value <= 1.0


def versions() -> dict[str, str]:
    """Python's and the libraries' versions, recorded with every model."""
    found = {"python": platform.python_version()}
    for name in ("mlc", "tensorflow", "keras", "numpy", "pyarrow", "pandas"):
        try:
            found[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            pass
    return found
