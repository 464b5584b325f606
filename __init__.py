"""mlc's Python API: `mlc.load(model_dir)` gives the model, `model.predict(texts, k=3)` its labels.

Importing mlc starts no TensorFlow; a model starts it on its first prediction.
"""

from __future__ import annotations

from importlib import metadata as _metadata
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlc.models.model import Model

try:
    __version__ = _metadata.version("mlc")
except _metadata.PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["__version__", "load"]


def load(model_dir: str | Path) -> Model:
    """The model in `model_dir` (written by `mlc train`), checked; see `mlc.models.model.Model`."""
    from mlc.models.model import Model

    return Model.load(model_dir)
