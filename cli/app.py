"""The `mlc` command: one thin function per command; every expected error becomes one line and an exit code."""

from __future__ import annotations

import json
import os
import signal
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlc.cli import exit_at_once
from mlc.cli import options as opt
from mlc.cli.render import compare_table, console, err_console, metrics_table, per_label_table, steps_table
from mlc.models.errors import EXIT_INTERRUPTED, EXIT_TERMINATED, EXIT_UNEXPECTED, MlcError, Terminated
from mlc.models.model_dir import default_model_dir

if TYPE_CHECKING:
    from mlc.pipeline.batch_predict import PredictSummary
    from mlc.pipeline.run_report import DriftTolerance

DEFAULT_MODEL_DIR = default_model_dir()
app = typer.Typer(
    name="mlc",
    help="Tag text (arXiv abstracts first of all) with subject labels, in bulk. Env settings use the MLC_ prefix.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
_state = {"debug": False}


def _print_version(value: bool) -> None:
    if value:
        from mlc import __version__

        print(f"mlc {__version__}")
        raise typer.Exit()


@app.callback()
def _global(
    debug: Annotated[
        bool, typer.Option("--debug", envvar="MLC_DEBUG", help="Show tracebacks and TensorFlow's own log.")
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print mlc's version and exit.")
    ] = False,
) -> None:
    _state["debug"] = debug
    if debug:
        os.environ["MLC_DEBUG"] = "1"


@app.command("train")
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
    with _epoch_progress(epochs, quiet) as on_epoch:
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
            on_epoch=on_epoch,
            on_fold=None if quiet else _fold_line,
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


@app.command("evaluate")
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
) -> None:
    """Score a model on labelled data: binary accuracy and the metrics that judge a multi-label tagger."""
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
    reports = run_evaluate(data, model_dirs, columns, threshold=threshold, ks=ks)
    if compare is None:
        console.print(metrics_table(reports[0], f"{data} with {model_dir}"))
        console.print(per_label_table(reports[0]["per_label"]))
    else:
        console.print(compare_table(reports[0], reports[1], f"{data}: {model_dir} vs {compare}"))
    if json_path is not None:
        write_whole(json_path, (json.dumps(reports[0] if compare is None else reports, indent=2) + "\n").encode())
        console.print(f"report written to {json_path}")


@app.command("batch-predict")
def batch_predict_command(
    inputs: Annotated[list[str], typer.Argument(help="Files, globs, directories, or - for JSONL on stdin.")],
    model_dir: opt.ModelDir = DEFAULT_MODEL_DIR,
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", help="Output file (format from its suffix), or - for JSONL on stdout."),
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option(
            help=(
                "Output directory: one output per input, same stem. Default (no -o either): "
                "<stem>.tagged.<format> beside each input."
            )
        ),
    ] = None,
    output_format: Annotated[
        str | None, typer.Option(help="parquet, csv or jsonl (default: from -o, or the input's format).")
    ] = None,
    input_format: opt.InputFormat = None,
    text_column: opt.TextColumn = None,
    id_column: Annotated[
        str | None, typer.Option(help="Id column to keep (default: id if present, else the row number).")
    ] = None,
    keep_columns: Annotated[
        str | None, typer.Option(help="Comma-separated input columns to copy to the output ('row' is the row number).")
    ] = None,
    top_k: Annotated[int, typer.Option(min=1, help="How many top labels, with scores.")] = 3,
    threshold: Annotated[
        float | None,
        typer.Option(
            min=0.0, max=1.0, help="One threshold for the `labels` column (default: the model's tuned per-label ones)."
        ),
    ] = None,
    explain: opt.Explain = None,
    with_model_id: Annotated[
        bool, typer.Option(help="Add a model_id column (Parquet outputs always carry the id as file metadata).")
    ] = False,
    report: Annotated[
        Path | None,
        typer.Option(help="Write a JSON run report: rows, bad rows, speed, model id, label shares against training."),
    ] = None,
    drift_tolerance: Annotated[
        str,
        typer.Option(help="FACTOR,POINTS: a label drifts when its share and its training share differ by both."),
    ] = "2,2",
    fail_on_drift: Annotated[
        bool, typer.Option(help="Exit 8 when a label drifted (after every output is written); for cron.")
    ] = False,
    batch_size: opt.BatchSize = 4096,
    strict: Annotated[
        bool, typer.Option(help="Fail on rows with missing or empty text instead of flagging them.")
    ] = False,
    skip_existing: Annotated[
        bool,
        typer.Option(
            help=(
                "Skip inputs whose output exists and is newer, and inputs that failed before and have not "
                "changed since (for cron)."
            )
        ),
    ] = False,
    fail_fast: Annotated[
        bool,
        typer.Option(
            help="Stop at the first input that cannot be read (default: report it, tag the others, exit 3 at the end)."
        ),
    ] = False,
    force: Annotated[
        bool, typer.Option(help="Overwrite outputs that an earlier run wrote beside their inputs.")
    ] = False,
    engine: Annotated[
        str, typer.Option(help="local (this process) or ray (Ray Data: this machine or a cluster; needs mlc[ray]).")
    ] = "local",
    ray_address: Annotated[
        str | None, typer.Option(envvar="RAY_ADDRESS", help="Ray cluster to join (default: start a local one).")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="--engine ray: tagging actors.")] = 1,
    gpus_per_worker: Annotated[float, typer.Option(min=0.0, help="--engine ray: GPUs per actor.")] = 0.0,
    quiet: opt.Quiet = False,
) -> None:
    """Tag files with their top-k labels and probabilities, streaming, in large batches."""
    from mlc.models.errors import UsageError
    from mlc.pipeline.batch_predict import PredictOptions, batch_predict
    from mlc.pipeline.run_report import DriftTolerance

    options = PredictOptions(
        text_column=text_column,
        id_column=id_column,
        keep_columns=tuple(c.strip() for c in keep_columns.split(",") if c.strip()) if keep_columns else None,
        top_k=top_k,
        threshold=threshold,
        batch_size=batch_size,
        strict=strict,
        input_format=input_format,
        output_format=output_format,
        skip_existing=skip_existing,
        fail_fast=fail_fast,
        force=force,
        explain=explain or 0,
        with_model_id=with_model_id,
        count_labels=report is not None or fail_on_drift,
    )
    tolerance = DriftTolerance.parse(drift_tolerance)
    reporting = options.count_labels
    notify = (
        (lambda message: None)
        if quiet
        else (lambda message: err_console.print(message, markup=False, highlight=False, soft_wrap=True))
    )

    def on_failure(message: str) -> None:
        err_console.print(f"mlc: error: {message}", markup=False, highlight=False, soft_wrap=True)

    if engine not in ("local", "ray"):
        raise typer.BadParameter(f"'{engine}' is not one of local, ray", param_hint="--engine")
    if engine == "ray":
        from mlc.pipeline.ray_engine import RayOptions, ray_batch_predict

        if output is not None:
            raise UsageError("--engine ray writes one file per block: give --out-dir DIR, not -o")
        if reporting:
            raise UsageError("--report and --fail-on-drift need the local engine")
        summary = ray_batch_predict(
            inputs,
            model_dir,
            out_dir,
            options,
            RayOptions(ray_address, workers, gpus_per_worker),
            notify=notify,
            on_failure=on_failure,
        )
    else:
        with _row_progress(quiet) as on_rows:
            summary = batch_predict(
                inputs,
                model_dir,
                output=output,
                out_dir=out_dir,
                options=options,
                on_rows=on_rows,
                notify=notify,
                on_failure=on_failure,
            )
    done = [f for f in summary.files if not f.skipped and f.error is None]
    skipped = [f for f in summary.files if f.skipped]
    failed_before = sum(1 for f in skipped if f.failed_before)
    err_console.print(
        f"{len(done)} file(s), {len(skipped)} "
        f"skipped{f' ({failed_before} unchanged since they failed)' if failed_before else ''}, "
        f"{len(summary.failed)} failed, {summary.rows} rows, {summary.bad_rows} bad rows, "
        f"{summary.rows_per_second:,.0f} rows/s on {summary.device}; outputs: "
        f"{', '.join(f.target for f in done) or 'none'}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    if summary.failed:
        from mlc.models.errors import InputError

        names = ", ".join(f.source for f in summary.failed)
        raise InputError(f"{len(summary.failed)} of {len(summary.files)} input(s) not tagged: {names}")
    if reporting:
        _report_run(summary, model_dir, report, tolerance, fail_on_drift, quiet)


def _report_run(
    summary: PredictSummary,
    model_dir: Path,
    target: Path | None,
    tolerance: DriftTolerance,
    fail_on_drift: bool,
    quiet: bool,
) -> None:
    """--report / --fail-on-drift: the report written, its table on stderr, and drift as exit 8 if asked."""
    from mlc.cli.render import report_table
    from mlc.models.errors import DriftError
    from mlc.pipeline.run_report import drift_message, run_report, write_report

    model = summary.model
    data = run_report(
        summary.counts(),
        model_id=model.id,
        model_dir=str(model_dir),
        labels=model.labels,
        training_shares=model.metadata.label_shares,
        seconds=summary.seconds,
        inputs=[{"source": f.source, "output": f.target, "rows": f.rows} for f in summary.files if not f.skipped],
        tolerance=tolerance,
    )
    if target is not None:
        write_report(data, target)
    if not quiet:
        err_console.print(report_table(data))
        if not model.metadata.label_shares:
            err_console.print("no training shares in this model (trained by an older mlc): drift is not checked")
    if data["drift"]:
        if fail_on_drift:
            raise DriftError(drift_message(data))
        err_console.print(f"mlc: warning: {drift_message(data)}", markup=False, highlight=False, soft_wrap=True)


@app.command("enqueue")
def enqueue_command(
    inputs: Annotated[list[str], typer.Argument(help="Files, globs or directories that batch-predict reads.")],
    redis_url: opt.RedisUrl = opt.DEFAULT_REDIS_URL,
    stream: opt.Stream = "mlc:abstracts",
    text_column: opt.TextColumn = None,
    id_column: Annotated[
        str | None, typer.Option(help="Column sent as the message's `id` (default: id if present).")
    ] = None,
    text_field: opt.TextField = "text",
    input_format: opt.InputFormat = None,
    quiet: opt.Quiet = False,
) -> None:
    """Push the rows of files onto a Redis stream, one message per row, in pipelined batches."""
    from mlc.pipeline.redis_queue import enqueue, redact

    with _row_progress(quiet) as on_rows:
        summary = enqueue(
            inputs,
            redis_url,
            stream,
            text_column=text_column,
            id_column=id_column,
            text_field=text_field,
            input_format=input_format,
            on_rows=on_rows,
        )
    err_console.print(
        f"enqueued {summary.messages} messages from {len(summary.files)} file(s) to '{stream}' at {redact(redis_url)}"
        f" ({sum(summary.skipped.values())} rows without text skipped"
        + "".join(f"; {reason}: {count}" for reason, count in sorted(summary.skipped.items()))
        + ")",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


@app.command("consume")
def consume_command(
    redis_url: opt.RedisUrl = opt.DEFAULT_REDIS_URL,
    stream: opt.Stream = "mlc:abstracts",
    group: Annotated[str, typer.Option(envvar="MLC_GROUP", help="Consumer group (created if missing).")] = "taggers",
    consumer: Annotated[str | None, typer.Option(help="This worker's name in the group (default: host-pid).")] = None,
    results_stream: Annotated[
        str, typer.Option(envvar="MLC_RESULTS_STREAM", help="Stream the results are added to.")
    ] = "mlc:tags",
    model_dir: opt.ModelDir = DEFAULT_MODEL_DIR,
    text_field: opt.TextField = "text",
    batch_size: Annotated[int, typer.Option(min=1, help="Messages per batch.")] = 512,
    max_wait_ms: Annotated[int, typer.Option(min=1, help="Longest wait to fill a batch.")] = 1000,
    claim_idle_ms: Annotated[
        int, typer.Option(min=0, help="Take over messages pending this long with another consumer.")
    ] = 60_000,
    claim_interval: Annotated[float, typer.Option(min=0.0, help="Seconds between checks for such messages.")] = 30.0,
    max_deliveries: Annotated[
        int, typer.Option(min=1, help="Dead-letter a message delivered more often than this.")
    ] = 5,
    drain: Annotated[bool, typer.Option(help="Exit 0 once the group has nothing new or pending (for cron).")] = False,
    max_messages: Annotated[int | None, typer.Option(min=1, help="Stop after this many messages.")] = None,
    top_k: Annotated[int, typer.Option(min=1, help="How many top labels, with scores.")] = 3,
    threshold: Annotated[
        float | None, typer.Option(min=0.0, max=1.0, help="Score for `labels` (default: the model's).")
    ] = None,
    log_interval: Annotated[float, typer.Option(min=0.1, help="Seconds between progress lines.")] = 10.0,
    explain: opt.Explain = None,
    reload_interval: Annotated[
        float,
        typer.Option(
            min=0.0, help="Seconds between checks for a new model behind --model-dir (a flipped symlink); SIGHUP: now."
        ),
    ] = 10.0,
) -> None:
    """Tag messages from a Redis stream with a consumer group; results to --results-stream, at least once."""
    from mlc.pipeline.redis_queue import ConsumeOptions, consume, redact

    options = ConsumeOptions(
        stream=stream,
        group=group,
        consumer=consumer or "",
        results_stream=results_stream,
        text_field=text_field,
        batch_size=batch_size,
        max_wait_ms=max_wait_ms,
        claim_idle_ms=claim_idle_ms,
        claim_interval=claim_interval,
        max_deliveries=max_deliveries,
        drain=drain,
        max_messages=max_messages,
        top_k=top_k,
        threshold=threshold,
        log_interval=log_interval,
        explain=explain or 0,
        reload_interval=reload_interval,
    )
    log = lambda line: err_console.print(f"mlc consume: {line}", markup=False, highlight=False, soft_wrap=True)  # noqa: E731
    summary = consume(redis_url, model_dir, options, log=log)
    log(
        f"done: {summary.results} tagged, {summary.dead} dead-lettered, {summary.duplicates} already done "
        f"elsewhere, {summary.claimed} claimed, "
        f"{summary.reconnects} reconnects, {summary.messages_per_second:,.0f} messages/s; results in "
        f"'{results_stream}' at {redact(redis_url)}"
    )


@app.command("explain")
def explain_command(
    texts: Annotated[list[str], typer.Argument(help="Texts to explain, or - to read one text per line from stdin.")],
    model_dir: opt.ModelDir = DEFAULT_MODEL_DIR,
    top_k: Annotated[int, typer.Option(min=1, help="How many top labels to explain.")] = 3,
    terms: Annotated[int, typer.Option("-n", "--terms", min=1, help="N-grams shown for and against each label.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Why a text gets its labels: per top label, the n-grams that raised its score most and those that lowered it."""
    from mlc.cli.render import explanation_tables
    from mlc.models.errors import InputError
    from mlc.models.model import Model
    from mlc.pipeline.readers import text_lines

    if texts == ["-"]:
        texts = text_lines(sys.stdin.buffer, "-")
        if not texts:
            raise InputError("-: no text on standard input (one text per line)")
    for number, text in enumerate(texts, start=1):
        if not text.strip():
            raise InputError(f"text {number}: empty text; nothing to explain")
    model = Model.load(model_dir)
    explained = model.explain_labels(texts, top_k, terms)
    if as_json:

        def terms(pairs: list[tuple[str, float]]) -> list[dict[str, Any]]:
            return [{"term": term, "weight": weight} for term, weight in pairs]

        report = [
            {
                "text": text,
                "labels": [
                    {**label._asdict(), "terms": terms(label.terms), "against": terms(label.against)}
                    for label in labels
                ],
            }
            for text, labels in zip(texts, explained)
        ]
        print(json.dumps(report, ensure_ascii=False, indent=2))
        return
    for number, (text, labels) in enumerate(zip(texts, explained), start=1):
        for table in explanation_tables(number, text, labels):
            console.print(table)


@app.command("info")
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


class _epoch_progress:
    """A rich progress bar over epochs on stderr, handed to the train loop as a plain callback."""

    def __init__(self, epochs: int, quiet: bool) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        show = not quiet and err_console.is_terminal
        self.progress = (
            None
            if not show
            else Progress(
                TextColumn("train"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                console=err_console,
                transient=False,
            )
        )
        self.epochs = epochs

    def __enter__(self):  # type: ignore[no-untyped-def]
        if self.progress is None:
            return None
        task = self.progress.add_task("", total=self.epochs)

        def on_epoch(epoch: int, logs: dict[str, float]) -> None:
            self.progress.start()  # type: ignore[union-attr]  # first epoch: data is read, training runs
            shown = "  ".join(
                f"{k} {v:.4f}" for k, v in logs.items() if k in ("loss", "val_loss", "val_binary_accuracy")
            )
            self.progress.update(task, completed=epoch, description=shown)  # type: ignore[union-attr]

        return on_epoch

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()


def _fold_line(fold: int, folds: int) -> None:
    """One stderr line per cross-fitting model (they train without the epoch bar)."""
    if err_console.is_terminal:
        err_console.print(f"thresholds: cross-fitting model {fold}/{folds} trained")


class _row_progress:
    """A tqdm bar (rows, rows/s) on stderr when it is a terminal."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet

    def __enter__(self):  # type: ignore[no-untyped-def]
        from tqdm import tqdm

        self.bar = tqdm(unit=" rows", unit_scale=True, disable=self.quiet or not sys.stderr.isatty(), file=sys.stderr)
        return self.bar.update

    def __exit__(self, *exc: object) -> None:
        self.bar.close()


def _terminate(signum: int, frame: object) -> None:
    raise Terminated()


def _interrupt_behind(error: BaseException) -> int | None:
    """130 or 143 when `error` was caused by Ctrl-C or SIGTERM: an extension module whose import the signal hit
    raises `ImportError("initialization failed")` from it."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt):
            return EXIT_INTERRUPTED
        if isinstance(seen, Terminated):
            return EXIT_TERMINATED
        seen = seen.__cause__ or seen.__context__
    return None


def _exit_now(code: int) -> None:
    """End an interrupted run with `code` once its temp files and locks are gone, without the interpreter's
    shutdown: a KeyboardInterrupt that passed through `exec`-run code (start-up imports) makes `python -m` kill
    itself with SIGINT at shutdown whatever the exit code, and TensorFlow's threads may still be running then."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main() -> None:
    """Console entry point: run the app, turning expected errors into `mlc: error: ...` and an exit code."""
    signal.signal(signal.SIGTERM, _terminate)
    if signal.getsignal(signal.SIGINT) is exit_at_once:  # from here on Ctrl-C unwinds, removing temp files
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        result = app(standalone_mode=False)
        code = result if isinstance(result, int) else 0
        if code == EXIT_INTERRUPTED:  # Typer turns Ctrl-C into a silent Exit(130)
            err_console.print("mlc: interrupted", markup=False)
    except MlcError as error:
        if _state["debug"]:
            traceback.print_exc()
        err_console.print(f"mlc: error: {error.message}", markup=False, highlight=False, soft_wrap=True)
        code = error.exit_code
    except KeyboardInterrupt:
        err_console.print("mlc: interrupted", markup=False)
        code = EXIT_INTERRUPTED
    except Terminated:
        err_console.print("mlc: terminated (SIGTERM); temp files removed, locks released", markup=False)
        code = EXIT_TERMINATED
    except MemoryError:
        if _state["debug"]:
            traceback.print_exc()
        err_console.print("mlc: error: out of memory; lower --batch-size or allow more memory", markup=False)
        code = EXIT_UNEXPECTED
    except Exception as error:  # noqa: BLE001 - the last line of defence: one line, not a traceback
        # Typer raises the exceptions of the click it runs on (its vendored copy in recent versions), so take
        # the classes from Typer itself rather than importing click.
        click_exception = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
        if isinstance(error, click_exception):
            error.show()
            code = error.exit_code
        elif isinstance(error, typer.Abort):
            err_console.print("mlc: aborted", markup=False)
            code = EXIT_INTERRUPTED
        elif (
            signalled := _interrupt_behind(error)
        ) is not None:  # a library turned Ctrl-C or SIGTERM into its own error
            err_console.print(
                "mlc: interrupted" if signalled == EXIT_INTERRUPTED else "mlc: terminated (SIGTERM)", markup=False
            )
            code = signalled
        else:
            if _state["debug"]:
                traceback.print_exc()
            err_console.print(
                f"mlc: unexpected error: {type(error).__name__}: {' '.join(str(error).split())[:500]} (rerun "
                "with --debug for the traceback)",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
            code = EXIT_UNEXPECTED
    if code in (EXIT_INTERRUPTED, EXIT_TERMINATED):
        _exit_now(code)
    sys.exit(code)


if __name__ == "__main__":
    main()
