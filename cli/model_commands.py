"""`mlc train`, `mlc evaluate`, `mlc info`: options in, one call into `mlc.pipeline` or `mlc.models`, a table out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from mlc.cli import options as opt
from mlc.cli.options import DEFAULT_MODEL_DIR
from mlc.cli.pandas_probe import decline_pandas_probe
from mlc.cli.progress import TrainProgress
from mlc.cli.render import compare_table, console, metrics_table, per_label_table, steps_table


def train_command(
    data: Annotated[
        str | None,
        typer.Option(
            help="CSV/Parquet/JSONL (.gz) path or http(s) URL; default: the Keras example's arXiv dataset, cached."
        ),
    ] = None,
    model_dir: opt.ModelDir = DEFAULT_MODEL_DIR,
    text_column: Annotated[
        str | None, typer.Option(help="Text column (default: summaries, abstract, summary or text).")
    ] = None,
    labels_column: opt.LabelsColumn = None,
    title_column: opt.TitleColumn = None,
    label_sep: opt.LabelSep = None,
    input_format: opt.InputFormat = None,
    max_tokens: Annotated[
        int | None,
        typer.Option(min=2, help="Vocabulary size (default: distinct lower-cased words of the training text)."),
    ] = None,
    epochs: Annotated[int, typer.Option(min=1)] = 20,
    batch_size: Annotated[int, typer.Option(min=1)] = 128,
    learning_rate: Annotated[
        float | None, typer.Option(min=0.0, help="Adam's learning rate (default 1e-2; the example's 1e-3).")
    ] = None,
    patience: Annotated[int, typer.Option(min=1, help="Early-stopping patience, in epochs of no better val_loss.")] = 3,
    dropout: Annotated[
        float | None,
        typer.Option(min=0.0, max=0.9, help="Dropout after each hidden layer (default 0.5; the example's 0)."),
    ] = None,
    weight_decay: Annotated[
        float, typer.Option(min=0.0, help="AdamW weight decay (default 0: plain Adam, the example's).")
    ] = 0.0,
    sublinear_tf: Annotated[
        bool | None,
        typer.Option(
            "--sublinear-tf/--raw-tf", help="TF-IDF with 1 + log(count) (default) or the raw count (the example's)."
        ),
    ] = None,
    normalize: Annotated[
        bool | None,
        typer.Option(
            "--normalize/--no-normalize", help="Scale each TF-IDF row to unit length (default; the example does not)."
        ),
    ] = None,
    split_punctuation: Annotated[
        bool | None,
        typer.Option(
            "--split-punctuation/--strip-punctuation",
            help="Punctuation becomes a space (default) or is deleted (Keras's standardize, the example's).",
        ),
    ] = None,
    lr_schedule: Annotated[str, typer.Option(help="constant, or cosine: decay to 0 over the epochs.")] = "constant",
    linear_share: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            max=1.0,
            help=(
                "Share of a logistic regression on the same TF-IDF in each output logit, folded into the "
                "MLP's layers (default: 0.25, 0.5 or 0.75, whichever gives the best tuned micro-F1 on the "
                "threshold-tuning rows; 0: the MLP alone, the example's)."
            ),
        ),
    ] = None,
    example_settings: Annotated[
        bool,
        typer.Option(
            "--example-settings",
            help=(
                "The Keras example's settings: raw TF-IDF, Keras's standardize, learning rate 1e-3, no "
                "dropout, no logistic head (options given still win)."
            ),
        ),
    ] = False,
    test_size: Annotated[float, typer.Option(help="Held-out share, split half validation, half test.")] = 0.1,
    threshold_folds: Annotated[
        int | None,
        typer.Option(
            min=0,
            help=(
                "Decision thresholds are also tuned on out-of-fold scores of the training rows, from this "
                "many extra models (0: the validation split alone; default 5 when that split has under 500 "
                "rows, else 0)."
            ),
        ),
    ] = None,
    seed: int = 42,
    quiet: opt.Quiet = False,
) -> None:
    """Train the Keras example's model and write a model directory."""
    decline_pandas_probe()
    import time

    from mlc.pipeline.training import train

    chosen = {
        name: value
        for name, value in {
            "learning_rate": learning_rate,
            "dropout": dropout,
            "sublinear_tf": sublinear_tf,
            "normalize": normalize,
            "split_punctuation": split_punctuation,
            "linear_share": linear_share,
        }.items()
        if value is not None
    }
    started = time.perf_counter()
    with TrainProgress(epochs, quiet) as progress:
        model = train(
            data,
            model_dir,
            text_column=text_column,
            labels_column=labels_column,
            title_column=title_column,
            label_sep=label_sep,
            input_format=input_format,
            test_size=test_size,
            threshold_folds=threshold_folds,
            example_settings=example_settings,
            quiet=quiet,
            on_epoch=progress.epoch,
            on_step=progress.step,
            max_tokens=max_tokens,
            epochs=epochs,
            batch_size=batch_size,
            patience=patience,
            seed=seed,
            weight_decay=weight_decay,
            lr_schedule=lr_schedule,
            **chosen,
        )
    metadata = model.metadata
    console.print(steps_table(metadata.steps))
    console.print(metrics_table(metadata.metrics["test"], f"Test split ({metadata.steps['test']} rows)"))
    console.print(
        f"wrote {model_dir}: {len(model.labels)} labels, max_tokens {metadata.hyperparameters['max_tokens']}, "
        f"{metadata.training['epochs_run']} epochs (best {metadata.training['best_epoch']}), "
        f"{time.perf_counter() - started:.1f}s"
    )


def evaluate_command(
    data: Annotated[str, typer.Argument(help="Labelled CSV/Parquet/JSONL (.gz) file or URL.")],
    model_dir: opt.ModelDir = DEFAULT_MODEL_DIR,
    text_column: opt.TextColumn = None,
    labels_column: opt.LabelsColumn = None,
    label_sep: opt.LabelSep = None,
    input_format: opt.InputFormat = None,
    threshold: Annotated[
        float | None,
        typer.Option(
            min=0.0, max=1.0, help="One decision threshold for every label (default: the model's tuned ones)."
        ),
    ] = None,
    at_k: Annotated[str, typer.Option(help="Comma-separated k for precision@k, recall@k and nDCG@k.")] = "1,3",
    compare: Annotated[
        Path | None, typer.Option(help="A second model directory, scored on the same rows and shown beside the first.")
    ] = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="Also write the full report as JSON.")] = None,
    backend: opt.Backend = None,
) -> None:
    """Score a model on labelled data: binary accuracy and the metrics that judge a multi-label tagger."""
    decline_pandas_probe()
    from mlc.models.atomic import write_whole
    from mlc.pipeline.evaluation import run_evaluate
    from mlc.pipeline.training_data import ColumnOptions

    try:
        ks = sorted({int(k) for k in at_k.split(",") if k.strip()})
    except ValueError:
        raise typer.BadParameter(
            f"{at_k!r} is not a comma-separated list of whole numbers", param_hint="--at-k"
        ) from None
    if not ks or min(ks) < 1:
        raise typer.BadParameter("every k must be at least 1", param_hint="--at-k")
    columns = ColumnOptions(text_column, labels_column, None, label_sep, input_format)
    model_dirs = [model_dir] if compare is None else [model_dir, compare]
    reports = run_evaluate(data, model_dirs, columns, threshold=threshold, ks=ks, backend=backend)
    if compare is None:
        console.print(metrics_table(reports[0], f"{data} with {model_dir}"))
        console.print(per_label_table(reports[0]["per_label"]))
    else:
        console.print(compare_table(reports[0], reports[1], f"{data}: {model_dir} vs {compare}"))
    if json_path is not None:
        write_whole(json_path, (json.dumps(reports[0] if compare is None else reports, indent=2) + "\n").encode())
        console.print(f"report written to {json_path}")


def info_command(
    model_dir: Annotated[Path, typer.Argument(envvar="MLC_MODEL_DIR", help="Model directory.")] = DEFAULT_MODEL_DIR,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metadata as JSON.")] = False,
) -> None:
    """Labels, metrics, training data and versions of a model directory."""
    from mlc.models.keras_file import check_keras_file
    from mlc.models.model_dir import MODEL_FILE, read_metadata

    metadata, labels = read_metadata(model_dir)
    check_keras_file(model_dir / MODEL_FILE)
    if as_json:
        print(json.dumps({"model_dir": str(model_dir), "labels": labels, **metadata.to_json()}, indent=2))
        return
    data = metadata.data
    console.print(f"[bold]{model_dir}[/bold]  model id {metadata.model_id}, created {metadata.created}")
    console.print(f"data: {data.get('source')} (sha256 {str(data.get('sha256'))[:12]}…), columns {data.get('columns')}")
    console.print(f"labels ({len(labels)}): {', '.join(labels[:30])}{' …' if len(labels) > 30 else ''}")
    console.print(f"hyper-parameters: {metadata.hyperparameters}")
    console.print(
        f"threshold: {metadata.threshold} (per label: {metadata.thresholds or 'none'})   versions: {metadata.versions}"
    )
    console.print(steps_table(metadata.steps))
    console.print(metrics_table(metadata.metrics.get("test", {}), "Metrics on the test split"))
