"""Fitting: the MLP's and the head's logits mix to the saved model at any share, the share is chosen on the tuning
rows, and cross-fitted rows are scored by models that never saw them."""

from __future__ import annotations

import numpy as np
import pytest

from mlc.models.tf_backend.fit import (
    AUTO_FOLDS,
    CROSS_FIT_BELOW,
    aligned,
    choose_share,
    cross_fit_folds,
    fit_parts,
    out_of_fold_logits,
)
from mlc.models.tf_backend.logistic_head import ABSENT_LOGIT, EVEN_SHARE, SHARES, LogitParts
from mlc.models.tf_backend.scorer import TfScorer
from mlc.models.thresholds import micro_f1, tune_thresholds
from mlc.models.train_config import TrainConfig
from mlc.pipeline.training_data import ColumnOptions, load_labelled

HOSTILE = ["", "\x00\x01 \u202e evil", "ünïcödé façade – naïve", "x" * 5000, "Graph-based, deep: networks!"]


@pytest.fixture(scope="module")
def fitted(labelled_csv):
    data = load_labelled(labelled_csv, ColumnOptions())
    parts = fit_parts(
        data.texts[:200], data.labels[:200], data.texts[200:240], data.labels[200:240], TrainConfig(epochs=2, seed=5)
    )
    return parts, list(data.texts[240:300]) + HOSTILE


def _fitted_on(labelled_csv, train: int, validation: int, config: TrainConfig):
    """The corpus, and parts fitted on its first `train` rows with the next `validation` rows for validation."""
    data = load_labelled(labelled_csv, ColumnOptions())
    texts, labels, end = data.texts, data.labels, train + validation
    return data, fit_parts(texts[:train], labels[:train], texts[train:end], labels[train:end], config)


@pytest.mark.slow
def test_parts_mix_to_the_folded_model_at_every_share(fitted):
    parts, texts = fitted
    logits = parts.logit_parts(texts)
    for share in (0.0, 0.25, 0.3, 0.75, 1.0):
        np.testing.assert_allclose(TfScorer(parts.weights(share)).scores(texts), logits.probabilities(share), atol=1e-5)
    assert not np.allclose(logits.mlp, logits.head, atol=0.1)  # two different models, so the share matters


@pytest.mark.slow
def test_without_a_head_there_is_no_share_to_choose(labelled_csv):
    data, parts = _fitted_on(labelled_csv, 100, 20, TrainConfig(epochs=1, seed=5, linear_share=0.0))
    logits = parts.logit_parts(data.texts[120:130])
    assert logits.head is None and parts.head is None
    share, _, note = choose_share(np.ones((10, len(parts.mlp.labels))), logits, None)
    assert (share, note) == (0.0, "no logistic head")


def _rows(seed: int = 0, n: int = 600, labels: int = 6):
    rng = np.random.default_rng(seed)
    truth = rng.random((n, labels)) < 0.3
    informative = np.where(truth, 2.0, -2.0) + rng.normal(0, 1.5, truth.shape)
    noise = rng.normal(-1, 2, truth.shape)
    return truth.astype(np.float32), informative, noise


def test_the_share_of_the_better_part_is_chosen():
    truth, informative, noise = _rows()
    share, thresholds, note = choose_share(truth, LogitParts(noise, informative), None)
    assert share == max(SHARES)
    expected = tune_thresholds(truth, LogitParts(noise, informative).probabilities(share))
    np.testing.assert_array_equal(thresholds.per_label, expected.per_label)
    assert note.startswith("the highest tuned micro-F1 on the tuning rows of 0.25: ")
    assert choose_share(truth, LogitParts(informative, noise), None)[0] == min(SHARES)


def test_a_tie_goes_to_the_even_mix_and_a_fixed_share_is_kept():
    truth, informative, _ = _rows(1)
    assert choose_share(truth, LogitParts(informative, informative.copy()), None)[0] == EVEN_SHARE
    share, thresholds, note = choose_share(truth, LogitParts(informative, informative * 0), 0.3)
    assert (share, note) == (0.3, "set by linear_share")
    expected = tune_thresholds(truth, LogitParts(informative, informative * 0).probabilities(0.3))
    np.testing.assert_array_equal(thresholds.per_label, expected.per_label)


def test_micro_f1_counts_every_cell():
    truth = np.array([[1, 0], [1, 1], [0, 0]], np.float32)
    predicted = np.array([[1, 1], [0, 1], [0, 0]], bool)
    assert micro_f1(truth, predicted) == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))
    assert micro_f1(np.zeros((2, 2)), np.zeros((2, 2), bool)) == 0.0


def test_cross_fitting_by_default_only_below_the_validation_size():
    assert cross_fit_folds(None, CROSS_FIT_BELOW - 1, 10_000) == AUTO_FOLDS
    assert cross_fit_folds(None, CROSS_FIT_BELOW, 10_000) == 0
    assert cross_fit_folds(3, 10_000, 10_000) == 3  # asked for: done at any size
    assert cross_fit_folds(0, 10, 500) == 0


def test_never_more_folds_than_half_the_training_rows():
    assert cross_fit_folds(None, 2, 9) == 0
    assert cross_fit_folds(None, 2, 10) == AUTO_FOLDS


def test_one_fold_is_refused():
    with pytest.raises(ValueError, match="at least 2"):
        cross_fit_folds(1, 10, 100)


def test_aligned_reorders_columns_and_zero_fills_unknown_labels():
    scores = np.array([[0.1, 0.9], [0.3, 0.7]], dtype=np.float32)
    out = aligned(scores, ["b", "a"], ["a", "c", "b"])
    np.testing.assert_array_equal(out, np.array([[0.9, 0.0, 0.1], [0.7, 0.0, 0.3]], dtype=np.float32))


@pytest.mark.slow
def test_each_row_is_scored_by_the_model_trained_without_its_fold(labelled_csv):
    """Fold j's rows get the scores of a model trained on the other rows with seed + j + 1: the same numbers as
    training that model by hand, and not those of a model that saw the rows."""
    data = load_labelled(labelled_csv, ColumnOptions())
    texts, label_lists = data.texts[:160], data.labels[:160]
    val_texts, val_labels = data.texts[160:200], data.labels[160:200]
    folds = [list(range(0, 160, 2)), list(range(1, 160, 2))]
    labels = ["net.routing", "cook.baking", "no.such.label"]
    oof = out_of_fold_logits(texts, label_lists, folds, val_texts, val_labels, labels, TrainConfig(epochs=3, seed=11))

    rest = folds[0]  # fold 1 (odd rows) is scored by the model trained on the even rows, seed 11 + 2
    by_hand = fit_parts(
        [texts[i] for i in rest], [label_lists[i] for i in rest], val_texts, val_labels, TrainConfig(epochs=3, seed=13)
    )
    logits = by_hand.logit_parts([texts[i] for i in folds[1]])
    hand_labels = by_hand.mlp.labels
    np.testing.assert_allclose(oof.mlp[folds[1]], aligned(logits.mlp, hand_labels, labels, ABSENT_LOGIT), atol=1e-4)
    np.testing.assert_allclose(oof.head[folds[1]], aligned(logits.head, hand_labels, labels, ABSENT_LOGIT), atol=1e-4)
    # mixed, they are that model's probabilities at any share
    expected = TfScorer(by_hand.weights(0.75)).scores([texts[i] for i in folds[1]])
    np.testing.assert_allclose(oof.probabilities(0.75)[folds[1]], aligned(expected, hand_labels, labels), atol=1e-5)
    assert (oof.probabilities(0.5)[:, 2] < 1e-9).all()  # a label no model knows scores 0
    # a model that saw the rows is more sure of their labels than the models that did not
    seen = aligned(TfScorer(by_hand.weights(0.5)).scores([texts[i] for i in rest]), hand_labels, labels)
    truth = np.array([[label in row for label in labels[:2]] for row in label_lists], dtype=bool)
    assert seen[:, :2][truth[rest]].mean() > oof.probabilities(0.5)[rest][:, :2][truth[rest]].mean()


@pytest.mark.slow
def test_without_a_head_only_the_mlp_part_exists(labelled_csv):
    data = load_labelled(labelled_csv, ColumnOptions())
    folds = [list(range(0, 80, 2)), list(range(1, 80, 2))]
    oof = out_of_fold_logits(
        data.texts[:80],
        data.labels[:80],
        folds,
        data.texts[80:100],
        data.labels[80:100],
        ["net.routing", "cook.baking"],
        TrainConfig(epochs=2, seed=3, linear_share=0.0),
    )
    assert oof.head is None and oof.mlp.shape == (80, 2) and (oof.mlp != ABSENT_LOGIT).all()


@pytest.mark.slow
def test_each_fitted_model_is_freed_so_cross_fitting_does_not_add_up(labelled_csv):
    """Cross-fitting fits six models in one process: each one's variables, optimizer moments and weight copies
    leave TensorFlow's allocator when it is done (a gradient registered per traced step would keep them all)."""
    import gc

    from mlc.models.tf_backend.runtime import tensorflow

    tf = tensorflow()
    data = load_labelled(labelled_csv, ColumnOptions())
    config = TrainConfig(epochs=1, seed=5, max_tokens=4000)

    def fitted_and_freed() -> int:
        parts = fit_parts(data.texts[:200], data.labels[:200], data.texts[200:240], data.labels[200:240], config)
        parts.logit_parts(data.texts[240:260])
        network_bytes = sum(k.nbytes + b.nbytes for k, b in parts.mlp.dense)
        del parts
        gc.collect()
        return network_bytes

    fitted_and_freed()
    held = tf.config.experimental.get_memory_info("CPU:0")["current"]
    network_bytes = sum(fitted_and_freed() for _ in range(2))
    # one kept model holds its weights and two Adam moments: three copies of its network
    assert tf.config.experimental.get_memory_info("CPU:0")["current"] - held < network_bytes / 3


FREED_AFTER_FIT = """
import gc, sys
from mlc.models.tf_backend.fit import fit
from mlc.models.tf_backend.mlp import MlpFit
from mlc.models.train_config import TrainConfig
from mlc.pipeline.training_data import ColumnOptions, load_labelled

assert "tensorflow" not in sys.modules  # imported inside `fit`, as in a fresh `mlc train` or `mlc.train`
data = load_labelled(sys.argv[1], ColumnOptions())
model = fit(data.texts[:100], data.labels[:100], data.texts[100:120], data.labels[100:120], TrainConfig(epochs=1),
            threshold_folds=0)
gc.collect()
print(sum(isinstance(o, MlpFit) for o in gc.get_objects()))
"""


@pytest.mark.slow
def test_the_fitted_parts_are_freed_once_fit_returns(labelled_csv):
    """Importing TensorFlow and Keras leaves cycles that hold the importing call's frames; frozen uncollected, they
    kept `fit`'s locals (the trained MLP's weights, a first kernel in size) for the life of the process."""
    import subprocess
    import sys

    run = subprocess.run(
        [sys.executable, "-c", FREED_AFTER_FIT, str(labelled_csv)], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split()[-1] == "0"


@pytest.mark.slow
@pytest.mark.parametrize("normalize", [True, False])  # one extra unit a label, or two
def test_final_weights_are_the_folded_weights_made_in_the_first_kernels_memory(labelled_csv, normalize):
    """As `fit` uses them: after the parts have scored rows, the kept model's first layer takes the MLP's first
    kernel's memory (one first layer in memory, not two) and equals the folded weights made apart."""
    data, parts = _fitted_on(labelled_csv, 150, 30, TrainConfig(epochs=1, seed=3, normalize=normalize))
    parts.logit_parts(data.texts[180:200])  # a scorer shares the kernel's memory, then is freed
    expected = parts.weights(0.25)
    address = parts.mlp.dense[0][0].ctypes.data  # not the array: holding it would keep its memory from reuse
    kept = parts.final_weights(0.25)
    assert kept.dense[0].kernel.ctypes.data == address
    assert parts.mlp.dense == []  # spent: no stale view of the kernel is left to use
    for made, apart in zip(kept.dense, expected.dense):
        np.testing.assert_array_equal(made.kernel, apart.kernel)
        np.testing.assert_array_equal(made.bias, apart.bias)
