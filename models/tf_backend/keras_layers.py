"""mlc's one Keras layer, `mlc>TfIdfScaling`, and its standardize function, `mlc>lower_and_split_punctuation`,
registered on import: `import mlc.models.tf_backend.keras_layers` before
`keras.saving.load_model(path, safe_mode=True)` opens any mlc model. The arithmetic is `scaling_ops`'s and `tfidf`'s."""

from __future__ import annotations

from typing import Any

from mlc.models.features import SPLIT_PUNCTUATION
from mlc.models.scaling import CLASS_NAME, EPSILON
from mlc.models.tf_backend.runtime import tf_keras
from mlc.models.tf_backend.scaling_ops import row_scale, sublinear_values
from mlc.models.tf_backend.tfidf import standardize_texts

tf, keras = tf_keras()


@keras.saving.register_keras_serializable(package="mlc", name=SPLIT_PUNCTUATION)
def lower_and_split_punctuation(texts: Any) -> Any:
    """TextVectorization's standardize: lower-case, and punctuation to a space (Keras's own deletes it)."""
    return standardize_texts(texts, SPLIT_PUNCTUATION)


@keras.saving.register_keras_serializable(package="mlc", name=CLASS_NAME)
class TfIdfScaling(keras.layers.Layer):
    """Dense TF-IDF rows in, the same rows with sublinear tf and/or unit L2 norm out. Holds the vectorizer's
    IDF weights (not trained) to recover each count as `value / idf`."""

    def __init__(self, vocabulary_size: int, sublinear: bool = True, normalize: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.vocabulary_size = int(vocabulary_size)
        self.sublinear = bool(sublinear)
        self.normalize = bool(normalize)
        self.idf = self.add_weight(name="idf", shape=(self.vocabulary_size,), initializer="ones", trainable=False)

    def call(self, inputs: Any) -> Any:
        values = inputs
        if self.sublinear:
            idf = tf.maximum(self.idf, EPSILON)
            positive = values > 0
            counts = tf.round(tf.where(positive, values / idf, 1.0))
            values = tf.where(positive, sublinear_values(counts, idf), 0.0)
        if self.normalize:
            values = values * row_scale(tf.reduce_sum(values * values, axis=-1, keepdims=True))
        return values

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "vocabulary_size": self.vocabulary_size,
            "sublinear": self.sublinear,
            "normalize": self.normalize,
        }
