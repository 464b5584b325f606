"""The seam between a fitted model and the library that computes with it: what a backend's scorer does (numpy in,
numpy out) and the registry that picks one by name, as Annif picks its backends. Nothing here imports a backend.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import numpy as np
import pyarrow as pa

from mlc.models.errors import UsageError
from mlc.models.predictions import Predictions
from mlc.models.weights import DenseWeights, ModelWeights

BACKEND_VARIABLE = "MLC_BACKEND"
DEFAULT_BACKEND = "tensorflow"


class BackendMissing(UsageError):
    """The chosen backend's library is not installed: the message names the extra that installs it."""


class Runner(Protocol):
    """Scores a stream of text chunks in order, a bounded number in flight."""

    def run(self, chunks: Iterator[tuple[pa.Array, Any]]) -> Iterator[tuple[Any, Predictions]]:
        """(texts, side data) in, (side data, predictions) out, in input order."""
        ...


class Scorer(Protocol):
    """One model's weights on one backend. `texts` are a list or array of str, or an Arrow string array."""

    n_outputs: int

    def device(self) -> str:
        """Where scoring runs, as users are told: 'CPU' or 'GPU xN'."""
        ...

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """[len(texts), labels] probabilities."""
        ...

    def predict(
        self, texts: Any, k: int, thresholds: np.ndarray, explain: int = 0, against: bool = False
    ) -> Predictions:
        """Top-k, labels over their thresholds, and with `explain` n each top label's n strongest terms (with
        `against`, also the n that lower it most)."""
        ...

    def runner(self, k: int, thresholds: np.ndarray, explain: int = 0) -> Runner:
        """`predict` over a stream, parallel as the backend sees fit."""
        ...

    def dense_weights(self) -> list[DenseWeights]:
        """The Dense layers as numpy arrays, as fitted."""
        ...

    @classmethod
    def before_streaming(cls) -> None:
        """Process-wide settings a runner needs that the library fixes when it starts (TensorFlow's threads per
        op), called before the first scorer of a process that streams is built."""
        ...


# name -> (module, class, the extra that installs its library)
BACKENDS = {
    "tensorflow": ("mlc.models.tf_backend.scorer", "TfScorer", "tensorflow"),
    "jax": ("mlc.models.jax_backend.scorer", "JaxScorer", "jax"),
}

LIBRARIES = {"tensorflow": "tensorflow", "jax": "jax"}


def backend_name(name: str | None = None) -> str:
    """The backend to use: `name`, else `MLC_BACKEND`, else TensorFlow; an unknown name is a usage error."""
    chosen = (name or os.environ.get(BACKEND_VARIABLE) or DEFAULT_BACKEND).strip().lower()
    if chosen not in BACKENDS:
        source = "" if name else f" ({BACKEND_VARIABLE})"
        raise UsageError(f"unknown backend {chosen!r}{source}; choose one of {', '.join(BACKENDS)}")
    return chosen


def make_scorer(name: str, weights: ModelWeights) -> Scorer:
    """The named backend's scorer for these weights; its library is imported here, not before."""
    return scorer_class(name)(weights)


def scorer_class(name: str) -> type[Scorer]:
    """The named backend's scorer class; its library is imported here, not before."""
    name = backend_name(name)
    require_backend(name, f"the {name} backend")
    module, cls, _ = BACKENDS[name]
    return getattr(importlib.import_module(module), cls)


def require_backend(name: str, purpose: str) -> None:
    """Fail in one line, before any work, when the backend `purpose` needs is not installed."""
    _, _, extra = BACKENDS[name]
    library = LIBRARIES[name]
    try:
        found = importlib.util.find_spec(library) is not None
    except ImportError:
        found = False
    if not found:
        others = " or ".join(f"--backend {other}" for other in BACKENDS if other != name)
        hint = f", or score with {others}" if purpose.startswith("the ") else ""
        raise BackendMissing(f"{purpose} needs {library}, which is not installed: pip install 'mlc[{extra}]'{hint}")
