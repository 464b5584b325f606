"""Fetch a dataset URL once into the cache directory, atomically, with a progress bar."""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

from tqdm import tqdm

from mlc.models.atomic import atomic_path
from mlc.models.errors import NetworkError

DEFAULT_DATA_URL = (
    "https://github.com/soumik12345/multi-label-text-classification/releases/download/v0.2/arxiv_data.csv"
)
CHUNK_BYTES = 1 << 20


def cache_dir() -> Path:
    """`$MLC_CACHE_DIR`, else `$XDG_CACHE_HOME/mlc`, else `~/.cache/mlc`."""
    if os.environ.get("MLC_CACHE_DIR"):
        return Path(os.environ["MLC_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mlc"


def is_url(source: str) -> bool:
    return urlparse(source).scheme in ("http", "https")


def cached_path(url: str) -> Path:
    """Where `url` lives in the cache: its file name behind a short hash of the whole URL."""
    name = Path(urlparse(url).path).name or "download"
    digest = hashlib.sha256(url.encode()).hexdigest()[:12]
    return cache_dir() / f"{digest}-{name}"


def fetch(url: str, *, quiet: bool = False, timeout_s: float = 30.0) -> Path:
    """The cached copy of `url`, downloaded first if absent; offline, a NetworkError that says what to do."""
    target = cached_path(url)
    if target.exists():
        return target
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response, atomic_path(target) as tmp:
            total = int(response.headers.get("Content-Length") or 0) or None
            with (
                open(tmp, "wb") as out,
                tqdm(total=total, unit="B", unit_scale=True, desc=f"download {target.name}", disable=quiet) as bar,
            ):
                while chunk := response.read(CHUNK_BYTES):
                    out.write(chunk)
                    bar.update(len(chunk))
    except (urllib.error.URLError, OSError, TimeoutError) as error:
        reason = getattr(error, "reason", None) or error
        raise NetworkError(
            f"cannot download {url} ({reason}); on a machine without internet pass --data PATH to a local copy"
        ) from error
    return target
