"""The glibc allocator setting: on by default where untouched committed memory is free, off under an
address-space limit, forced or refused by MLC_MALLOC_TUNING, never over the user's own MALLOC_TOP_PAD_. And
TensorFlow's BFC CPU allocator: on unless MLC_MALLOC_TUNING=0 or the user's own TF_CPU_ALLOCATOR_USE_BFC."""
from __future__ import annotations

import os
import platform
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from mlc.models.allocator import OVERCOMMIT

THP = Path("/sys/kernel/mm/transparent_hugepage/enabled")
PROBE = "from mlc.models.allocator import tune_allocator; print(tune_allocator(), tune_allocator())"
GIB = 2**30


def probe(data_limit: int | None = None, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in ("MALLOC_TOP_PAD_", "MLC_MALLOC_TUNING")}

    def limit() -> None:
        if data_limit is not None:
            resource.setrlimit(resource.RLIMIT_DATA, (data_limit, data_limit))

    return subprocess.run([sys.executable, "-c", PROBE], env={**clean, **env}, capture_output=True, text=True,
                          check=True, preexec_fn=limit).stdout.strip()


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


TF_PROBE = """
import resource
from mlc.models.tf_runtime import tensorflow
tf = tensorflow()
step = tf.function(lambda n: tf.reduce_sum(tf.fill([n], 1.0)))
step(tf.constant(1 << 24))  # a 64 MB tensor, once, so the allocator has grown
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    step(tf.constant(1 << 24))
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""
PAGES_PER_TENSOR = (1 << 24) * 4 // resource.getpagesize()


def tensor_faults(**env: str) -> int:
    """Minor page faults of ten more 64 MB tensors in a fresh process that imported TensorFlow through mlc. oneDNN's
    ops off: where TensorFlow turns them on by itself (CPUs with AVX-512 VNNI/BF16, e.g. an AMD EPYC VM) they bring
    a caching allocator of their own, and the plain allocator this test compares against is never used (0 faults
    either way there)."""
    clean = {k: v for k, v in os.environ.items() if k not in ("TF_CPU_ALLOCATOR_USE_BFC", "MLC_MALLOC_TUNING")}
    probe_env = {**clean, "TF_ENABLE_ONEDNN_OPTS": "0", **env}
    done = subprocess.run([sys.executable, "-c", TF_PROBE], env=probe_env, capture_output=True, text=True, check=True)
    return int(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(platform.system() != "Linux", reason="page-fault counts as Linux reports them")
@pytest.mark.skipif(THP.exists() and "[always]" in THP.read_text(), reason="huge pages everywhere: 512x fewer faults per tensor")
def test_tensorflow_reuses_its_memory_unless_refused():
    # mlc's default: TensorFlow's BFC allocator keeps the region; the same tensor again costs no new pages
    assert tensor_faults() < PAGES_PER_TENSOR
    # TensorFlow's default allocator maps and unmaps the buffer every time: each tensor faults all its pages in
    assert tensor_faults(MLC_MALLOC_TUNING="0") >= 9 * PAGES_PER_TENSOR
    assert tensor_faults(TF_CPU_ALLOCATOR_USE_BFC="false") >= 9 * PAGES_PER_TENSOR  # the user's own setting wins
