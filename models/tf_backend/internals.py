"""Every non-public TensorFlow and Keras name mlc relies on, in one place, checked when TensorFlow is imported.

They buy speed or let mlc read its own files as data: TensorFlow's CSR sparse-matrix kernels, its fused Adam
update, a TextVectorization's lookup layer, and where Keras keeps the vectorizer's state inside `model.keras`.
"""

from __future__ import annotations

from importlib import metadata
from types import ModuleType
from typing import Any

import numpy as np

from mlc.models.errors import MlcError

CSR_MODULE = "tensorflow.python.ops.linalg.sparse.sparse_csr_matrix_ops"
CSR_OPS = (
    "sparse_tensor_to_csr_sparse_matrix",
    "csr_sparse_matrix_to_sparse_tensor",
    "sparse_matrix_mat_mul",
    "sparse_matrix_transpose",
)
# Inside model.keras: the vectorizer's vocabulary asset and the HDF5 group holding its IDF weights.
VOCABULARY_ASSET = r"assets/layers/[^/]+/_lookup_layer/vocabulary\.txt"
LOOKUP_GROUP = "_lookup_layer"
IDF_VARIABLE = "idf_weights"
_csr: list[ModuleType] = []


class IncompatibleTensorFlow(MlcError):
    """The installed TensorFlow or Keras lacks an internal mlc uses."""


def _missing(what: str) -> IncompatibleTensorFlow:
    versions = ", ".join(f"{name} {_version(name)}" for name in ("tensorflow", "keras"))
    return IncompatibleTensorFlow(
        f"{what} is missing in this installation ({versions}); install the versions pyproject.toml allows"
    )


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "(not installed)"


def check_tensorflow(tf: ModuleType) -> None:
    """Fail at import, naming the versions, if TensorFlow lacks the CSR kernels or the fused Adam op."""
    try:
        import tensorflow.python.ops.linalg.sparse.sparse_csr_matrix_ops as csr
    except ImportError as error:
        raise _missing(CSR_MODULE) from error
    for name in CSR_OPS:
        if not hasattr(csr, name):
            raise _missing(f"{CSR_MODULE}.{name}")
    if not hasattr(tf.raw_ops, "ResourceApplyAdam"):
        raise _missing("tf.raw_ops.ResourceApplyAdam")
    _csr.append(csr)


def check_keras(keras: ModuleType) -> None:
    """Fail at import, naming the versions, if Keras's vectorizer or Adam no longer keep state where mlc reads it."""
    layer = keras.layers.TextVectorization(max_tokens=4, output_mode="tf_idf")
    layer.set_vocabulary(["[UNK]", "mlc"], idf_weights=[1.0, 1.0])
    if not hasattr(getattr(layer, LOOKUP_GROUP, None), IDF_VARIABLE):
        raise _missing(f"TextVectorization.{LOOKUP_GROUP}.{IDF_VARIABLE}")
    optimizer = keras.optimizers.Adam()
    variable = keras.Variable(np.zeros(1, np.float32))
    optimizer.build([variable])
    for name in ("_momentums", "_velocities", "_get_variable_index"):
        if not hasattr(optimizer, name):
            raise _missing(f"keras.optimizers.Adam.{name}")


def csr_ops() -> ModuleType:
    """TensorFlow's CSR sparse-matrix ops (checked by `check_tensorflow`)."""
    if not _csr:
        from mlc.models.tf_backend.runtime import tensorflow

        tensorflow()
    return _csr[0]


def vectorizer_state(layer: Any) -> tuple[list[str], np.ndarray]:
    """Vocabulary and IDF weights of an adapted `tf_idf` TextVectorization layer."""
    vocabulary = [str(token) for token in layer.get_vocabulary()]
    idf = getattr(getattr(layer, LOOKUP_GROUP, None), IDF_VARIABLE, None)
    if idf is None:
        raise ValueError("the TextVectorization layer carries no IDF weights (not output_mode='tf_idf')")
    return vocabulary, np.asarray(idf, dtype=np.float32)[: len(vocabulary)]


def fused_adam(learning_rate: Any, weight_decay: float = 0.0) -> Any:
    """Keras's Adam (AdamW when `weight_decay` > 0) whose per-variable update is TensorFlow's one-pass fused
    kernel instead of about eight element-wise ops; a sparse gradient (the first layer's) updates only its rows."""
    from mlc.models.tf_backend.runtime import tf_keras

    tf, keras = tf_keras()
    base = keras.optimizers.AdamW if weight_decay > 0 else keras.optimizers.Adam

    class FusedAdam(base):  # type: ignore[misc, valid-type]
        def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> Any:
            if self.amsgrad:
                return super().update_step(gradient, variable, learning_rate)
            dtype = variable.dtype
            step = tf.cast(self.iterations + 1, dtype)
            beta_1 = tf.cast(self.beta_1, dtype)
            beta_2 = tf.cast(self.beta_2, dtype)
            index = self._get_variable_index(variable)
            if isinstance(gradient, tf.IndexedSlices):
                return _lazy_adam_rows(
                    tf,
                    gradient,
                    variable,
                    self._momentums[index],
                    self._velocities[index],
                    tf.cast(learning_rate, dtype),
                    beta_1,
                    beta_2,
                    step,
                    tf.cast(self.epsilon, dtype),
                )
            tf.raw_ops.ResourceApplyAdam(
                var=_handle(variable),
                m=_handle(self._momentums[index]),
                v=_handle(self._velocities[index]),
                beta1_power=tf.pow(beta_1, step),
                beta2_power=tf.pow(beta_2, step),
                lr=tf.cast(learning_rate, dtype),
                beta1=beta_1,
                beta2=beta_2,
                epsilon=tf.cast(self.epsilon, dtype),
                grad=tf.cast(gradient, dtype),
                use_locking=False,
            )

    if weight_decay > 0:
        return FusedAdam(learning_rate, weight_decay=weight_decay)
    return FusedAdam(learning_rate)


def _lazy_adam_rows(
    tf: Any, gradient: Any, variable: Any, m: Any, v: Any, lr: Any, beta_1: Any, beta_2: Any, step: Any, epsilon: Any
) -> None:
    """Adam on the rows a sparse gradient names, the others left as they are (as "lazy" Adam does for embeddings):
    the wide first kernel's update costs the batch's rows, not the whole kernel, at every step."""
    rows, where = tf.unique(gradient.indices)
    grad = tf.cond(  # a gather's gradient names each row once already: no summing then
        tf.size(rows) == tf.size(where),
        lambda: gradient.values,
        lambda: tf.math.unsorted_segment_sum(gradient.values, where, tf.size(rows)),
    )
    # gathered through the handle: reading the whole variable would make every scatter below copy it first
    m_rows = (
        beta_1 * tf.raw_ops.ResourceGather(resource=_handle(m), indices=rows, dtype=grad.dtype) + (1 - beta_1) * grad
    )
    v_rows = beta_2 * tf.raw_ops.ResourceGather(resource=_handle(v), indices=rows, dtype=grad.dtype) + (
        1 - beta_2
    ) * tf.square(grad)
    alpha = lr * tf.sqrt(1 - tf.pow(beta_2, step)) / (1 - tf.pow(beta_1, step))
    tf.raw_ops.ResourceScatterUpdate(resource=_handle(m), indices=rows, updates=m_rows)
    tf.raw_ops.ResourceScatterUpdate(resource=_handle(v), indices=rows, updates=v_rows)
    tf.raw_ops.ResourceScatterSub(
        resource=_handle(variable), indices=rows, updates=alpha * m_rows / (tf.sqrt(v_rows) + epsilon)
    )


def _handle(variable: Any) -> Any:
    """The resource handle of a Keras variable (its backing tf.Variable's)."""
    if hasattr(variable, "handle"):
        return variable.handle
    return variable.value.handle
