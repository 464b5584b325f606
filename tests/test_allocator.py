"""The glibc allocator setting: applied once on glibc, and left alone when the user opts out or sets it."""
from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

PROBE = "from mlc.models.allocator import tune_allocator; print(tune_allocator(), tune_allocator())"


def probe(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in ("MALLOC_TOP_PAD_", "MLC_MALLOC_TUNING")}
    return subprocess.run([sys.executable, "-c", PROBE], env={**clean, **env}, capture_output=True, text=True, check=True).stdout.strip()


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the setting exists on glibc only")
def test_applied_once_on_glibc_unless_the_user_says_otherwise():
    assert probe() == "True True"
    assert probe(MLC_MALLOC_TUNING="0") == "False False"
    assert probe(MALLOC_TOP_PAD_="1048576") == "False False"
