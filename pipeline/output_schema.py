"""What every engine writes for a row: `label_1, score_1, ... label_k, score_k, labels[, why], error[, model_id]`
after the kept input columns (`columns()`, the one definition), and the same result as the fields of a queue
message. Built from a model's `Predictions`."""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from mlc.models.model import Model
from mlc.models.predictions import WEIGHT_DECIMALS, Predictions

ROW_COLUMN = "row"  # the 0-based row number in the input, kept when the input has no id column
WHY_COLUMN = "why"
MODEL_ID_COLUMN = "model_id"
TERM_TYPE = pa.struct([pa.field("term", pa.string()), pa.field("weight", pa.float32())])
WHY_TYPE = pa.list_(pa.list_(TERM_TYPE))


class OutputSchema:
    """The output columns for one model and one k, built once per run; Parquet files also carry the model's id,
    thresholds and mlc's version as key-value metadata (`mlc.model_id`, `mlc.thresholds`, `mlc.version`)."""

    def __init__(self, model: Model, k: int, explain: int = 0, with_model_id: bool = False) -> None:
        from mlc import __version__

        self.labels = list(model.labels)
        self.k = min(k, len(self.labels))
        self.label_array = pa.array(self.labels, pa.string())
        self.quoted_labels = [json.dumps(label) for label in self.labels]  # JSON-quoted once, not per message
        self.explain = explain
        self.vocabulary = model.vocabulary if explain else []
        self.term_array = pa.array(self.vocabulary, pa.string()) if explain else None
        self.model_id = model.id
        self.with_model_id = with_model_id
        thresholds = {"default": model.metadata.threshold, "per_label": model.metadata.thresholds}
        self.file_metadata = {
            b"mlc.model_id": model.id.encode(),
            b"mlc.thresholds": json.dumps(thresholds, ensure_ascii=False).encode(),
            b"mlc.version": __version__.encode(),
        }

    def columns(self) -> list[pa.Field]:
        """The columns mlc adds after the kept ones, in order: the one definition every output is built from."""
        fields = []
        for i in range(1, self.k + 1):
            fields += [pa.field(f"label_{i}", pa.string()), pa.field(f"score_{i}", pa.float32())]
        fields.append(pa.field("labels", pa.list_(pa.string())))
        if self.explain:
            fields.append(pa.field(WHY_COLUMN, WHY_TYPE))
        fields.append(pa.field("error", pa.string()))
        if self.with_model_id:
            fields.append(pa.field(MODEL_ID_COLUMN, pa.string()))
        return fields

    @property
    def names(self) -> list[str]:
        """The columns mlc adds; a kept input column may not take one of these names."""
        return [column.name for column in self.columns()]

    def arrow_schema(self, kept: Sequence[pa.Field]) -> pa.Schema:
        """The whole output's schema: the kept input columns (their input types), then mlc's, with the metadata."""
        return pa.schema([*kept, *self.columns()], metadata=self.file_metadata)

    def batch(
        self, kept: dict[str, pa.Array], bad: np.ndarray, reasons: pa.Array, predictions: Predictions
    ) -> pa.RecordBatch:
        """Kept columns, then label_k/score_k, `labels` and `error`, without per-row Python; bad rows are null."""
        n = len(bad)
        arrays: dict[str, pa.Array] = {}
        null_mask = pa.array(bad) if bad.any() else None
        for j in range(self.k):
            arrays[f"label_{j + 1}"] = self.label_array.take(pa.array(predictions.indices[:, j], mask=bad))
            arrays[f"score_{j + 1}"] = pa.array(
                predictions.scores[:, j], pa.float32(), mask=bad if null_mask is not None else None
            )
        above = predictions.above & ~bad[:, None]
        rows, cols = np.nonzero(above)
        offsets = np.zeros(n + 1, dtype=np.int32)
        np.cumsum(np.bincount(rows, minlength=n), out=offsets[1:])
        arrays["labels"] = pa.ListArray.from_arrays(pa.array(offsets), self.label_array.take(pa.array(cols)))
        if self.explain:
            arrays[WHY_COLUMN] = self._why(predictions, bad)
        arrays["error"] = reasons
        if self.with_model_id:
            arrays[MODEL_ID_COLUMN] = pa.array([self.model_id] * n, pa.string())
        schema = self.arrow_schema([pa.field(name, column.type) for name, column in kept.items()])
        return pa.RecordBatch.from_arrays([*kept.values(), *(arrays[c.name] for c in self.columns())], schema=schema)

    def _why(self, predictions: Predictions, bad: np.ndarray) -> pa.Array:
        """list<list<struct<term, weight>>>: per row, per top label, its terms of positive weight; bad rows empty."""
        n_rows, k = len(bad), self.k
        weights = np.round(predictions.term_weights[:, :k].astype(np.float64), WEIGHT_DECIMALS)
        kept = (weights > 0) & ~bad[:, None, None]
        per_label = kept.sum(axis=2).ravel()
        inner = np.zeros(n_rows * k + 1, dtype=np.int32)
        np.cumsum(per_label, out=inner[1:])
        terms = pa.StructArray.from_arrays(
            [self.term_array.take(pa.array(predictions.terms[:, :k][kept])), pa.array(weights[kept], pa.float32())],
            fields=list(TERM_TYPE),
        )
        labels = pa.ListArray.from_arrays(pa.array(inner), terms)
        outer = np.where(bad, 0, k).astype(np.int32)
        return pa.ListArray.from_arrays(pa.array(np.concatenate([[0], np.cumsum(outer)]).astype(np.int32)), labels)

    def empty(self, kept: Sequence[pa.Field]) -> pa.RecordBatch:
        """The output of an input with no rows: the same schema as any other output of these options."""
        return pa.RecordBatch.from_pylist([], schema=self.arrow_schema(kept))

    def message_fields(self, predictions: Predictions) -> list[list[str]]:
        """Per row, the result fields of a queue message as [name, value, ...]: `labels`, `scores` and `top_k` as
        JSON (scores rounded to 6 decimals)."""
        quoted = self.quoted_labels
        scores = np.round(predictions.scores.astype(np.float64), 6).tolist()
        out = []
        for row, (indices, row_scores) in enumerate(zip(predictions.indices.tolist(), scores)):
            top = [(quoted[j], v) for j, v in zip(indices, row_scores)]
            out.append(
                [
                    "labels",
                    "[" + ", ".join(quoted[j] for j in np.flatnonzero(predictions.above[row]).tolist()) + "]",
                    "scores",
                    "[" + ", ".join(repr(v) for _, v in top) + "]",
                    "top_k",
                    "[" + ", ".join(f'{{"label": {q}, "score": {v!r}}}' for q, v in top) + "]",
                    *([WHY_COLUMN, json.dumps(predictions.explanations(self.vocabulary, row))] if self.explain else []),
                    MODEL_ID_COLUMN,
                    self.model_id,
                ]
            )
        return out
