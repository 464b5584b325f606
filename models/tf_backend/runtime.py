"""TensorFlow and Keras, imported lazily and quietly, with Keras pinned to the TensorFlow backend.

Commands that need no model (`--help`, `info`) never pay TensorFlow's start-up; prediction needs TensorFlow
alone (`tensorflow()`), training and Keras model files also Keras (`tf_keras()`).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import numpy as np

from mlc.models.allocator import tensorflow_allocator, tune_allocator
from mlc.models.errors import MlcError
from mlc.models.weights import ALIGNMENT

_loaded: list[tuple[ModuleType, ModuleType]] = []
_tensorflow: list[ModuleType] = []

# What `import tensorflow` imports eagerly for parts mlc never uses: Keras for SavedModel registrations, JAX for
# TFLite conversion (its own ImportError fallbacks cover both).
_DECLINED_IMPORTS = ("keras.src.optimizers", "tf_keras.src.optimizers", "jax")
# What `import keras` imports eagerly for a part mlc never uses: JAX, for its Orbax checkpoint callback (an
# ImportError fallback covers it).
_DECLINED_BY_KERAS = ("jax",)


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Silence native libraries' own lines on stderr (TensorFlow's and Ray's C++ logging bypasses Python's); kept
    with `MLC_DEBUG=1`."""
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


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while TensorFlow or Keras import, and their objects frozen after: later full
    collections then skip the few hundred thousand objects that live as long as the process. The import's own
    garbage is collected first (the youngest generation, where all of it is): its cycles hold frames whose callers'
    frames, frozen, would keep their locals."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.collect(0)
        gc.freeze()
        gc.enable()


@contextlib.contextmanager
def _imports_declined(names: tuple[str, ...]) -> Iterator[None]:
    """The modules `names`, unless loaded already, marked absent in `sys.modules` for the duration: an import of
    one raises ImportError and loads nothing. After, they import as usual."""
    declined = [name for name in names if name not in sys.modules]
    try:
        for name in declined:
            sys.modules[name] = None  # type: ignore[assignment]
        yield
    finally:
        for name in declined:
            if sys.modules.get(name, ...) is None:
                del sys.modules[name]


def tensorflow() -> ModuleType:
    """TensorFlow alone, imported once and quietly, its internals checked (`mlc.models.tf_backend.internals`).

    Unless loaded already, TensorFlow's own eager imports of Keras and JAX are declined: the names are marked absent
    in `sys.modules` for the duration, which it tolerates; `tf_keras()` later imports Keras as usual."""
    if _tensorflow:
        return _tensorflow[0]
    os.environ["KERAS_BACKEND"] = "tensorflow"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    tune_allocator()  # before TensorFlow allocates anything
    tensorflow_allocator()
    with quiet_native_stderr(), _collector_paused():
        with _imports_declined(_DECLINED_IMPORTS):
            import tensorflow as tf
        tf.config.list_physical_devices("GPU")  # the CUDA probe logs here; do it once, quietly
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    from mlc.models.tf_backend.internals import check_tensorflow

    check_tensorflow(tf)
    _tensorflow.append(tf)
    return tf


def tf_keras() -> tuple[ModuleType, ModuleType]:
    """`(tensorflow, keras)`, imported once, quiet, Keras on the TensorFlow backend and its internals checked;
    Keras's eager import of JAX declined as TensorFlow's is."""
    if _loaded:
        return _loaded[0]
    tf = tensorflow()
    warnings.filterwarnings("ignore", module="keras")
    with quiet_native_stderr(), _collector_paused(), _imports_declined(_DECLINED_BY_KERAS):
        import keras
    if keras.backend.backend() != "tensorflow":  # keras was imported earlier with another backend
        raise MlcError(f"Keras is on the '{keras.backend.backend()}' backend; mlc needs KERAS_BACKEND=tensorflow")
    from mlc.models.tf_backend.internals import check_keras

    check_keras(keras)
    _loaded.append((tf, keras))
    return tf, keras


def limit_op_threads(threads: int) -> bool:
    """Cap the threads one TensorFlow op may split its work over (intra-op), before the runtime starts.

    False, changing nothing, when the user set `TF_NUM_INTRAOP_THREADS` or the runtime is already up."""
    if os.environ.get("TF_NUM_INTRAOP_THREADS"):
        return False
    tf = tensorflow()
    try:
        tf.config.threading.set_intra_op_parallelism_threads(max(int(threads), 1))
    except RuntimeError:
        return False
    return True


def gpu_count() -> int:
    """GPUs TensorFlow sees: where a batch runs whole and the first layer walks rows rather than columns."""
    return len(tensorflow().config.list_physical_devices("GPU"))


def device_summary() -> str:
    """'GPU xN' when TensorFlow sees a GPU, else 'CPU': what the user is told predictions run on."""
    gpus = gpu_count()
    return f"GPU x{gpus}" if gpus else "CPU"


def static_pipeline_options() -> object:
    """`tf.data.Options` with autotune off, for pipelines whose parallelism we set ourselves: the autotuner's
    optimiser thread sleeps up to tens of seconds, and destroying an iterator waits for it."""
    tf = tensorflow()
    options = tf.data.Options()
    options.autotune.enabled = False
    return options


def shared_constant(array: np.ndarray) -> Any:
    """A constant tensor of `array`, on a CPU-only machine in the array's own memory (DLPack) when it is float32,
    C-ordered, writeable and 64-byte aligned (`weights.aligned_array`), else a copy. A shared array is made
    read-only, so the tensor cannot change under its users."""
    tf = tensorflow()
    shareable = (
        array.dtype == np.float32
        and array.flags.c_contiguous
        and array.flags.writeable
        and array.ctypes.data % ALIGNMENT == 0
        and not gpu_count()
    )
    if not shareable:
        return tf.constant(array)
    tensor = tf.experimental.dlpack.from_dlpack(array.__dlpack__())
    array.flags.writeable = False
    return tensor


def tensor_view(tensor: Any) -> np.ndarray:
    """An eager CPU tensor's buffer as a read-only numpy array, shared (`.numpy()` copies): it keeps the tensor's
    memory in TensorFlow's allocator, already in the process, instead of adding a copy outside it."""
    array = np.asarray(tensor)
    array.flags.writeable = False
    return array
