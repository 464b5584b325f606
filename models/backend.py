"""Import TensorFlow and Keras lazily and always with Keras pinned to the TensorFlow backend.

Commands that need no model (`--help`, `info`) never pay TensorFlow's start-up; those that do call `tf_keras()`.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from types import ModuleType

_loaded: list[tuple[ModuleType, ModuleType]] = []


@contextlib.contextmanager
def _quiet_native_stderr() -> Iterator[None]:
    """Silence TensorFlow's C++ start-up lines (they bypass TF_CPP_MIN_LOG_LEVEL); `MLC_DEBUG=1` keeps them."""
    if os.environ.get("MLC_DEBUG"):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def tf_keras() -> tuple[ModuleType, ModuleType]:
    """`(tensorflow, keras)`, imported once, quiet, Keras on the TensorFlow backend."""
    if _loaded:
        return _loaded[0]
    os.environ["KERAS_BACKEND"] = "tensorflow"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    warnings.filterwarnings("ignore", module="keras")
    with _quiet_native_stderr():
        import tensorflow as tf
        import keras

        tf.config.list_physical_devices("GPU")  # the CUDA probe logs here; do it once, quietly
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    if keras.backend.backend() != "tensorflow":  # keras was imported earlier with another backend
        from mlc.models.errors import MlcError

        raise MlcError(f"Keras is on the '{keras.backend.backend()}' backend; mlc needs KERAS_BACKEND=tensorflow")
    _loaded.append((tf, keras))
    return tf, keras


def device_summary() -> str:
    """'GPU (n)' when TensorFlow sees a GPU, else 'CPU': what the user is told predictions run on."""
    tf, _ = tf_keras()
    gpus = tf.config.list_physical_devices("GPU")
    return f"GPU x{len(gpus)}" if gpus else "CPU"
