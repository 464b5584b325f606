from __future__ import annotations

import numpy as np

from mlc.models.thresholds import tune_thresholds


def test_global_threshold_maximises_micro_f1():
    # label 0 positives score 0.3-0.4, negatives 0.1: 0.5 would predict nothing; anything in (0.1, 0.3] is perfect
    truth = np.array([[1], [1], [0], [0], [1]])
    scores = np.array([[0.3], [0.4], [0.1], [0.1], [0.35]], dtype=np.float32)
    tuned = tune_thresholds(truth, scores, min_support=100, min_positives=1)
    assert 0.1 < tuned.global_threshold <= 0.3
    assert not tuned.tuned.any() and tuned.per_label[0] == tuned.global_threshold


def test_per_label_only_with_support():
    rng = np.random.default_rng(0)
    truth = np.zeros((40, 2), dtype=int)
    truth[:20, 0] = 1  # label 0: 20 positives, separable at 0.7
    truth[0, 1] = 1  # label 1: one positive
    scores = np.zeros((40, 2), dtype=np.float32)
    scores[:, 0] = np.where(truth[:, 0] == 1, 0.8, 0.6) + rng.uniform(-0.05, 0.05, 40)
    scores[:, 1] = rng.uniform(0, 0.2, 40)
    tuned = tune_thresholds(truth, scores, min_support=5, min_positives=1)
    assert list(tuned.tuned) == [True, False]
    assert 0.64 < tuned.per_label[0] <= 0.75  # every value in [0.65, 0.75] separates the two groups
    assert tuned.per_label[1] == tuned.global_threshold


def test_no_positives_keeps_half():
    tuned = tune_thresholds(np.zeros((3, 2)), np.full((3, 2), 0.9, dtype=np.float32))
    assert tuned.global_threshold == 0.5


def test_too_few_positives_keeps_the_example_threshold():
    truth = np.array([[1, 0], [0, 1], [1, 0]])
    scores = np.array([[0.3, 0.1], [0.1, 0.3], [0.3, 0.1]], dtype=np.float32)
    tuned = tune_thresholds(truth, scores, min_positives=10)
    assert tuned.global_threshold == 0.5 and list(tuned.per_label) == [0.5, 0.5]
    assert "kept 0.5: 3 positive labels" in tuned.note
    assert 0.1 < tune_thresholds(truth, scores, min_positives=3).global_threshold <= 0.3


def _micro_f1(truth: np.ndarray, scores: np.ndarray, thresholds: np.ndarray) -> float:
    predicted = scores >= thresholds
    tp = (predicted & (truth == 1)).sum()
    return 2 * tp / (2 * tp + (predicted & (truth == 0)).sum() + (~predicted & (truth == 1)).sum())


def test_per_label_thresholds_serve_micro_f1_not_each_labels_own():
    # label 0 separable at 0.5; label 1's scores carry no signal. Its own F1 peaks by predicting it everywhere
    # (30 positives in 100 rows: F1 0.46), which adds 70 false positives to the tagger; micro-F1 is higher with
    # label 1 predicted nowhere.
    rng = np.random.default_rng(1)
    truth = np.zeros((100, 2), dtype=int)
    truth[:50, 0] = 1
    truth[rng.permutation(100)[:30], 1] = 1
    scores = np.stack([np.where(truth[:, 0] == 1, 0.8, 0.2), rng.uniform(0.1, 0.9, 100)], axis=1).astype(np.float32)
    micro = tune_thresholds(truth, scores, min_support=20, min_positives=1)
    own_f1 = [_f1_of(truth[:, 1], scores[:, 1] >= t) for t in (0.1, 0.3, 0.5, 0.7)]
    assert np.argmax(own_f1) == 0  # label 1's own F1 would predict it for every row
    assert list(micro.tuned) == [True, True] and not (scores[:, 1] >= micro.per_label[1]).any()  # micro: nowhere
    global_only = np.full(2, micro.global_threshold, np.float32)
    assert _micro_f1(truth, scores, micro.per_label) > _micro_f1(truth, scores, global_only)
    own = np.array([micro.per_label[0], 0.1], np.float32)
    assert _micro_f1(truth, scores, micro.per_label) > _micro_f1(truth, scores, own) + 0.05
    assert 0.2 < micro.per_label[0] <= 0.8  # the separable label keeps a separating value


def test_per_label_moves_only_where_micro_f1_rises():
    # both labels separable at the same cut: no label gains by leaving the global threshold
    truth = np.zeros((60, 2), dtype=int)
    truth[:30, 0] = 1
    truth[15:45, 1] = 1
    scores = np.where(truth == 1, 0.7, 0.3).astype(np.float32)
    tuned = tune_thresholds(truth, scores, min_support=20, min_positives=1)
    assert list(tuned.per_label) == [tuned.global_threshold] * 2


def _f1_of(truth: np.ndarray, predicted: np.ndarray) -> float:
    tp = int((truth.astype(bool) & predicted).sum())
    return (
        2 * tp / (2 * tp + int((~truth.astype(bool) & predicted).sum()) + int((truth.astype(bool) & ~predicted).sum()))
    )
