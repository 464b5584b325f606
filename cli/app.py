"""The `mlc` command: the Typer app and its commands, one thin function each (in `model_commands`,
`tagging_commands`, `queue_commands`); `exits` turns every expected error into one line and an exit code."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from mlc.cli import exits, model_commands, queue_commands, tagging_commands

app = typer.Typer(
    name="mlc",
    help="Tag text (arXiv abstracts first of all) with subject labels, in bulk. Env settings use the MLC_ prefix.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


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
    exits.debug["on"] = debug
    if debug:
        os.environ["MLC_DEBUG"] = "1"


for name, command in (
    ("train", model_commands.train_command),
    ("evaluate", model_commands.evaluate_command),
    ("batch-predict", tagging_commands.batch_predict_command),
    ("enqueue", queue_commands.enqueue_command),
    ("consume", queue_commands.consume_command),
    ("explain", tagging_commands.explain_command),
    ("info", model_commands.info_command),
):
    app.command(name)(command)


def main() -> None:
    """Console entry point."""
    exits.run(app)


if __name__ == "__main__":
    main()
