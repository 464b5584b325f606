"""mlc's Python API: `mlc.train(data, model_dir)` fits and saves a model, `mlc.load(model_dir)` gives one back,
`model.predict(texts, k=3)` its labels.

Importing mlc starts no TensorFlow; a model starts it on its first prediction.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing's own constant, without importing typing at start-up
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

    from mlc.models.model import Model

__all__ = ["__version__", "load", "train"]


def __getattr__(name: str) -> Any:
    """`mlc.__version__`, read from the installed distribution when first asked for (keeps `import mlc` quick)."""
    if name != "__version__":
        raise AttributeError(f"module 'mlc' has no attribute {name!r}")
    from importlib import metadata

    try:
        version = metadata.version("mlc")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        version = "0+unknown"
    globals()["__version__"] = version
    return version


def load(model_dir: str | Path, backend: str | None = None) -> Model:
    """The model in `model_dir` (written by `mlc train`), checked, scored by `backend` ("tensorflow", "jax"; default
    `MLC_BACKEND`, else TensorFlow); see `mlc.models.model.Model` and `mlc.pipeline.batch_predict.TaggingModel`."""
    from mlc.pipeline.batch_predict import TaggingModel

    return TaggingModel.load(model_dir, backend)


def train(data: str | Path | None = None, model_dir: str | Path | None = None, **settings: Any) -> Model:
    """Train on a labelled file and save the model, as `mlc train` does (the same options, as keywords: `epochs=5`,
    `text_column="abstract"`, ...); see `mlc.pipeline.training.train`. Returns the fitted model."""
    from mlc.pipeline.training import train as run

    return run(data, model_dir, **settings)
