"""`mlc batch-predict` and `mlc explain`: options in, one call into `mlc.pipeline`, a summary out."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlc.cli import options as opt
from mlc.cli.options import DEFAULT_MODEL_DIR
from mlc.cli.pandas_probe import decline_pandas_probe
from mlc.cli.progress import RATE_LABEL, RunProgress
from mlc.cli.render import console, err_console

if TYPE_CHECKING:
    from mlc.pipeline.batch_predict import PredictSummary
    from mlc.pipeline.run_report import DriftTolerance


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
        str | None,
        typer.Option(help="Id column, always written first (default: id if present, else `row`, the row number)."),
    ] = None,
    keep_columns: Annotated[
        str | None,
        typer.Option(help="Comma-separated input columns copied after the id column ('row' is the row number)."),
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
    backend: opt.Backend = None,
    quiet: opt.Quiet = False,
    progress_interval: Annotated[
        float,
        typer.Option(
            min=0.0, help="Without a terminal (cron, a log): seconds between progress lines on stderr; 0: none."
        ),
    ] = 30.0,
) -> None:
    """Tag files with their top-k labels and probabilities, streaming, in large batches."""
    if engine != "ray":  # Ray Data imports and uses pandas itself
        decline_pandas_probe()
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
        backend=backend,
    )
    tolerance = DriftTolerance.parse(drift_tolerance)
    reporting = options.count_labels
    progress = RunProgress(quiet, progress_interval)

    def on_failure(message: str) -> None:
        err_console.print(f"mlc: error: {message}", markup=False, highlight=False, soft_wrap=True)

    if engine not in ("local", "ray"):
        raise typer.BadParameter(f"'{engine}' is not one of local, ray", param_hint="--engine")
    if engine == "ray":
        from mlc.pipeline.ray_engine import RayOptions, ray_batch_predict

        if output is not None:
            raise UsageError("--engine ray writes one file per block: give --out-dir DIR, not -o")
        summary = ray_batch_predict(
            inputs,
            model_dir,
            out_dir,
            options,
            RayOptions(ray_address, workers, gpus_per_worker),
            notify=progress.notify,
            on_failure=on_failure,
        )
    else:
        with progress:
            summary = batch_predict(
                inputs,
                model_dir,
                output=output,
                out_dir=out_dir,
                options=options,
                on_rows=progress.on_rows,
                notify=progress.notify,
                on_failure=on_failure,
                on_file=progress.on_file,
            )
            progress.finish(summary.rows_per_second, not summary.files or summary.files[-1].error is None)
    done = [f for f in summary.files if not f.skipped and f.error is None]
    skipped = [f for f in summary.files if f.skipped]
    failed_before = sum(1 for f in skipped if f.failed_before)
    err_console.print(
        f"{len(done)} file(s), {len(skipped)} "
        f"skipped{f' ({failed_before} unchanged since they failed)' if failed_before else ''}, "
        f"{len(summary.failed)} failed, {summary.rows} rows, {summary.bad_rows} bad rows, "
        f"{summary.rows_per_second:,.0f} {RATE_LABEL}{f' on {summary.device}' if summary.device else ''}; outputs: "
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
    from mlc.pipeline.run_report import drift_message, write_report

    model = summary.model
    data = summary.report(model_dir, tolerance)
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


def explain_command(
    texts: Annotated[list[str], typer.Argument(help="Texts to explain, or - to read one text per line from stdin.")],
    model_dir: opt.ModelDir = DEFAULT_MODEL_DIR,
    top_k: Annotated[int, typer.Option(min=1, help="How many top labels to explain.")] = 3,
    terms: Annotated[int, typer.Option("-n", "--terms", min=1, help="N-grams shown for and against each label.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    backend: opt.Backend = None,
) -> None:
    """Why a text gets its labels: per top label, the n-grams that raised its score most and those that lowered it."""
    decline_pandas_probe()
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
    model = Model.load(model_dir, backend)
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
