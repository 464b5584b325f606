"""`mlc enqueue` and `mlc consume`: the Redis queue's options in, one call into `mlc.pipeline.redis_queue`."""

from __future__ import annotations

from typing import Annotated

import typer

from mlc.cli import options as opt
from mlc.cli.options import DEFAULT_MODEL_DIR
from mlc.cli.pandas_probe import decline_pandas_probe
from mlc.cli.progress import _row_progress
from mlc.cli.render import err_console


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
    decline_pandas_probe()
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
    backend: opt.Backend = None,
) -> None:
    """Tag messages from a Redis stream with a consumer group; results to --results-stream, at least once."""
    decline_pandas_probe()
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
        backend=backend,
    )
    log = lambda line: err_console.print(f"mlc consume: {line}", markup=False, highlight=False, soft_wrap=True)  # noqa: E731
    summary = consume(redis_url, model_dir, options, log=log)
    log(
        f"done: {summary.results} tagged, {summary.dead} dead-lettered, {summary.duplicates} already done "
        f"elsewhere, {summary.claimed} claimed, "
        f"{summary.reconnects} reconnects, {summary.messages_per_second:,.0f} messages/s; results in "
        f"'{results_stream}' at {redact(redis_url)}"
    )
