"""The MLP's training step, mlc's way against stock Keras's, on the same rows and batches in one process.

mlc learns the vocabulary with numpy, trains the first layer on the batch's kernel rows with a lazy Adam update
and the others with TensorFlow's fused Adam (`mlc.models.tf_backend.mlp.train_mlp`); the baseline is the example's
own: Keras's `adapt`, stock `keras.layers.Dense` layers and `keras.optimizers.Adam`, fed the same sparse batches.
Both run the same epochs (no early stopping), alternated, and the best of `--repeat` is kept.

    python bench/stock_training.py ../shared/data/arxiv_abstracts.csv --max-tokens 75000
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from mlc.models.keras_file import vectorizer_settings
from mlc.models.targets import label_vocabulary, multi_hot
from mlc.models.tf_backend.internals import vectorizer_state
from mlc.models.tf_backend.mlp import (
    HIDDEN_UNITS,
    make_vectorizer,
    train_mlp,
    training_dataset,
    vectorize,
    vocabulary_size,
)
from mlc.models.tf_backend.runtime import tf_keras
from mlc.models.train_config import TrainConfig
from mlc.models.vectorizer import NgramVectorizer
from mlc.pipeline.training_data import ColumnOptions, load_labelled, prepare


def stock_keras_fit(texts, label_lists, val_texts, val_labels, config: TrainConfig) -> None:
    """The example's MLP with stock Dense layers and Keras's Adam, on mlc's sparse batches."""
    _, keras = tf_keras()
    keras.utils.set_random_seed(config.seed)
    labels = label_vocabulary(label_lists)
    vectorizer = make_vectorizer(
        texts, config.max_tokens or vocabulary_size(texts), split_punctuation=config.split_punctuation
    )
    settings = vectorizer_settings(vectorizer.get_config())
    features = NgramVectorizer(settings, *vectorizer_state(vectorizer), config.scaling)
    inputs = keras.Input(shape=(features.width,), sparse=True)
    hidden = inputs
    for units in HIDDEN_UNITS:
        hidden = keras.layers.Dropout(config.dropout)(keras.layers.Dense(units, activation="relu")(hidden))
    model = keras.Model(inputs, keras.layers.Dense(len(labels), activation="sigmoid")(hidden))
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate), loss="binary_crossentropy")
    model.fit(
        training_dataset(
            vectorize(features, texts), features.width, multi_hot(label_lists, labels), config.batch_size, config.seed
        ),
        validation_data=training_dataset(
            vectorize(features, val_texts), features.width, multi_hot(val_labels, labels), config.batch_size, None
        ),
        epochs=config.epochs,
        shuffle=False,
        verbose=0,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path)
    parser.add_argument("--max-tokens", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    split = prepare(load_labelled(args.data, ColumnOptions()))
    config = TrainConfig(max_tokens=args.max_tokens, epochs=args.epochs, patience=args.epochs + 1, linear_share=0.0)
    rows = (split.train.texts, split.train.labels, split.validation.texts, split.validation.labels)
    ways = {
        "mlc (numpy vocabulary, lazy Adam on the batch's rows)": lambda: train_mlp(*rows, config),
        "stock Keras (adapt, Dense, Adam)": lambda: stock_keras_fit(*rows, config),
    }
    best = {name: float("inf") for name in ways}
    for _ in range(args.repeat):
        for name, run in ways.items():
            started = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - started)
    print(
        f"{len(split.train.texts):,} training rows, max_tokens {config.max_tokens or 'default'}, {args.epochs} "
        f"epochs, best of {args.repeat}"
    )
    for name, seconds in best.items():
        print(f"  {name}: {seconds:.1f} s")
    mlc_seconds = best[next(iter(ways))]
    print(f"  speed-up: {best['stock Keras (Dense, Adam)'] / mlc_seconds:.2f}x")


if __name__ == "__main__":
    main()
