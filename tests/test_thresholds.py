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
