from __future__ import annotations

import numpy as np
import pytest

from mlc.models.crossfit import aligned, out_of_fold_scores
from mlc.models.predictor import Predictor
from mlc.models.train import TrainConfig, train
from mlc.pipeline.training_data import ColumnOptions, load_labelled


def test_aligned_reorders_columns_and_zero_fills_unknown_labels():
    scores = np.array([[0.1, 0.9], [0.3, 0.7]], dtype=np.float32)
    out = aligned(scores, ["b", "a"], ["a", "c", "b"])
    np.testing.assert_array_equal(out, np.array([[0.9, 0.0, 0.1], [0.7, 0.0, 0.3]], dtype=np.float32))


@pytest.mark.slow
def test_each_row_is_scored_by_the_model_trained_without_its_fold(abstracts_csv):
    """Fold j's rows get the scores of a model trained on the other rows with seed + j + 1: the same numbers as
    training that model by hand, and not those of a model that saw the rows."""
    data = load_labelled(abstracts_csv, ColumnOptions())
    texts, label_lists = data.texts[:160], data.labels[:160]
    val_texts, val_labels = data.texts[160:200], data.labels[160:200]
    folds = [list(range(0, 160, 2)), list(range(1, 160, 2))]
    config = TrainConfig(epochs=3, seed=11)
    labels = ["cs.LG", "cs.CV", "no.such.label"]
    oof = out_of_fold_scores(texts, label_lists, folds, val_texts, val_labels, labels, config)

    rest = folds[0]  # fold 1 (odd rows) is scored by the model trained on the even rows, seed 11 + 2
    by_hand = train([texts[i] for i in rest], [label_lists[i] for i in rest], val_texts, val_labels, TrainConfig(epochs=3, seed=13))
    expected = aligned(Predictor.from_model(by_hand.model, by_hand.labels).predict([texts[i] for i in folds[1]]), by_hand.labels, labels)
    np.testing.assert_allclose(oof[folds[1]], expected, atol=1e-5)
    assert not oof[:, 2].any()  # a label no model knows scores 0
    # a model that saw the rows is more sure of their labels than the models that did not
    seen = aligned(Predictor.from_model(by_hand.model, by_hand.labels).predict([texts[i] for i in rest]), by_hand.labels, labels)
    truth = np.array([[label in row for label in labels[:2]] for row in label_lists], dtype=bool)
    assert seen[:, :2][truth[rest]].mean() > oof[rest][:, :2][truth[rest]].mean()
