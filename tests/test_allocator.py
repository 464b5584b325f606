"""The glibc allocator setting: on by default where untouched committed memory is free, off under an
address-space limit, forced or refused by MLC_MALLOC_TUNING, never over the user's own MALLOC_TOP_PAD_. And
TensorFlow's BFC CPU allocator: on unless MLC_MALLOC_TUNING=0 or the user's own TF_CPU_ALLOCATOR_USE_BFC."""

from __future__ import annotations

import importlib.util
import os
import platform
import resource
import subprocess
import sys

import pytest

from mlc.models.allocator import OVERCOMMIT

PROBE = "from mlc.models.allocator import tune_allocator; print(tune_allocator(), tune_allocator())"
GIB = 2**30


def probe(data_limit: int | None = None, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in ("MALLOC_TOP_PAD_", "MLC_MALLOC_TUNING")}

    def limit() -> None:
        if data_limit is not None:
            resource.setrlimit(resource.RLIMIT_DATA, (data_limit, data_limit))

    return subprocess.run(
        [sys.executable, "-c", PROBE],
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=True,
        preexec_fn=limit,
    ).stdout.strip()


def _unlimited_here() -> bool:
    strict = OVERCOMMIT.exists() and OVERCOMMIT.read_text().strip() == "2"
    limits = [resource.getrlimit(getattr(resource, n))[0] for n in ("RLIMIT_DATA", "RLIMIT_AS")]
    return not strict and all(soft == resource.RLIM_INFINITY for soft in limits)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the setting exists on glibc only")
def test_padding_follows_the_limits_and_the_setting():
    if _unlimited_here():
        assert probe() == "True True"  # the default: pad, applied once
    assert probe(data_limit=2 * GIB) == "False False"  # a padded arena would count against the limit (test_load)
    assert probe(data_limit=2 * GIB, MLC_MALLOC_TUNING="1") == "True True"  # the user asked for it
    assert probe(MLC_MALLOC_TUNING="0") == "False False"
    assert probe(MLC_MALLOC_TUNING="1", MALLOC_TOP_PAD_="1048576") == "False False"  # the user's own glibc setting


BFC_PROBE = (
    "import os; from mlc.models.tf_backend.runtime import tensorflow; tensorflow(); "
    "print(os.environ.get('TF_CPU_ALLOCATOR_USE_BFC'))"
)


def bfc_setting(**env: str) -> str:
    """What TensorFlow reads as TF_CPU_ALLOCATOR_USE_BFC in a process that imported it through mlc."""
    clean = {k: v for k, v in os.environ.items() if k not in ("TF_CPU_ALLOCATOR_USE_BFC", "MLC_MALLOC_TUNING")}
    done = subprocess.run(
        [sys.executable, "-c", BFC_PROBE], env={**clean, **env}, capture_output=True, text=True, check=True
    )
    return done.stdout.strip().splitlines()[-1]


def test_tensorflow_gets_its_bfc_allocator_unless_refused():
    """mlc asks for TensorFlow's BFC CPU allocator (it keeps a batch's memory for the next; bench/allocator_faults.py
    counts the page faults it saves), leaves the user's own setting alone, and MLC_MALLOC_TUNING=0 turns it off."""
    assert bfc_setting() == "true"
    assert bfc_setting(MLC_MALLOC_TUNING="0") == "None"
    assert bfc_setting(TF_CPU_ALLOCATOR_USE_BFC="false") == "false"


ARENA_PROBE = """
import ctypes, sys, threading
if sys.argv[1] == "jax":
    import mlc.models.jax_backend.scorer  # noqa: F401  what sets the arenas, when the backend is imported


def work():
    blocks = [ctypes.create_string_buffer(1 << 16) for _ in range(50)]
    barrier.wait()  # every thread holds memory at once: glibc gives each its own arena where it may
    del blocks


ctypes.CDLL(None).malloc_stats()  # one "Arena N:" block per arena, on stderr
sys.stderr.flush()
print("threads", file=sys.stderr, flush=True)
barrier = threading.Barrier(4)
threads = [threading.Thread(target=work) for _ in range(4)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
ctypes.CDLL(None).malloc_stats()
"""


def new_malloc_arenas(backend: str, **env: str) -> int:
    """How many glibc arenas four threads allocating at once added to a process, with or without the JAX backend."""
    clean = {k: v for k, v in os.environ.items() if k not in ("MALLOC_ARENA_MAX", "MLC_MALLOC_TUNING")}
    done = subprocess.run(
        [sys.executable, "-c", ARENA_PROBE, backend], env={**clean, **env}, capture_output=True, text=True, check=True
    )
    before, after = done.stderr.split("threads\n")
    return after.count("Arena ") - before.count("Arena ")


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the setting exists on glibc only")
def test_the_jax_backend_keeps_its_threads_on_one_malloc_arena():
    """Importing the JAX backend stops glibc making arenas (a batch's temporaries reuse the heaps there are);
    without it new threads get arenas of their own; MLC_MALLOC_TUNING=0 or the user's MALLOC_ARENA_MAX leave it."""
    # looked for, not imported: JAX's threads would make this worker's later forks unsafe
    if importlib.util.find_spec("jax") is None:
        pytest.skip("the jax backend needs JAX: pip install 'mlc[jax]'")
    assert new_malloc_arenas("none") > 0
    assert new_malloc_arenas("jax") == 0
    assert new_malloc_arenas("jax", MLC_MALLOC_TUNING="0") > 0
    assert new_malloc_arenas("jax", MALLOC_ARENA_MAX="8") > 0
