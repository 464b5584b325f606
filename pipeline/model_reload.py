"""A long-running consumer's model, reloaded when what its path leads to changes (a flipped symlink, a directory
renamed over): loaded and warmed beside the serving one in a background thread and switched in between batches.
A model that cannot be loaded is logged once, and the serving one goes on."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from mlc.models.errors import MlcError
from mlc.models.model import Model
from mlc.models.model_dir import REQUIRED_FILES, read_metadata


class ModelWatcher:
    """`poll()` between batches returns a newly loaded model to switch to, or None; `request()` (SIGHUP) asks
    for a check at the next poll instead of waiting for `interval` seconds."""

    def __init__(
        self,
        path: Path,
        model: Model,
        warm: Callable[[Model], None],
        interval: float,
        log: Callable[[str], None],
    ) -> None:
        self.path, self.current, self.warm, self.interval, self.log = Path(path), model, warm, interval, log
        self._checked = time.monotonic()
        self._requested = False
        self._refused: set[str] = set()  # ids (or errors) already logged: once each
        self._loading: threading.Thread | None = None
        self._ready: tuple[Model, float] | None = None
        self._seen = _signature(self.path)

    def request(self) -> None:
        self._requested = True

    def poll(self) -> Model | None:
        if self._ready is not None:
            (model, seconds), self._ready = self._ready, None
            old, self.current = self.current, model
            self.log(f"model {old.id} -> {model.id} (loaded from {self.path} in {seconds:.2f}s, beside the old one)")
            return model
        if self._loading is not None and self._loading.is_alive():
            return None
        if not self._requested and time.monotonic() - self._checked < self.interval:
            return None
        self._requested, self._checked = False, time.monotonic()
        seen = _signature(self.path)
        if seen == self._seen:  # the same directory, its files untouched: nothing to read
            return None
        self._seen = seen
        try:
            found = read_metadata(self.path)[0].model_id
        except MlcError as error:
            self._refuse(error.message, error.message)
            return None
        if found != self.current.id and found not in self._refused:
            self._loading = threading.Thread(target=self._load, args=(found,), name="mlc-model-reload", daemon=True)
            self._loading.start()
        return None

    def _load(self, expected: str) -> None:
        """In the background thread: load and warm, then hand the model to the next `poll`."""
        started = time.perf_counter()
        try:
            model = Model.load(self.path, self.current.backend)
            self.warm(model)
        except MlcError as error:
            self._refuse(expected, error.message)
            return
        except Exception as error:  # a broken model must never stop a consumer that has a working one
            self._refuse(expected, f"{type(error).__name__}: {error}")
            return
        if model.id == self.current.id:
            return
        self._ready = (model, time.perf_counter() - started)

    def _refuse(self, key: str, reason: str) -> None:
        if key not in self._refused:
            self._refused.add(key)
            reason = " ".join(reason.split())[:300]
            self.log(f"model at {self.path} not loaded ({reason}); still serving {self.current.id}")


def _signature(path: Path) -> tuple | None:
    """Where the path leads and the identity of the model's files: cheap to take, and it changes whenever a
    symlink is flipped, a directory renamed over, or a file rewritten."""
    try:
        target = path.resolve()
        files = [(target / name).stat() for name in REQUIRED_FILES]
    except OSError:
        return None
    return (str(target), *[(st.st_ino, st.st_mtime_ns, st.st_size) for st in files])
