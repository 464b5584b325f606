"""Quality trials that are not `mlc train` options, on bench/quality.py's folds and seeds (issue 6).

Each trial changes one thing in training for the experiment only (it patches `mlc.models.train` in this process;
nothing here is product code) and is scored like quality.py's "mlc defaults, tuned thresholds" row:

    refit        train, then train again on train + validation for the best epoch count (thresholds from the
                 first model's validation scores)
    ens5         the mean of five models with different seeds
    rank=W       binary cross-entropy + W / n_labels x softmax cross-entropy on the logits (a ranking term)
    wide=1       a linear TF-IDF -> logits path added to the MLP's logits (wide & deep)
    noes=1       no early stopping: exactly `epochs` epochs
    indrop=P     input dropout: each training batch loses each TF-IDF entry with probability P (a fresh draw every
                 epoch), rows re-normalised to unit length as at inference (for the default, normalised input)
    ema=M        Polyak averaging: the weights' moving average with momentum M after every step is what validation,
                 early stopping and the final model see
    biasinit=1   the output layer's bias starts at each label's log prior odds in the training rows, not at 0
    smooth=E     label smoothing E in the binary cross-entropy (targets 1 - E/2 and E/2)
    nooov=1      the out-of-vocabulary column's IDF set to 0 (Keras gives it the mean IDF, so its value grows with the
                 count of unknown uni- and bigrams, hundreds per abstract at the default vocabulary), so the column is
                 0 in training and in the saved model
    units=AxB    hidden layer widths, e.g. base:units=1024x512 (the example's are 512x256)
    splitpunct=1 punctuation replaced by a space in every text (train and test) before the model sees it, so
                 "state-of-the-art" is four tokens as scikit-learn's tokenizer makes it, not "stateoftheart"
                 (mlc's default standardize since session 9 does this inside the model; `base:split_punctuation=false`
                 is the earlier default, Keras's standardize)

Trials take TrainConfig overrides after a colon: `base:noes=1,epochs=5`, `base:wide=1,learning_rate=0.003`.
Since session 12 `base` is the defaults with the logistic head at the even mix (`linear_share=0.5`, what `train`
folds in before `mlc train` chooses the share; these trials tune thresholds on the validation split only, so they
do not choose it); `base:linear_share=0` is the MLP alone, the `base` of every earlier table. `wide=1` replaces the MLP's output layer, so it runs with
`linear_share=0` (the head folds into the example's three Dense layers only).

    python bench/quality_trials.py ../shared/data/arxiv_abstracts.csv base refit ens5 base:rank=3 base:wide=1 \
        base:noes=1,epochs=5
"""
from __future__ import annotations

import re
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality import METRICS, _value, folds, usable_rows  # noqa: E402  (folds: mlc's stratified_folds)

from mlc.models.backend import tf_keras  # noqa: E402
from mlc.models.crossfit import aligned  # noqa: E402
from mlc.models.metrics import evaluate_scores  # noqa: E402
from mlc.models.predictor import Predictor  # noqa: E402
from mlc.models.thresholds import tune_thresholds  # noqa: E402
from mlc.pipeline.training_data import ColumnOptions, combination_key, load_labelled, stratified_split  # noqa: E402
import mlc.models.build as B  # noqa: E402
import mlc.models.train as T  # noqa: E402

TRIAL: dict[str, Any] = {}
_loss, _make_mlp, _make_end_to_end, _training_dataset = T._loss, T.make_mlp, T.make_end_to_end, T.training_dataset
_make_vectorizer = T.make_vectorizer
_HIDDEN_UNITS = B.HIDDEN_UNITS  # the product's widths, restored for every trial that does not set `units`


def trial_loss(tf: Any, targets: np.ndarray, power: float) -> Any:
    if TRIAL.get("biasinit") and "_mlp" in TRIAL:
        prior = np.clip(targets.mean(axis=0), 1e-4, 1 - 1e-4)
        TRIAL["_mlp"].get_layer("probabilities").bias.assign(np.log(prior / (1 - prior)).astype(np.float32))
    weight = TRIAL.get("rank", 0.0)
    if TRIAL.get("smooth"):
        return tf.keras.losses.BinaryCrossentropy(label_smoothing=float(TRIAL["smooth"]))
    if weight <= 0:
        return _loss(tf, targets, power)

    def loss(y_true: Any, y_pred: Any) -> Any:
        p = tf.clip_by_value(y_pred, 1e-7, 1 - 1e-7)
        logits = tf.math.log(p) - tf.math.log1p(-p)
        target = y_true / tf.maximum(tf.reduce_sum(y_true, axis=-1, keepdims=True), 1.0)
        ranking = tf.nn.softmax_cross_entropy_with_logits(labels=target, logits=logits)
        return tf.keras.losses.binary_crossentropy(y_true, y_pred) + weight * ranking / tf.cast(tf.shape(y_true)[-1], tf.float32)

    return loss


def trial_mlp(n_features: int, n_labels: int, dropout: float = 0.0, *, stock: bool = False) -> Any:
    B.HIDDEN_UNITS = tuple(int(u) for u in str(TRIAL["units"]).split("x")) if "units" in TRIAL else _HIDDEN_UNITS
    if not TRIAL.get("wide"):
        TRIAL["_mlp"] = _make_mlp(n_features, n_labels, dropout, stock=stock)
        return TRIAL["_mlp"]
    from mlc.models.sparse_ops import sparse_input_dense

    _, keras = tf_keras()
    features = keras.Input(shape=(n_features,), sparse=True, name="tfidf")
    hidden = features
    for i, units in enumerate(B.HIDDEN_UNITS):
        hidden = (sparse_input_dense if i == 0 else keras.layers.Dense)(units, activation="relu", name=f"dense_{i}")(hidden)
        if dropout > 0:
            hidden = keras.layers.Dropout(dropout)(hidden)
    logits = keras.layers.Add()([keras.layers.Dense(n_labels, name="deep")(hidden), sparse_input_dense(n_labels, None, "wide")(features)])
    return keras.Model(features, keras.layers.Activation("sigmoid")(logits))


def trial_training_dataset(features: Any, texts: Any, targets: np.ndarray, batch_size: int, shuffle_seed: int | None, **kwargs: Any) -> Any:
    data = _training_dataset(features, texts, targets, batch_size, shuffle_seed, **kwargs)
    rate = TRIAL.get("indrop", 0.0)
    if shuffle_seed is None or rate <= 0:
        return data
    tf, _ = tf_keras()

    def drop(x: Any, y: Any) -> Any:
        kept = tf.sparse.retain(x, tf.random.uniform(tf.shape(x.values)) >= rate)
        rows = kept.indices[:, 0]
        squares = tf.math.unsorted_segment_sum(kept.values * kept.values, rows, tf.cast(x.dense_shape[0], tf.int32))
        scale = tf.math.rsqrt(tf.maximum(squares, 1e-12))
        return tf.SparseTensor(kept.indices, kept.values * tf.gather(scale, rows), kept.dense_shape), y

    return data.map(drop)


def trial_vectorizer(*args: Any, **kwargs: Any) -> Any:
    layer = _make_vectorizer(*args, **kwargs)
    if TRIAL.get("nooov"):
        idf = layer._lookup_layer.idf_weights
        idf.assign(np.concatenate([[0.0], idf.numpy()[1:]]).astype(np.float32))
    return layer


def trial_end_to_end(vectorizer: Any, mlp: Any, scaling: Any = None) -> Any:
    return ("wide", vectorizer, mlp, scaling) if TRIAL.get("wide") else _make_end_to_end(vectorizer, mlp, scaling)


def trial_early_stopping(*args: Any, **kwargs: Any) -> Any:
    _, keras = tf_keras()
    stop = keras.callbacks.Callback() if TRIAL.get("noes") else _EarlyStopping(*args, **kwargs)
    return _ema_callback(keras, float(TRIAL["ema"]), stop) if TRIAL.get("ema") else stop


def _ema_callback(keras: Any, momentum: float, inner: Any) -> Any:
    """Polyak averaging: an exponential moving average of the weights after every step. Validation (so early
    stopping) sees the averaged weights, and the model ends with the averaged weights of the best epoch."""

    class EMAThenStop(keras.callbacks.Callback):
        def set_model(self, model: Any) -> None:
            super().set_model(model)
            inner.set_model(model)

        def set_params(self, params: Any) -> None:
            super().set_params(params)
            inner.set_params(params)

        def _swap(self) -> None:
            correction = 1 - momentum ** max(self.steps, 1)  # the average starts at 0: Adam's bias correction
            for variable, average, raw in zip(self.model.trainable_weights, self.averages, self.raw):
                if self.swapped:
                    variable.assign(raw)
                else:
                    raw[...] = variable.numpy()
                    variable.assign(average / correction)
            self.swapped = not self.swapped

        def on_train_begin(self, logs: Any = None) -> None:
            self.averages = [np.zeros_like(v.numpy()) for v in self.model.trainable_weights]
            self.raw = [np.zeros_like(a) for a in self.averages]
            self.swapped, self.steps = False, 0
            inner.on_train_begin(logs)

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            self.steps += 1
            for variable, average in zip(self.model.trainable_weights, self.averages):
                average *= momentum
                average += (1 - momentum) * variable.numpy()

        def on_test_begin(self, logs: Any = None) -> None:
            if not self.swapped:
                self._swap()

        def on_test_end(self, logs: Any = None) -> None:
            if self.swapped:
                self._swap()

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            if self.swapped:
                self._swap()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            if not self.swapped:
                self._swap()
            inner.on_epoch_end(epoch, logs)

        def on_train_end(self, logs: Any = None) -> None:
            if not self.swapped:
                self._swap()
            inner.on_train_end(logs)

    return EMAThenStop()


def split_punctuation(texts: list[str]) -> list[str]:
    return [re.sub(r"[^\w\s]", " ", text) for text in texts]


def scores_of(result: Any, texts: list[str]) -> np.ndarray:
    if isinstance(result.model, tuple):  # wide & deep: not a chain of Dense layers, run the Keras model
        from mlc.models.features import SparseTfIdf

        tf, _ = tf_keras()
        _, vectorizer, mlp, scaling = result.model
        return mlp(SparseTfIdf.from_layer(vectorizer, scaling)(tf.constant(texts)), training=False).numpy()
    return Predictor.from_model(result.model, result.labels).predict(texts)


MODES = ("base", "refit", "ens5")


def run_trial(mode: str, overrides: dict, train_texts: list, train_labels: list, test_texts: list, seed: int):
    rng = np.random.default_rng(seed)
    rest, val = stratified_split([combination_key(l) for l in train_labels], 0.05, rng)
    tx, ty = [train_texts[i] for i in rest], [train_labels[i] for i in rest]
    vx, vy = [train_texts[i] for i in val], [train_labels[i] for i in val]
    seeds = [seed + 1000 * j for j in range(5)] if mode == "ens5" else [seed]
    val_scores, test_scores = [], []
    for s in seeds:
        result = T.train(tx, ty, vx, vy, T.TrainConfig(seed=s, **overrides))
        labels = result.labels
        val_scores.append(scores_of(result, vx))
        test_scores.append(scores_of(result, test_texts))
        if mode == "refit":
            config = T.TrainConfig(seed=s, **{**overrides, "epochs": result.best_epoch, "patience": 10**6})
            refit = T.train(tx + vx, ty + vy, vx, vy, config)
            test_scores[-1] = scores_of(refit, test_texts)
            val_scores[-1], labels = aligned(val_scores[-1], labels, refit.labels), refit.labels  # validation rows may add labels
    tuned = tune_thresholds(T.multi_hot(vy, labels), np.mean(val_scores, 0), min_positives=0)
    return labels, np.mean(test_scores, 0), tuned.per_label


def main() -> None:
    data_path, specs = Path(sys.argv[1]), sys.argv[2:]
    data = load_labelled(data_path, ColumnOptions(None, None, None, None))
    rows = usable_rows(data)
    keys = [combination_key(data.labels[i]) for i in rows]
    results: dict[str, list] = defaultdict(list)
    started = time.perf_counter()
    for fold, test_positions in enumerate(folds(keys, 5, np.random.default_rng(42))):
        held = set(test_positions)
        train_rows = [rows[p] for p in range(len(rows)) if p not in held]
        test_rows = [rows[p] for p in test_positions]
        train_texts, train_labels = [data.texts[i] for i in train_rows], [data.labels[i] for i in train_rows]
        test_texts, test_labels = [data.texts[i] for i in test_rows], [data.labels[i] for i in test_rows]
        for spec in specs:
            mode, _, settings = spec.partition(":")
            if mode not in MODES:  # "units=1024x512" alone once ran as plain `base`: settings go after "base:"
                raise SystemExit(f"{spec!r}: a trial is {', '.join(MODES)}, settings after a colon (base:units=1024x512)")
            pairs = {k: _value(v) for k, v in (kv.split("=") for kv in settings.split(",") if kv)}
            TRIAL.clear()
            TRIAL.update({k: pairs.pop(k) for k in ("rank", "wide", "noes", "indrop", "units", "splitpunct", "ema", "biasinit", "smooth", "nooov") if k in pairs})
            if TRIAL.get("wide"):
                pairs["linear_share"] = 0.0  # its own linear path replaces the head (see the docstring)
            texts = (split_punctuation(train_texts), split_punctuation(test_texts)) if TRIAL.get("splitpunct") else (train_texts, test_texts)
            labels, scores, thresholds = run_trial(mode, pairs, texts[0], train_labels, texts[1], 42 + fold)
            results[spec].append(evaluate_scores(test_labels, scores, labels, threshold=thresholds))
        print(f"fold {fold + 1}/5 done, {time.perf_counter() - started:.0f} s", flush=True)
    print("\n| trial | " + " | ".join(METRICS) + " |")
    print("| --- |" + " ---: |" * len(METRICS))
    for name, reports in results.items():
        print(f"| {name} | " + " | ".join(f"{np.mean([r[m] for r in reports]):.3f} ± {np.std([r[m] for r in reports]):.3f}" for m in METRICS) + " |")
    # per fold, for paired comparisons (the same folds and seeds for every trial): a difference that holds fold by
    # fold says more than two means whose spreads overlap
    print("\nper fold (micro-F1 / P@1):")
    for name, reports in results.items():
        print(f"  {name}: " + "  ".join(f"{r['micro_f1']:.3f}/{r['precision@1']:.3f}" for r in reports))


_, _keras = tf_keras()
_EarlyStopping = _keras.callbacks.EarlyStopping
T._loss, T.make_mlp, T.make_end_to_end, T.training_dataset = trial_loss, trial_mlp, trial_end_to_end, trial_training_dataset
T.make_vectorizer = trial_vectorizer
_keras.callbacks.EarlyStopping = trial_early_stopping

if __name__ == "__main__":
    main()
