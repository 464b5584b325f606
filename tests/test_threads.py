"""TensorFlow's intra-op threads for batch-predict: one per op while batches run side by side on every core, the
user's TF_NUM_INTRAOP_THREADS always kept. Each case is a fresh interpreter: TensorFlow fixes the setting when
its runtime starts, so the probe must set it before any tensor exists."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mlc.models.cores import usable_cores
from mlc.models.tf_backend.runner import op_threads

PROBE = """
import sys
from mlc.models.tf_backend.runtime import limit_op_threads, tf_keras
first = limit_op_threads(int(sys.argv[1]))
tf, _ = tf_keras()
tf.constant(1.0) + 1.0  # the runtime is up now
again = limit_op_threads(int(sys.argv[1]) + 1)
print(first, again, tf.config.threading.get_intra_op_parallelism_threads())
"""


def probe(threads: int, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k != "TF_NUM_INTRAOP_THREADS"}
    return (
        subprocess.run(
            [sys.executable, "-c", PROBE, str(threads)],
            env={**clean, **env},
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        .stdout.strip()
        .splitlines()[-1]
    )


def test_set_before_the_runtime_starts_and_never_after():
    assert probe(1) == "True False 1"
    assert probe(3) == "True False 3"


def test_the_users_own_setting_wins():
    assert probe(1, TF_NUM_INTRAOP_THREADS="2") == "False False 0"  # 0: TensorFlow reads the variable itself


@pytest.mark.parametrize("parallel", [1, 2, 3, 8, 100])
def test_batches_in_flight_times_op_threads_cover_the_cores(parallel):
    threads = op_threads(parallel)
    assert threads >= 1
    assert parallel * threads >= usable_cores()  # no core left idle
    assert parallel * (threads - 1) < usable_cores()  # and no more threads than that needs
