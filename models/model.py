"""The fitted model: numpy weights, labels, decision thresholds and metadata, with fit, save, load and scoring.

The weights stay backend-neutral; scoring runs through the chosen backend's scorer (`mlc.models.scorer`), built on
first use, so loading a model starts no TensorFlow and the pipeline sees numpy only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from mlc.models.errors import InputError
from mlc.models.metadata import ModelMetadata
from mlc.models.predictions import Predictions, rounded_weight
from mlc.models.scorer import Runner, Scorer, backend_name, make_scorer, scorer_class
from mlc.models.weights import ModelWeights

if TYPE_CHECKING:
    from mlc.models.train_config import TrainConfig


class LabelExplanation(NamedTuple):
    """One top label of one text, as `mlc explain` shows it."""

    label: str
    score: float
    above: bool  # at or above the label's decision threshold
    terms: list[tuple[str, float]]  # the n-grams that raised its logit most, largest first
    against: list[tuple[str, float]]  # the n-grams that lowered it most (negative weights), strongest first


class Prediction(NamedTuple):
    """One text's result in the Python API."""

    top: list[tuple[str, float]]  # the top-k (label, score) pairs, best first
    labels: list[str]  # the labels at or above their threshold


class Model:
    """What `mlc train` writes and every command loads (`mlc.load` in Python)."""

    def __init__(
        self,
        weights: ModelWeights,
        labels: list[str],
        metadata: ModelMetadata,
        history: dict[str, list[float]] | None = None,
        path: Path | None = None,
        backend: str | None = None,
    ) -> None:
        self._weights = weights
        self.labels = list(labels)
        self.metadata = metadata
        self.history = history
        self.path = path
        self.backend = backend_name(backend)  # what scores it: the argument, else MLC_BACKEND, else TensorFlow
        self._scorer: Scorer | None = None

    def __repr__(self) -> str:
        where = f" from {self.path}" if self.path else ""
        return f"<mlc.Model{where}: {len(self.labels)} labels, {len(self._weights.vocabulary)} n-grams>"

    @classmethod
    def fit(
        cls,
        train_texts: Sequence[str],
        train_labels: Sequence[Sequence[str]],
        val_texts: Sequence[str],
        val_labels: Sequence[Sequence[str]],
        config: TrainConfig | None = None,
        **options: Any,
    ) -> Model:
        """Fit on labelled rows (`mlc.models.tf_backend.fit.fit`; `options`: threshold_folds, on_epoch, on_fold)."""
        from mlc.models.tf_backend.fit import fit
        from mlc.models.train_config import TrainConfig

        return fit(train_texts, train_labels, val_texts, val_labels, config or TrainConfig(), **options)

    @classmethod
    def load(cls, model_dir: str | Path, backend: str | None = None) -> Model:
        """A model directory, checked, to be scored by `backend` (`mlc.models.scorer.BACKENDS`); its weights are read
        as data, no backend is started."""
        from mlc.models.model_dir import read_model_dir

        name = backend_name(backend)  # an unknown name fails before the model is read
        weights, labels, metadata = read_model_dir(Path(model_dir))
        return cls(weights, labels, metadata, path=Path(model_dir), backend=name)

    def save(self, model_dir: str | Path) -> Path:
        """Write the model directory atomically (the Keras model is built here, from the weights)."""
        from mlc.models.model_dir import write_model_dir

        self.path = write_model_dir(Path(model_dir), self.weights, self.labels, self.metadata, self.history)
        return self.path

    @property
    def weights(self) -> ModelWeights:
        """The numpy weights. Once the scorer is built it holds the Dense layers alone (one copy in memory, not
        two), and they are copied back from it when asked for."""
        if self._scorer is not None and not self._weights.dense:
            return replace(self._weights, dense=self._scorer.dense_weights())
        return self._weights

    @property
    def id(self) -> str:
        """The model id every output carries (`mlc.models.model_dir.model_id`); empty until saved or loaded."""
        return self.metadata.model_id

    @property
    def text_columns(self) -> list[str] | None:
        """The input column(s) the model was trained on, which commands read by default."""
        return self.metadata.text_columns

    def thresholds(self, override: float | None = None) -> np.ndarray:
        """Per-label decision thresholds in output order: `override` for all, else the tuned ones."""
        return self.metadata.thresholds_for(self.labels, override)

    @property
    def scorer(self) -> Scorer:
        """The backend's scorer, built on first use (it starts the backend's library)."""
        if self._scorer is None:
            self._scorer = make_scorer(self.backend, self._weights)
            self._weights = replace(self._weights, dense=[])
        return self._scorer

    def device(self) -> str:
        """Where predictions run: 'CPU' or 'GPU xN' (it starts the backend)."""
        return self.scorer.device()

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """[len(texts), labels] probabilities."""
        return self.scorer.scores(_text_list(texts))

    @property
    def vocabulary(self) -> list[str]:
        """The n-grams of the TF-IDF layer, by column (column 0 is the out-of-vocabulary token)."""
        return self._weights.vocabulary

    def check_options(self, k: int, threshold: float | None = None, explain: int = 0) -> None:
        """Fail on bad prediction options, or a backend that is not installed, without starting the backend."""
        _check_k(k)
        _check_explain(explain)
        self.thresholds(threshold)
        if self._scorer is None:
            scorer_class(self.backend)

    def prepare(self, k: int, threshold: float | None = None, explain: int = 0) -> None:
        """Check prediction options and build the scorer, so that bad options or a model the backend cannot score
        fail before any input is read or any queue is touched."""
        self.check_options(k, threshold, explain)
        self.scorer  # noqa: B018  built here, once

    def runner(self, k: int, threshold: float | None = None, explain: int = 0) -> Runner:
        """The backend's runner for a stream of text chunks (`mlc.models.scorer.Runner`)."""
        if self._scorer is None:
            scorer_class(self.backend).before_streaming()  # before the library starts, which building the scorer does
        self.prepare(k, threshold, explain)
        return self.scorer.runner(k, self.thresholds(threshold), explain)

    def predict_batch(
        self, texts: Sequence[str] | np.ndarray, k: int = 3, threshold: float | None = None, explain: int = 0
    ) -> Predictions:
        """One batch of texts, scored as batch-predict scores them."""
        self.prepare(k, threshold, explain)
        return self.scorer.predict(texts, k, self.thresholds(threshold), explain)

    def explain(self, texts: str | Sequence[str], k: int = 3, n: int = 5) -> list[list[list[dict[str, Any]]]]:
        """Per text, for each of its top-k labels (as `predict` orders them), the n n-grams that raised that label's
        logit most, as {"term", "weight"}, largest first: batch-predict's `why`. Empty texts get an empty list."""
        _check_explain(n, off=False)
        texts = _text_list(texts)
        if not texts:
            return []
        result = self.predict_batch(texts, k, explain=n)
        vocabulary = self.vocabulary
        return [result.explanations(vocabulary, row) if text.strip() else [] for row, text in enumerate(texts)]

    def explain_labels(self, texts: str | Sequence[str], k: int = 3, n: int = 5) -> list[list[LabelExplanation]]:
        """What `mlc explain` shows: per text, each top label with its score, whether it reaches its threshold, and
        its n strongest n-grams for and against. Empty texts get an empty list."""
        _check_k(k)
        _check_explain(n, off=False)
        texts = _text_list(texts)
        if not texts:
            return []
        result = self.scorer.predict(texts, k, self.thresholds(), n, against=True)
        scores, indices, above = result.scores, result.indices, result.above
        terms, weights, against, against_weights = (
            result.terms,
            result.term_weights,
            result.against,
            result.against_weights,
        )
        vocabulary = self.vocabulary

        def listed(columns: np.ndarray, values: np.ndarray, sign: float) -> list[tuple[str, float]]:
            pairs = [(vocabulary[c], sign * rounded_weight(v)) for c, v in zip(columns.tolist(), values.tolist())]
            return [(term, weight) for term, weight in pairs if sign * weight > 0]

        out = []
        for row, text in enumerate(texts):
            labels = [
                LabelExplanation(
                    self.labels[label],
                    float(scores[row, j]),
                    bool(above[row, label]),
                    listed(terms[row, j], weights[row, j], 1.0),
                    listed(against[row, j], against_weights[row, j], -1.0),
                )
                for j, label in enumerate(indices[row].tolist())
            ]
            out.append(labels if text.strip() else [])
        return out

    def predict(self, texts: str | Sequence[str], k: int = 3, threshold: float | None = None) -> list[Prediction]:
        """Per text, the top-k (label, score) pairs and the labels at or above the thresholds (`threshold` for all,
        else the tuned ones). A text with no words gets an empty result, as batch-predict's bad rows do."""
        texts = _text_list(texts)
        result = self.predict_batch(texts, k, threshold)
        out = []
        for row, text in enumerate(texts):
            if not text.strip():
                out.append(Prediction([], []))
                continue
            top = [
                (self.labels[i], float(s)) for i, s in zip(result.indices[row].tolist(), result.scores[row].tolist())
            ]
            out.append(Prediction(top, [self.labels[j] for j in np.flatnonzero(result.above[row]).tolist()]))
        return out


def _text_list(texts: str | Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        return [texts]
    out = list(texts)
    for i, text in enumerate(out):
        if not isinstance(text, str):
            raise InputError(f"text {i} is a {type(text).__name__}, not a string")
        if not text.isascii():
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as error:  # lone surrogates: bytes read with errors="surrogateescape"
                raise InputError(f"text {i} is not valid UTF-8 (it holds undecodable bytes)") from error
    return out


def _check_explain(n: int, off: bool = True) -> None:
    """`n` terms to explain; 0 (explanations off) only where `off` allows it."""
    if isinstance(n, bool) or not isinstance(n, int) or n < (0 if off else 1):
        raise InputError(f"the number of terms to explain must be a whole number of at least 1, got {n!r}")


def _check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InputError(f"k, the number of top labels, must be a whole number of at least 1, got {k!r}")
