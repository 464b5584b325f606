"""The glibc allocator setting: opt-in, applied once on glibc, never over the user's own setting."""
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
def test_opt_in_applied_once_on_glibc_and_never_over_the_users_own_setting():
    assert probe() == "False False"  # off by default: it broke thread creation under a 2 GiB RLIMIT_DATA
    assert probe(MLC_MALLOC_TUNING="1") == "True True"
    assert probe(MLC_MALLOC_TUNING="1", MALLOC_TOP_PAD_="1048576") == "False False"
