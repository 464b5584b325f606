"""What a person sees while a command runs: `mlc train`'s steps and epochs, batch-predict's bar and log lines,
enqueue's row count."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlc.cli.render import err_console

if TYPE_CHECKING:
    from mlc.pipeline.input_size import InputSize


class TrainProgress:
    """`mlc train` on stderr, so no phase is silent. On a terminal: a line per step as it starts (time since the
    command began), and below them one live line for the step under way, its spinner and time, which becomes the
    epoch bar while a network trains. Without a terminal: a line per step once it is done, with its duration, so a
    run that fails still ends in its one error line. Nothing with `quiet`."""

    def __init__(self, epochs: int, quiet: bool, terminal: bool | None = None) -> None:
        self.epochs, self.quiet = epochs, quiet
        self.terminal = err_console.is_terminal if terminal is None else terminal
        self.started = time.monotonic()
        self.current: tuple[str, float] | None = None
        self.live: Any = None
        self.task: Any = None

    def __enter__(self) -> TrainProgress:
        if not self.quiet and self.terminal:
            from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self.live = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                TimeElapsedColumn(),
                console=err_console,
                transient=True,
            )
            self.task = self.live.add_task("starting", total=None)
            self.live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.stop()
        elif exc[0] is None:
            self.done()

    def step(self, name: str) -> None:
        """A step starts (`on_step`)."""
        now = time.monotonic()
        if self.live is not None:
            self._print(f"[{_clock(now - self.started)}] {name}")
            self.live.reset(self.task, total=None, description=name)
        elif self.terminal:
            self._print(f"[{_clock(now - self.started)}] {name}")
        else:
            self.done()
        self.current = (name, now)

    def epoch(self, epoch: int, logs: dict[str, float]) -> None:
        """An epoch ended (`on_epoch`): the live line shows it as a bar, under the step's name."""
        if self.live is None:
            return
        shown = "  ".join(f"{k} {v:.4f}" for k, v in logs.items() if k in ("loss", "val_loss", "val_binary_accuracy"))
        name = self.current[0].split(":")[0] if self.current else "network"
        self.live.update(
            self.task, total=self.epochs, completed=epoch, description=f"{name}: epoch {epoch}/{self.epochs}  {shown}"
        )

    def done(self) -> None:
        """Without a terminal: the step under way has ended; its line, with how long it took."""
        if self.current is not None and not self.terminal:
            name, began = self.current
            now = time.monotonic()
            self._print(f"[{_clock(now - self.started)}] {name}: done in {now - began:.1f}s")
        self.current = None

    def _print(self, line: str) -> None:
        if not self.quiet:
            err_console.print(line, markup=False, highlight=False, soft_wrap=True)


class _row_progress:
    """A tqdm bar (rows, rows/s) on stderr when it is a terminal (`mlc enqueue`)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet

    def __enter__(self):  # type: ignore[no-untyped-def]
        from tqdm import tqdm

        self.bar = tqdm(unit=" rows", unit_scale=True, disable=self.quiet or not sys.stderr.isatty(), file=sys.stderr)
        return self.bar.update

    def __exit__(self, *exc: object) -> None:
        self.bar.close()


RATE_LABEL = "rows/s overall"  # rows over the wall time since the model was loaded: bar, summary and report alike


class RunProgress:
    """batch-predict's progress on stderr. On a terminal: one rich bar for the current file, with its total and
    time left when the input's size is known, and messages printed above it. Elsewhere (cron, a log file): one
    plain line every `interval` seconds (0: none). `quiet`: nothing but errors."""

    def __init__(self, quiet: bool, interval: float, terminal: bool | None = None) -> None:
        self.quiet, self.interval = quiet, interval
        self.terminal = err_console.is_terminal if terminal is None else terminal
        self.started = time.monotonic()
        self.rows = 0
        self.file_rows = 0
        self.size: InputSize | None = None
        self.source = ""
        self.file_started = self.started
        self.last_line = self.started
        self.begun = False
        self.bar: Any = None
        self.task: Any = None

    def __enter__(self) -> RunProgress:
        return self

    def _start_bar(self) -> None:
        """The bar appears with the first file, once the model is loaded: nothing pulses during start-up."""
        if not self.quiet and self.terminal:
            from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TaskProgressColumn(),
                TextColumn("{task.fields[rows]} rows  {task.fields[rate]} " + RATE_LABEL),
                TextColumn("[progress.elapsed]{task.fields[elapsed]}"),
                TimeRemainingColumn(),
                console=err_console,
                transient=False,
            )
            self.task = self.bar.add_task("", total=None, rows="0", rate="0", elapsed="0:00:00", start=False)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def notify(self, message: str) -> None:
        """A message line: above the bar on a terminal, as it is elsewhere."""
        if not self.quiet:
            err_console.print(message, markup=False, highlight=False, soft_wrap=True)

    def on_file(self, source: str, size: InputSize) -> None:
        self.source, self.size, self.file_rows = source, size, 0
        self.file_started = time.monotonic()
        if not self.begun:  # the first file: the rate counts from here, as the summary's does
            self.begun = True
            self.started = self.last_line = self.file_started
            self._start_bar()
        if self.bar is not None:
            total = size.total if size.total else None
            self.bar.reset(self.task, total=total, description=Path(source).name or source)
            self._refresh()
            self.bar.start()  # drawn from the first file on; again for the next one, a no-op

    def on_rows(self, rows: int) -> None:
        self.rows += rows
        self.file_rows += rows
        if self.bar is not None:
            self._refresh()
        elif not self.quiet and self.interval > 0 and time.monotonic() - self.last_line >= self.interval:
            self.last_line = time.monotonic()
            err_console.print(self.line(), markup=False, highlight=False, soft_wrap=True)

    def finish(self, rows_per_second: float, last_file_done: bool = True) -> None:
        """The bar's last state shows the run's rate as the summary and the report give it, and the last file as
        done when it was tagged to its end."""
        if self.bar is not None:
            total = self.size.total if self.size is not None else None
            done = (
                {"completed": total} if total and last_file_done else {}
            )  # read to its end: a gzip trailer is not counted as read
            self.bar.update(
                self.task, rate=_short(rows_per_second), elapsed=_clock(time.monotonic() - self.started), **done
            )

    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.rows / elapsed if elapsed > 0 else 0.0

    def line(self) -> str:
        """The plain progress line: rows so far, this file's share done and time left where known, the rate."""
        now = time.monotonic()
        elapsed = now - self.started
        parts = [f"progress: {self.source}: {self.file_rows:,} rows"]
        done, total = self._done(), self.size.total if self.size else None
        if total and done is not None:
            share = min(done / total, 1.0)
            parts.append(f"{share:.0%} of its {total:,} {self.size.unit}")  # type: ignore[union-attr]
            if 0 < share < 1:
                parts.append(f"about {_clock((now - self.file_started) * (1 - share) / share)} left")
        parts.append(f"{self.rows:,} rows in all, {self.rate():,.0f} {RATE_LABEL}, {_clock(elapsed)} elapsed")
        return ", ".join(parts)

    def _done(self) -> int | None:
        return self.size.done(self.file_rows) if self.size is not None else None

    def _refresh(self) -> None:
        done, total = self._done(), self.size.total if self.size else None
        fields = {
            "rows": f"{self.file_rows:,}",
            "rate": _short(self.rate()),
            "elapsed": _clock(time.monotonic() - self.started),
        }
        if total and done is not None:
            self.bar.update(self.task, completed=min(done, total), **fields)
        else:
            self.bar.update(self.task, **fields)


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _short(rate: float) -> str:
    return f"{rate / 1000:.1f}k" if rate >= 10_000 else f"{rate:,.0f}"
