"""The Keras example's MLP, built and trained on sparse TF-IDF batches: vectorizer, Dense 512 -> 256 -> labels.

Keras runs the fit loop and early stopping; the vocabulary, IDF and TF-IDF rows come from numpy (as Keras's
TextVectorization computes them). The result leaves as numpy (`MlpFit`), so nothing downstream holds a Keras object.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlc.models.features import SPLIT_PUNCTUATION
from mlc.models.targets import label_vocabulary, multi_hot
from mlc.models.tf_backend.internals import fused_adam
from mlc.models.tf_backend.logistic_head import head_unit_count
from mlc.models.tf_backend.runtime import static_pipeline_options, tensorflow, tf_keras
from mlc.models.tf_backend.sparse_ops import sparse_input_dense, tf_variable
from mlc.models.train_config import TrainConfig
from mlc.models.vectorizer import NgramVectorizer, SparseRows
from mlc.models.vocabulary import learn_vocabulary
from mlc.models.weights import DenseWeights, ModelWeights, aligned_array

HIDDEN_UNITS = (512, 256)
ACTIVATIONS = ("relu", "relu", "sigmoid")
EpochHook = Callable[[int, dict[str, float]], None]
StepHook = Callable[[str], None]  # told what training starts doing next, for progress


@dataclass
class MlpFit:
    """A trained MLP as numpy: its vectorizer's state, the three Dense layers (best epoch), and how training went."""

    vectorizer: dict[str, Any]
    vocabulary: list[str]
    idf: np.ndarray
    dense: list[tuple[np.ndarray, np.ndarray]]
    labels: list[str]
    history: dict[str, list[float]]
    best_epoch: int
    epochs_run: int

    @property
    def max_tokens(self) -> int:
        return int(self.vectorizer["max_tokens"])

    def weights(self, dense: Sequence[tuple[np.ndarray, np.ndarray]], scaling: Any) -> ModelWeights:
        """End-to-end weights with this vectorizer and the given Dense (kernel, bias) pairs."""
        return ModelWeights(
            vectorizer=dict(self.vectorizer),
            vocabulary=self.vocabulary,
            idf=self.idf,
            dense=[DenseWeights(k, b, a) for (k, b), a in zip(dense, ACTIVATIONS)],
            scaling=scaling,
        )


def vocabulary_size(texts: Sequence[str]) -> int:
    """The example's `max_tokens`: distinct lower-cased whitespace tokens of the training text."""
    vocabulary: set[str] = set()
    for text in texts:
        vocabulary.update(text.lower().split())
    return len(vocabulary)


def make_vectorizer(
    texts: Sequence[str], max_tokens: int, *, split_punctuation: bool = False, batch_size: int = 1024
) -> Any:
    """Keras's own `TextVectorization(max_tokens, ngrams=2, output_mode="tf_idf")` adapted on the texts (the
    example's way; `learn_vocabulary` gives its vocabulary and IDF faster); `split_punctuation` as in `mlc train`."""
    tf, keras = tf_keras()
    standardize: Any = "lower_and_strip_punctuation"
    if split_punctuation:
        from mlc.models.tf_backend.keras_layers import lower_and_split_punctuation

        standardize = lower_and_split_punctuation
    layer = keras.layers.TextVectorization(
        max_tokens=max_tokens, ngrams=2, output_mode="tf_idf", standardize=standardize, name="vectorizer"
    )
    layer.adapt(
        tf.data.Dataset.from_tensor_slices(list(texts)).batch(batch_size).with_options(static_pipeline_options())
    )
    return layer


def make_mlp(n_features: int, n_labels: int, dropout: float = 0.0) -> Any:
    """Dense 512 ReLU, Dense 256 ReLU, Dense n_labels sigmoid on sparse TF-IDF input, Dropout after each hidden
    layer when `dropout` > 0. The first layer trains with a CSR matmul (`sparse_input_dense`)."""
    _, keras = tf_keras()
    features = keras.Input(shape=(n_features,), sparse=True, name="tfidf")
    hidden = features
    for i, units in enumerate(HIDDEN_UNITS):
        layer = sparse_input_dense if i == 0 else keras.layers.Dense
        hidden = layer(units, activation="relu", name=f"dense_{i}")(hidden)
        if dropout > 0:
            hidden = keras.layers.Dropout(dropout, name=f"dropout_{i}")(hidden)
    probabilities = keras.layers.Dense(n_labels, activation="sigmoid", name="probabilities")(hidden)
    return keras.Model(features, probabilities, name="mlp")


def train_mlp(
    train_texts: Sequence[str],
    train_labels: Sequence[Sequence[str]],
    val_texts: Sequence[str],
    val_labels: Sequence[Sequence[str]],
    config: TrainConfig,
    on_epoch: EpochHook | None = None,
    on_step: StepHook = lambda step: None,
) -> tuple[MlpFit, SparseRows]:
    """Fit the example's model, early-stopped on validation loss with the best epoch's weights restored. Returns the
    fit and the training rows' TF-IDF (CSR), which the logistic head trains on as well."""
    tf, keras = tf_keras()
    keras.utils.set_random_seed(config.seed)
    labels = label_vocabulary(train_labels)
    on_step(f"vocabulary of {len(train_texts):,} training rows")
    max_tokens = config.max_tokens or vocabulary_size(train_texts)
    settings = training_vectorizer_settings(max_tokens, config.split_punctuation)
    vocabulary, idf = learn_vocabulary(train_texts, settings, max_tokens)
    features = NgramVectorizer(settings, vocabulary, idf, config.scaling)
    mlp = make_mlp(features.width, len(labels), config.dropout)
    learning_rate: Any = config.learning_rate
    if config.lr_schedule == "cosine":
        steps = config.epochs * -(-len(train_texts) // config.batch_size)
        learning_rate = keras.optimizers.schedules.CosineDecay(config.learning_rate, decay_steps=steps)
    mlp.compile(
        optimizer=fused_adam(learning_rate, config.weight_decay),
        loss="binary_crossentropy",
        metrics=["binary_accuracy"],
    )
    on_step(f"TF-IDF rows ({len(vocabulary):,} n-grams)")
    train_rows = vectorize(features, train_texts)
    on_step(f"network: up to {config.epochs} epochs")
    spare = head_unit_count(len(labels), config)  # room in the first kernel's copy for the head's units
    best = _BestWeights(keras, spare)
    callbacks: list[Any] = [keras.callbacks.EarlyStopping(monitor="val_loss", patience=config.patience), best]
    if on_epoch is not None:
        callbacks.append(_EpochCallback(keras, on_epoch))
    width = features.width
    fitted = mlp.fit(
        training_dataset(train_rows, width, multi_hot(train_labels, labels), config.batch_size, config.seed),
        validation_data=training_dataset(
            vectorize(features, val_texts), width, multi_hot(val_labels, labels), config.batch_size, None
        ),
        epochs=config.epochs,
        callbacks=callbacks,
        shuffle=False,  # the dataset shuffles itself each epoch; Keras would ignore True and warn
        verbose=0,
    )
    history = {name: [float(v) for v in values] for name, values in fitted.history.items()}
    val_loss = history.get("val_loss", [])
    epochs_run = len(history.get("loss", []))
    dense = best.dense or _dense_weights(keras, mlp, spare)
    del mlp, fitted, callbacks, best  # the model, its optimizer's moments and the callbacks that hold it: freed here
    gc.collect()
    fit = MlpFit(
        settings,
        vocabulary,
        idf,
        dense,
        labels,
        history,  # type: ignore[arg-type]
        best_epoch=int(np.argmin(val_loss)) + 1 if val_loss else epochs_run,
        epochs_run=epochs_run,
    )
    return fit, train_rows


def training_dataset(
    rows: SparseRows, width: int, targets: np.ndarray, batch_size: int, shuffle_seed: int | None
) -> Any:
    """(sparse TF-IDF [batch, width], multi-hot) batches of rows vectorised once, reshuffled each epoch when
    `shuffle_seed` is given; autotune off, as in prediction. Row numbers are shuffled and each batch gathers its rows'
    entries from the CSR arrays, so the pipeline holds the rows once, at 8 bytes an entry."""
    tf = tensorflow()
    indptr, columns, values = tf.constant(rows.indptr), tf.constant(rows.columns), tf.constant(rows.values)
    targets = tf.constant(targets, tf.float32)

    def rows_of(ids: Any) -> tuple[Any, Any]:
        starts, ends = tf.gather(indptr, ids), tf.gather(indptr, ids + 1)
        entries = tf.ragged.range(starts, ends).flat_values
        batch_rows = tf.repeat(tf.range(tf.size(ids, out_type=tf.int64)), ends - starts)
        indices = tf.stack([batch_rows, tf.cast(tf.gather(columns, entries), tf.int64)], axis=1)
        shape = tf.stack([tf.size(ids, out_type=tf.int64), tf.constant(width, tf.int64)])
        return tf.SparseTensor(indices, tf.gather(values, entries), shape), tf.gather(targets, ids)

    order = tf.data.Dataset.range(rows.n_rows)
    if shuffle_seed is not None:
        order = order.shuffle(rows.n_rows, seed=shuffle_seed, reshuffle_each_iteration=True)
    return order.batch(batch_size).map(rows_of).prefetch(2).with_options(static_pipeline_options())


def vectorize(features: NgramVectorizer, texts: Sequence[str], chunk: int = 8192) -> SparseRows:
    """All rows' TF-IDF in CSR form, vectorised in chunks of rows (bounded scratch memory)."""
    parts = [features(texts[i : i + chunk]) for i in range(0, len(texts), chunk)]
    lengths = np.concatenate([part.row_lengths for part in parts]) if parts else np.zeros(0, np.int64)
    indptr = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(lengths, out=indptr[1:])
    columns = np.concatenate([part.columns for part in parts]) if parts else np.zeros(0, np.int32)
    values = np.concatenate([part.values for part in parts]) if parts else np.zeros(0, np.float32)
    return SparseRows(indptr, columns, values, len(lengths))


def training_vectorizer_settings(max_tokens: int, split_punctuation: bool) -> dict[str, Any]:
    """The TextVectorization settings `mlc train` writes: uni+bigrams of whitespace tokens, TF-IDF, standardized by
    mlc's `lower_and_split_punctuation` or Keras's `lower_and_strip_punctuation`."""
    standardize = SPLIT_PUNCTUATION if split_punctuation else "lower_and_strip_punctuation"
    return {
        "standardize": standardize,
        "split": "whitespace",
        "ngrams": 2,
        "output_mode": "tf_idf",
        "max_tokens": max_tokens,
    }


def _dense_weights(keras: Any, model: Any, spare_columns: int) -> list[tuple[np.ndarray, ...]]:
    """Each Dense layer's (kernel, bias) as numpy arrays of their own: an array that shared TensorFlow's buffer would
    hold it in TensorFlow's allocator for as long as the array lives. The first kernel has room for `spare_columns`
    more, where the logistic head's units join it in place (`FittedParts.final_weights`)."""
    layers = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    return [
        tuple(_copy(weight, spare_columns if i == 0 else 0) for weight in layer.weights)
        for i, layer in enumerate(layers)
    ]


def _copy(weight: Any, spare_columns: int = 0, rows_per_read: int = 8192) -> np.ndarray:
    """A Keras variable's value in an aligned array, copied a slab of rows at a time: after a sparse update
    TensorFlow copies a whole variable to read it whole (copy-on-read), one more first kernel at the network's peak."""
    tf = tensorflow()
    variable = tf_variable(weight)
    if len(weight.shape) != 2:
        return np.array(variable, copy=True)
    out = aligned_array(tuple(weight.shape), np.dtype(variable.dtype.as_numpy_dtype), spare_columns)
    for start in range(0, out.shape[0], rows_per_read):
        stop = min(start + rows_per_read, out.shape[0])
        out[start:stop] = tf.gather(variable, tf.range(start, stop)).numpy()
    return out


def _BestWeights(keras: Any, spare_columns: int) -> Any:
    class BestWeights(keras.callbacks.Callback):
        """The Dense weights of the epoch with the lowest validation loss so far (Keras's `restore_best_weights`
        without its second copy of the weights and its final write back into a model about to be dropped)."""

        def __init__(self) -> None:
            super().__init__()
            self.loss = np.inf
            self.dense: list[tuple[np.ndarray, ...]] = []

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            loss = (logs or {}).get("val_loss")
            improved = loss is not None and float(loss) < self.loss
            if improved or not self.dense:  # as Keras: the first epoch's weights stand until one is better
                self.loss = float(loss) if improved else self.loss
                self.dense = []  # the previous best is freed before the copy is made
                self.dense = _dense_weights(keras, self.model, spare_columns)

    return BestWeights()


def _EpochCallback(keras: Any, hook: EpochHook) -> Any:
    class EpochCallback(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            hook(epoch + 1, {k: float(v) for k, v in (logs or {}).items()})

    return EpochCallback()
