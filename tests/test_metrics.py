from __future__ import annotations

import numpy as np
import pytest

from mlc.models.metrics import binary_accuracy, evaluate_scores


def test_metrics_on_a_hand_computed_case():
    labels = ["a", "b", "c"]
    truth = [["a"], ["a", "b"], ["c"], ["b", "z"]]  # "z" is unknown to the model
    scores = np.array(
        [
            [0.9, 0.2, 0.1],  # predicts {a}: exact
            [0.8, 0.4, 0.6],  # predicts {a, c}: a right, b missed, c wrong
            [0.1, 0.1, 0.7],  # predicts {c}: exact
            [0.3, 0.5, 0.2],  # predicts {b} (0.5 >= threshold); z can never be predicted
        ],
        dtype=np.float32,
    )
    report = evaluate_scores(truth, scores, labels, threshold=0.5, ks=(1, 3))
    # Keras binary accuracy: score > 0.5 on the model's 12 cells; wrong: row1 b, row1 c, row3 b (0.5 is not > 0.5).
    assert report["binary_accuracy"] == pytest.approx(9 / 12)
    # Nothing predicted: true cells among the 12 known ones are a, a, b, c, b = 5 -> 7/12 right.
    assert report["binary_accuracy_predict_nothing"] == pytest.approx(7 / 12)
    # At >= 0.5: tp = a, a, c, b = 4; fp = c(row1) = 1; fn = b(row1), z(row3) = 2.
    assert report["micro_precision"] == pytest.approx(4 / 5)
    assert report["micro_recall"] == pytest.approx(4 / 6)
    assert report["micro_f1"] == pytest.approx(2 * 0.8 * (4 / 6) / (0.8 + 4 / 6))
    # Rows exactly right: row0 and row2.
    assert report["subset_accuracy"] == pytest.approx(0.5)
    # Top-1: a, a, c, b -> all hits.
    assert report["precision@1"] == pytest.approx(1.0)
    # Top-3 of 3 known labels holds every known label: hits 1, 2, 1, 1 of true 1, 2, 1, 2.
    assert report["precision@3"] == pytest.approx(np.mean([1 / 3, 2 / 3, 1 / 3, 1 / 3]))
    assert report["recall@3"] == pytest.approx(np.mean([1, 1, 1, 0.5]))
    # nDCG@3, binary relevance; ranks: row0 a|b c, row1 a c b (hits 1 and 3), row2 c, row3 b (z unknown still counts
    # in the ideal DCG: two true labels).
    ideal_two = 1 + 1 / np.log2(3)
    assert report["ndcg@1"] == pytest.approx(1.0)
    assert report["ndcg@3"] == pytest.approx(np.mean([1.0, (1 + 1 / np.log2(4)) / ideal_two, 1.0, 1 / ideal_two]))
    # Wrong cells of 16 (4 known labels incl. z): b and c of row1, z of row3.
    assert report["hamming_loss"] == pytest.approx(3 / 16)
    assert report["unknown_labels"] == {"occurrences": 1, "rows": 1, "labels": {"z": 1}}
    per_label = {row["label"]: row for row in report["per_label"]}
    assert per_label["c"]["precision"] == pytest.approx(0.5) and per_label["c"]["recall"] == pytest.approx(1.0)
    assert per_label["z"]["known"] is False and per_label["z"]["support"] == 1 and per_label["z"]["f1"] == 0.0
    # Macro F1 over labels with support: a 1.0, b 2/3 (p 1, r 0.5), c 2/3, z 0.
    assert report["macro_f1"] == pytest.approx(np.mean([1.0, 2 / 3, 2 / 3, 0.0]))


def test_binary_accuracy_matches_keras():
    from mlc.models.tf_backend.runtime import tf_keras

    _, keras = tf_keras()
    rng = np.random.default_rng(0)
    y_true = (rng.random((50, 7)) > 0.8).astype(np.float32)
    scores = rng.random((50, 7)).astype(np.float32)
    scores[0, 0] = 0.5
    expected = float(np.mean(keras.metrics.binary_accuracy(y_true, scores)))
    assert binary_accuracy(y_true, scores) == pytest.approx(expected, abs=1e-6)
