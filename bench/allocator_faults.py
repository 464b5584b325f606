"""Minor page faults of ten 64 MB tensors in a fresh process that imported TensorFlow through mlc, with mlc's
allocator setting (TensorFlow's BFC CPU allocator) and without: what the setting saves per batch.

    python bench/allocator_faults.py

oneDNN's ops are off: where TensorFlow turns them on by itself (CPUs with AVX-512 VNNI/BF16) they bring a caching
allocator of their own and the plain allocator is never used. With transparent huge pages set to `always`, each
tensor faults 512x fewer pages.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys

TF_PROBE = """
import resource
from mlc.models.tf_backend.runtime import tensorflow
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
    """Minor page faults of ten more 64 MB tensors after a first one."""
    clean = {k: v for k, v in os.environ.items() if k not in ("TF_CPU_ALLOCATOR_USE_BFC", "MLC_MALLOC_TUNING")}
    probe_env = {**clean, "TF_ENABLE_ONEDNN_OPTS": "0", **env}
    done = subprocess.run([sys.executable, "-c", TF_PROBE], env=probe_env, capture_output=True, text=True, check=True)
    return int(done.stdout.strip().splitlines()[-1])


def main() -> None:
    print(f"pages per tensor: {PAGES_PER_TENSOR:,}")
    for name, env in (
        ("mlc's default (BFC allocator)", {}),
        ("MLC_MALLOC_TUNING=0", {"MLC_MALLOC_TUNING": "0"}),
        ("TF_CPU_ALLOCATOR_USE_BFC=false", {"TF_CPU_ALLOCATOR_USE_BFC": "false"}),
    ):
        print(f"{name}: {tensor_faults(**env):,} minor faults for ten tensors")


if __name__ == "__main__":
    main()
