"""`mlc evaluate`: score one or two models on labelled data, read once."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlc.models.metrics import evaluate_scores
from mlc.models.model import Model
from mlc.pipeline.training_data import ColumnOptions, load_labelled, resolve_data


def run_evaluate(
    data: str,
    model_dirs: Sequence[Path],
    columns: ColumnOptions,
    *,
    threshold: float | None = None,
    ks: Sequence[int] = (1, 3),
    backend: str | None = None,
) -> list[dict[str, Any]]:
    """Score every labelled row of `data` with each model; one report per model. A bad model directory fails
    before the data is read; by default the text columns are the (first) model's training columns."""
    models = [Model.load(model_dir, backend) for model_dir in model_dirs]
    path, source = resolve_data(data)
    labelled = load_labelled(path, columns, source=source, preferred_text=models[0].text_columns)
    reports = []
    for model_dir, model in zip(model_dirs, models):
        scores = model.scores(labelled.texts)
        report = evaluate_scores(labelled.labels, scores, model.labels, threshold=model.thresholds(threshold), ks=ks)
        report["data"] = {"source": source, "columns": labelled.columns, "steps": labelled.steps}
        report["model_dir"] = str(model_dir)
        reports.append(report)
    return reports
