"""What a person sees while a command runs: the epoch bar of `mlc train`, the row bar of batch-predict and enqueue."""

from __future__ import annotations

import sys

from mlc.cli.render import err_console


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
