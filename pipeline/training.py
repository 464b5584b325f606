"""Training end to end, for `mlc train` and `mlc.train`: read and split the data as the example does, fit, score
the test split, record where the data came from, save. One entry, so both write the same model directory."""

from __future__ import annotations

import gc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlc.models.errors import InputError, UsageError
from mlc.models.metrics import evaluate_scores
from mlc.models.model import Model
from mlc.models.model_dir import default_model_dir
from mlc.models.scorer import require_backend
from mlc.models.tf_backend.mlp import EpochHook, StepHook
from mlc.models.train_config import TrainConfig
from mlc.pipeline.batch_predict import TaggingModel
from mlc.pipeline.readers import regular_file
from mlc.pipeline.stop_signals import stop_if_received
from mlc.pipeline.training_data import ColumnOptions, file_sha256, load_labelled, prepare, resolve_data


def train(
    data: str | Path | None = None,
    model_dir: str | Path | None = None,
    *,
    text_column: str | None = None,
    labels_column: str | None = None,
    title_column: str | None = None,
    label_sep: str | None = None,
    input_format: str | None = None,
    test_size: float = 0.1,
    threshold_folds: int | None = None,
    example_settings: bool = False,
    quiet: bool = True,
    on_epoch: EpochHook | None = None,
    on_fold: Callable[[int, int], None] | None = None,
    on_step: StepHook = lambda step: None,
    **settings: Any,
) -> Model:
    """Train on a labelled file (default: the Keras example's dataset, downloaded once) and save the model in
    `model_dir` (default: the per-user model directory); `settings` are `TrainConfig`'s (`epochs=20`, `seed=42`,
    ...), as `mlc train`'s options. Returns the model as saved."""
    if threshold_folds == 1:
        raise UsageError("--threshold-folds 1: expected 0 (no cross-fitting) or at least 2 folds")
    require_backend("tensorflow", "training")  # before the data is read or downloaded
    try:
        config = TrainConfig.example(**settings) if example_settings else TrainConfig(**settings)
    except (TypeError, ValueError) as error:
        raise UsageError(str(error)) from error
    columns = ColumnOptions(text_column, labels_column, title_column, label_sep, input_format)
    on_step, on_epoch = _stopping(on_step), _stopping(on_epoch)
    on_step("reading the data")
    path, source = resolve_data(None if data is None else str(data), quiet=quiet)
    with regular_file(path) as readable:  # a pipe is read once: its bytes are both the data and their hash
        labelled = load_labelled(Path(readable), columns, source=source)
        data_sha256 = file_sha256(Path(readable))
    on_step(f"splitting {len(labelled.texts):,} rows")
    split = prepare(labelled, test_size=test_size, seed=config.seed)
    try:
        model = Model.fit(
            split.train.texts,
            split.train.labels,
            split.validation.texts,
            split.validation.labels,
            config,
            threshold_folds=threshold_folds,
            on_epoch=on_epoch,
            on_fold=on_fold,
            on_step=on_step,
        )
    except InputError as error:  # about the training rows: name the file and the text column
        raise InputError(f"{source}: text column {labelled.columns['text']!r}: {error}") from error
    on_step(f"scoring the {len(split.test.texts):,} test rows")
    test_scores = model.scores(split.test.texts)
    test_metrics = evaluate_scores(split.test.labels, test_scores, model.labels, threshold=model.thresholds())
    at_half = evaluate_scores(split.test.labels, test_scores, model.labels, threshold=0.5)
    metadata = model.metadata
    metadata.data = {"source": source, "sha256": data_sha256, "columns": labelled.columns, "label_sep": label_sep}
    metadata.steps = split.steps
    fitted = {k: v for k, v in metadata.hyperparameters.items() if k != "ngrams"}
    metadata.hyperparameters = {**fitted, "test_size": test_size, "ngrams": metadata.hyperparameters.get("ngrams")}
    metadata.metrics = {
        "test": {k: v for k, v in test_metrics.items() if k != "per_label"},
        "test_at_0.5": {k: at_half[k] for k in ("micro_f1", "macro_f1", "subset_accuracy")},
    }
    target = default_model_dir() if model_dir is None else Path(model_dir)
    on_step(f"writing {target}")  # where a stop that came while scoring the test rows ends it: nothing saved
    model.save(target)
    del model  # its weights and scorer (which its traced function refers back to), freed before the read back
    gc.collect()
    return TaggingModel.load(target)  # what is on disk, as `mlc.load` gives it


def _stopping(hook: Callable[..., None] | None) -> Callable[..., None]:
    """`hook`, run after any Ctrl-C or SIGTERM a library swallowed is raised again: training's steps and epochs are
    where it stops."""

    def checked(*args: Any) -> None:
        stop_if_received()
        if hook is not None:
            hook(*args)

    return checked
