"""The Keras example's model, in data-flow order: vectorizer, MLP, and the end-to-end model that is saved."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mlc.models.backend import static_pipeline_options, tf_keras
from mlc.models.features import vectorizer_state
from mlc.models.scaling import Scaling, make_layer
from mlc.models.sparse_ops import plain_dense, sparse_input_dense

HIDDEN_UNITS = (512, 256)


def vocabulary_size(texts: Sequence[str]) -> int:
    """The example's `max_tokens`: distinct lower-cased whitespace tokens of the training text."""
    vocabulary: set[str] = set()
    for text in texts:
        vocabulary.update(text.lower().split())
    return len(vocabulary)


def make_vectorizer(texts: Sequence[str], max_tokens: int, *, split_punctuation: bool = False, batch_size: int = 1024) -> Any:
    """`TextVectorization(max_tokens, ngrams=2, output_mode="tf_idf")` adapted on the training texts; with
    `split_punctuation`, standardized by mlc's registered `lower_and_split_punctuation` instead of Keras's own."""
    tf, keras = tf_keras()
    standardize: Any = "lower_and_strip_punctuation"
    if split_punctuation:
        from mlc.models.layers import lower_and_split_punctuation

        standardize = lower_and_split_punctuation
    layer = keras.layers.TextVectorization(max_tokens=max_tokens, ngrams=2, output_mode="tf_idf", standardize=standardize, name="vectorizer")
    layer.adapt(tf.data.Dataset.from_tensor_slices(list(texts)).batch(batch_size).with_options(static_pipeline_options()))
    return layer


def make_mlp(n_features: int, n_labels: int, dropout: float = 0.0, *, stock: bool = False) -> Any:
    """Dense 512 ReLU, Dense 256 ReLU, Dense n_labels sigmoid, on sparse TF-IDF input (Dropout after each hidden
    layer when `dropout` > 0; it does nothing at inference). The first layer trains with a CSR matmul unless
    `stock` (the benchmark's baseline) asks for Keras's own Dense."""
    _, keras = tf_keras()
    features = keras.Input(shape=(n_features,), sparse=True, name="tfidf")
    hidden = features
    for i, units in enumerate(HIDDEN_UNITS):
        layer = sparse_input_dense if i == 0 and not stock else keras.layers.Dense
        hidden = layer(units, activation="relu", name=f"dense_{i}")(hidden)
        if dropout > 0:
            hidden = keras.layers.Dropout(dropout, name=f"dropout_{i}")(hidden)
    probabilities = keras.layers.Dense(n_labels, activation="sigmoid", name="probabilities")(hidden)
    return keras.Model(features, probabilities, name="mlp")


def make_end_to_end(vectorizer: Any, mlp: Any, scaling: Scaling | None = None) -> Any:
    """Raw strings in, label probabilities out: the vectorizer, the TF-IDF scaling when `scaling` is active,
    then the MLP's own layers (shared weights).

    Built from the layers, not the compiled MLP, so the saved file holds weights only, no optimizer state; the
    first layer, trained with a sparse-aware matmul, is saved as a stock Dense with its weights.
    """
    _, keras = tf_keras()
    texts = keras.Input(shape=(), dtype="string", name="text")
    hidden = vectorizer(texts)
    if scaling is not None and scaling.active:
        hidden = make_layer(vectorizer_state(vectorizer)[1], scaling)(hidden)
    for i, layer in enumerate(mlp.layers[1:]):
        hidden = (plain_dense(layer) if i == 0 and type(layer) is not keras.layers.Dense else layer)(hidden)
    return keras.Model(texts, hidden, name="mlc_end_to_end")
