"""TensorFlow's import: Python's collector paused during it, its objects frozen after it, the user's choice kept."""

from __future__ import annotations

import subprocess
import sys

PROBE = (
    "import gc, sys\n"
    "if sys.argv[1] == 'off': gc.disable()\n"
    "from mlc.models.tf_backend.runtime import tensorflow\n"
    "before = gc.get_freeze_count()\n"
    "tf = tensorflow()\n"
    "print(gc.isenabled(), before, gc.get_freeze_count(), int(tf.constant(2) * 3))\n"
)


def probe(mode: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_import_leaves_its_objects_frozen_and_the_collector_on():
    enabled, before, after, six = probe("on")
    assert (enabled, before, six) == ("True", "0", "6")
    assert int(after) > 100_000  # TensorFlow's modules, out of every later full collection's walk


def test_a_collector_turned_off_stays_off_and_nothing_is_frozen():
    assert probe("off") == ["False", "0", "0", "6"]


def test_training_imports_neither_keras_nor_tensorflow_importing_jax_and_jax_imports_after():
    """TensorFlow's and Keras's eager imports of JAX (for parts mlc never uses) are declined, not broken: JAX is
    not loaded by them, and an import of it later works."""
    code = (
        "import sys\n"
        "from mlc.models.tf_backend.runtime import tf_keras\n"
        "tf, keras = tf_keras()\n"
        "print('jax' in sys.modules, keras.callbacks.EarlyStopping.__name__)\n"
        "import jax\n"
        "print(int(jax.numpy.asarray(2) * 3))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "EarlyStopping", "6"]
