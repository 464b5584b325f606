"""The train loop: multi-hot targets, sparse TF-IDF batches from tf.data, Adam + binary cross-entropy, early stopping."""
from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from mlc.models.backend import static_pipeline_options, tensorflow, tf_keras
from mlc.models.build import make_end_to_end, make_mlp, make_vectorizer, vocabulary_size
from mlc.models.features import SparseTfIdf
from mlc.models.linear import PROVISIONAL_SHARE, fit_logistic, fold_into_mlp, folded_weights
from mlc.models.optim import fused_adam
from mlc.models.scaling import Scaling

EpochHook = Callable[[int, dict[str, float]], None]


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters. The model is the example's; sublinear tf + L2 rows, learning rate 1e-2, dropout 0.5,
    punctuation split rather than deleted, and a logistic regression's logit mixed in (`linear_share`, folded into
    the same three Dense layers) are mlc's defaults because they won on cross-validation (BENCHMARKS.md, issue 6).
    `example()` gives the example's own settings. `linear_share` None: chosen after training on the rows the
    thresholds are tuned on (`mlc.pipeline.tuning`); `train` alone folds in `PROVISIONAL_SHARE` meanwhile."""

    max_tokens: int | None = None
    epochs: int = 20
    batch_size: int = 128
    learning_rate: float = 1e-2
    patience: int = 3
    seed: int = 42
    dropout: float = 0.5
    weight_decay: float = 0.0
    lr_schedule: str = "constant"  # or "cosine": decay to 0 over the planned epochs
    positive_weight_power: float = 0.0  # > 0: positives of label j weighted (negatives/positives)^power, cap 50
    sublinear_tf: bool = True  # idf * (1 + log count) instead of idf * count
    normalize: bool = True  # each TF-IDF row scaled to unit L2 norm
    split_punctuation: bool = True  # punctuation -> space (mlc>lower_and_split_punctuation), not deleted
    linear_share: float | None = None  # share of a logistic regression's logit in the output (mlc.models.linear); 0: MLP alone
    linear_c: float = 100.0  # its inverse L2 strength, as scikit-learn's C

    @classmethod
    def example(cls, **overrides: Any) -> TrainConfig:
        """The Keras example's settings: raw TF-IDF, Keras's standardize, Adam at 1e-3, no dropout."""
        return cls(**{"learning_rate": 1e-3, "dropout": 0.0, "sublinear_tf": False, "normalize": False, "split_punctuation": False,
                      "linear_share": 0.0, **overrides})

    def __post_init__(self) -> None:
        if self.linear_share is not None and not 0.0 <= self.linear_share <= 1.0:
            raise ValueError(f"linear share must be between 0 and 1, got {self.linear_share}")
        if self.linear_c <= 0:
            raise ValueError(f"linear C must be positive, got {self.linear_c}")

    @property
    def scaling(self) -> Scaling:
        return Scaling(self.sublinear_tf, self.normalize)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class LogisticHead:
    """The fitted head and what folding it needs: `weights(share)` as numpy (each part's logits without building a
    Keras model), `build(share)` as the end-to-end Keras model that is saved."""

    mlp: list[tuple[np.ndarray, np.ndarray]]  # the trained MLP's three Dense (kernel, bias)
    kernel: np.ndarray
    bias: np.ndarray
    unit_rows: bool
    build: Callable[[float], Any]

    def weights(self, share: float) -> list[tuple[np.ndarray, np.ndarray]]:
        return folded_weights(self.mlp, self.kernel, self.bias, share, unit_rows=self.unit_rows)


@dataclass
class TrainResult:
    model: Any
    labels: list[str]
    max_tokens: int
    history: dict[str, list[float]]
    best_epoch: int
    epochs_run: int
    linear_share: float = 0.0  # the head's share folded into `model`
    head: LogisticHead | None = None  # None: no head was fitted (`linear_share` 0)

    def with_share(self, share: float) -> TrainResult:
        """The same training with the head's logit at `share` (no refit: the fold is algebra)."""
        if share == self.linear_share:
            return self
        if self.head is None:
            raise ValueError(f"no logistic head was fitted, so its share cannot be {share}")
        return replace(self, model=self.head.build(share), linear_share=share)


def label_vocabulary(label_lists: Sequence[Sequence[str]]) -> list[str]:
    """Labels of the training rows, most frequent first (ties by name), so the order is stable."""
    counts = Counter(label for labels in label_lists for label in labels)
    return [label for label, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]


def multi_hot(label_lists: Sequence[Sequence[str]], labels: Sequence[str]) -> np.ndarray:
    """Rows x labels 0/1 matrix; labels outside `labels` are left out here and counted by the evaluator."""
    index = {label: i for i, label in enumerate(labels)}
    matrix = np.zeros((len(label_lists), len(labels)), dtype=np.float32)
    for row, row_labels in enumerate(label_lists):
        for label in row_labels:
            if label in index:
                matrix[row, index[label]] = 1.0
    return matrix


def train(
    train_texts: Sequence[str],
    train_labels: Sequence[Sequence[str]],
    val_texts: Sequence[str],
    val_labels: Sequence[Sequence[str]],
    config: TrainConfig = TrainConfig(),
    on_epoch: EpochHook | None = None,
) -> TrainResult:
    """Fit the example's model on sparse TF-IDF batches, then the logistic head on the same training rows when
    `linear_share` is not 0; return the end-to-end model (best epoch's MLP weights, head folded in at the configured
    share or, when that is None, at `PROVISIONAL_SHARE` until `with_share`)."""
    tf, keras = tf_keras()
    keras.utils.set_random_seed(config.seed)
    labels = label_vocabulary(train_labels)
    max_tokens = config.max_tokens or vocabulary_size(train_texts)
    vectorizer = make_vectorizer(train_texts, max_tokens, split_punctuation=config.split_punctuation)
    features = SparseTfIdf.from_layer(vectorizer, config.scaling)
    # MLC_STOCK_TRAINING=1: Keras's own Dense and Adam, the baseline bench/train_time.py measures against.
    stock = os.environ.get("MLC_STOCK_TRAINING") == "1"
    mlp = make_mlp(features.vocabulary_size, len(labels), config.dropout, stock=stock)
    steps = config.epochs * -(-len(train_texts) // config.batch_size)
    learning_rate: Any = config.learning_rate
    if config.lr_schedule == "cosine":
        learning_rate = keras.optimizers.schedules.CosineDecay(config.learning_rate, decay_steps=steps)
    elif config.lr_schedule != "constant":
        raise ValueError(f"unknown lr_schedule {config.lr_schedule!r} (constant, cosine)")
    mlp.compile(
        optimizer=_stock_adam(keras, learning_rate, config.weight_decay) if stock else fused_adam(learning_rate, config.weight_decay),
        loss=_loss(tf, multi_hot(train_labels, labels), config.positive_weight_power),
        metrics=["binary_accuracy"],
    )

    def dataset(texts: Sequence[str], label_lists: Sequence[Sequence[str]], shuffle: bool, matrix: Any = None) -> Any:
        seed = config.seed if shuffle else None
        return training_dataset(features, texts, multi_hot(label_lists, labels), config.batch_size, seed, matrix=matrix)

    train_matrix = vectorize(features, train_texts)  # once: the MLP's batches and the logistic head share it

    callbacks: list[Any] = [
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=config.patience, restore_best_weights=True)
    ]
    if on_epoch is not None:
        callbacks.append(_EpochCallback(keras, on_epoch))
    fitted = mlp.fit(
        dataset(train_texts, train_labels, shuffle=True, matrix=train_matrix),
        validation_data=dataset(val_texts, val_labels, shuffle=False),
        epochs=config.epochs,
        callbacks=callbacks,
        shuffle=False,  # the dataset shuffles itself each epoch; Keras would ignore True and warn
        verbose=0,
    )
    head: LogisticHead | None = None
    share, model = 0.0, None
    if config.linear_share != 0:
        kernel, bias = fit_logistic(train_matrix, multi_hot(train_labels, labels), config.linear_c, seed=config.seed)

        def build(share: float) -> Any:
            return make_end_to_end(vectorizer, fold_into_mlp(mlp, kernel, bias, share, unit_rows=config.normalize), config.scaling)

        dense = [layer for layer in mlp.layers if isinstance(layer, keras.layers.Dense)]
        head = LogisticHead([tuple(layer.get_weights()) for layer in dense], kernel, bias, config.normalize, build)  # type: ignore[misc]
        share = PROVISIONAL_SHARE if config.linear_share is None else config.linear_share
        model = build(share)
    history = {name: [float(v) for v in values] for name, values in fitted.history.items()}
    val_loss = history.get("val_loss", [])
    best_epoch = int(np.argmin(val_loss)) + 1 if val_loss else len(history.get("loss", []))
    return TrainResult(
        model=make_end_to_end(vectorizer, mlp, config.scaling) if model is None else model,
        labels=labels,
        max_tokens=max_tokens,
        history=history,
        best_epoch=best_epoch,
        epochs_run=len(history.get("loss", [])),
        linear_share=share,
        head=head,
    )


def training_dataset(features: SparseTfIdf, texts: Sequence[str], targets: np.ndarray, batch_size: int,
                     shuffle_seed: int | None, *, matrix: Any = None) -> Any:
    """(sparse TF-IDF, multi-hot) batches, reshuffled each epoch when `shuffle_seed` is given. Vectorised once,
    not per batch per epoch (0.21 -> 0.13 s per step at a 63k vocabulary); autotune off, as in prediction: its
    optimiser thread made each epoch's iterator teardown wait out its sleep (BENCHMARKS.md). `matrix`: that
    vectorisation of `texts`, when the caller has it already (`train` shares it with the logistic head)."""
    tf = tensorflow()
    data = tf.data.Dataset.from_tensor_slices((vectorize(features, texts) if matrix is None else matrix, targets))
    if shuffle_seed is not None:
        data = data.shuffle(len(texts), seed=shuffle_seed, reshuffle_each_iteration=True)
    return data.batch(batch_size).prefetch(2).with_options(static_pipeline_options())


def vectorize(features: SparseTfIdf, texts: Sequence[str], chunk: int = 2048) -> Any:
    """All rows' TF-IDF as one canonical SparseTensor, computed in chunks."""
    tf = tensorflow()
    parts = [features(tf.constant(list(texts[i : i + chunk]))) for i in range(0, len(texts), chunk)]
    return tf.sparse.concat(0, parts) if len(parts) > 1 else parts[0]


def _loss(tf: Any, targets: np.ndarray, power: float) -> Any:
    """The example's binary cross-entropy; with `power` > 0, each label's positives weighted by its
    (negatives / positives) ** power in the training rows (label-frequency handling, capped at 50)."""
    if power <= 0:
        return "binary_crossentropy"
    positives = targets.sum(axis=0)
    weights = np.clip(((len(targets) - positives) / np.maximum(positives, 1)) ** power, 1.0, 50.0).astype(np.float32)
    pos_weight = tf.constant(weights)

    def weighted_binary_crossentropy(y_true: Any, y_pred: Any) -> Any:
        y_pred = tf.clip_by_value(y_pred, 1e-7, 1 - 1e-7)
        loss = -(pos_weight * y_true * tf.math.log(y_pred) + (1 - y_true) * tf.math.log(1 - y_pred))
        return tf.reduce_mean(loss, axis=-1)

    return weighted_binary_crossentropy


def _stock_adam(keras: Any, learning_rate: Any, weight_decay: float) -> Any:
    """Keras's own Adam(W) with the same learning rate (or schedule) as the fused path: the benchmark baseline."""
    if weight_decay > 0:
        return keras.optimizers.AdamW(learning_rate, weight_decay=weight_decay)
    return keras.optimizers.Adam(learning_rate)


def _EpochCallback(keras: Any, hook: EpochHook) -> Any:
    class EpochCallback(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            hook(epoch + 1, {k: float(v) for k, v in (logs or {}).items()})

    return EpochCallback()
