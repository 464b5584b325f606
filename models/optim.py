"""Adam with TensorFlow's fused update kernel, for the wide first layer.

Keras 3's Adam updates each variable with about eight element-wise ops, each a pass over memory; on the
63k x 512 first-layer kernel that dominated a training step. `ResourceApplyAdam` does the same arithmetic in
one multithreaded pass. The update is Keras's Adam exactly (same bias correction and epsilon placement); a test
checks the weights against `keras.optimizers.Adam` after several steps.
"""
from __future__ import annotations

from typing import Any

from mlc.models.backend import tf_keras


def fused_adam(learning_rate: Any, weight_decay: float = 0.0) -> Any:
    """`keras.optimizers.Adam` (`AdamW` when `weight_decay` > 0, whose decay Keras applies before the update)
    with TensorFlow's fused kernel as the per-variable update."""
    tf, keras = tf_keras()
    base = keras.optimizers.AdamW if weight_decay > 0 else keras.optimizers.Adam

    class FusedAdam(base):  # type: ignore[misc, valid-type]
        def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> Any:
            if self.amsgrad or isinstance(gradient, tf.IndexedSlices):
                return super().update_step(gradient, variable, learning_rate)
            dtype = variable.dtype
            step = tf.cast(self.iterations + 1, dtype)
            beta_1 = tf.cast(self.beta_1, dtype)
            beta_2 = tf.cast(self.beta_2, dtype)
            index = self._get_variable_index(variable)
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


def _handle(variable: Any) -> Any:
    """The resource handle of a Keras variable (its backing tf.Variable's)."""
    if hasattr(variable, "handle"):  # Keras hands the update a tf.Variable
        return variable.handle
    return variable.value.handle
