"""Options several commands share, defined once. Each may also come from an `MLC_` environment variable."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlc.models.model_dir import default_model_dir

DEFAULT_MODEL_DIR = default_model_dir()  # the same from any directory: $MLC_MODEL_DIR, else a per-user one
ModelDir = Annotated[Path, typer.Option("--model-dir", "-m", envvar="MLC_MODEL_DIR", help="Model directory.")]
TextColumn = Annotated[
    str | None,
    typer.Option(
        envvar="MLC_TEXT_COLUMN",
        help="Text column, or several joined by commas (titles,summaries: their texts joined by a space). Default: "
        "the model's training columns when the input has them, else the first of summaries, abstract, summary, text.",
    ),
]
LabelsColumn = Annotated[
    str | None, typer.Option(help="Labels column (default: first of terms, categories, labels, label).")
]
TitleColumn = Annotated[
    str | None, typer.Option(help="Title column, for dropping duplicate titles (default: titles or title if present).")
]
LabelSep = Annotated[
    str | None,
    typer.Option(
        help="Separator of labels in a plain string cell (default: whitespace); list literals are always read."
    ),
]
InputFormat = Annotated[
    str | None, typer.Option(help="Input format, overriding the file suffix: csv, parquet or jsonl.")
]
Explain = Annotated[
    int | None,
    typer.Option(
        min=1,
        metavar="N",
        help="Add `why`: per top label, the N n-grams of the text that raised its score most, with their weights.",
    ),
]
BatchSize = Annotated[int, typer.Option(envvar="MLC_BATCH_SIZE", min=1, help="Rows per batch.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars; errors and the summary only.")]
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
RedisUrl = Annotated[
    str,
    typer.Option(
        envvar="MLC_REDIS_URL",
        help="Redis URL (redis://[:password@]host:port/db); passwords are never printed.",
        show_default=True,
    ),
]
Stream = Annotated[str, typer.Option(envvar="MLC_STREAM", help="Redis stream of input messages.")]
TextField = Annotated[str, typer.Option(help="Message field that holds the text.")]
Backend = Annotated[
    str | None,
    typer.Option(
        envvar="MLC_BACKEND",
        metavar="NAME",
        help="What scores the texts: tensorflow (default) or jax (CPU or GPU, installed by mlc[jax] or "
        "mlc[jax-cuda]; needs no TensorFlow).",
    ),
]
