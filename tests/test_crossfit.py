from __future__ import annotations

import numpy as np
import pytest

from mlc.models.crossfit import aligned, out_of_fold_logits
from mlc.models.mixing import ABSENT_LOGIT, logit_parts
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
    oof = out_of_fold_logits(texts, label_lists, folds, val_texts, val_labels, labels, config)

    rest = folds[0]  # fold 1 (odd rows) is scored by the model trained on the even rows, seed 11 + 2
    by_hand = train([texts[i] for i in rest], [label_lists[i] for i in rest], val_texts, val_labels, TrainConfig(epochs=3, seed=13))
    parts = logit_parts(by_hand, [texts[i] for i in folds[1]])
    np.testing.assert_allclose(oof.mlp[folds[1]], aligned(parts.mlp, by_hand.labels, labels, ABSENT_LOGIT), atol=1e-4)
    np.testing.assert_allclose(oof.head[folds[1]], aligned(parts.head, by_hand.labels, labels, ABSENT_LOGIT), atol=1e-4)
    # mixed, they are that model's probabilities at any share
    expected = Predictor.from_model(by_hand.with_share(0.75).model, by_hand.labels).predict([texts[i] for i in folds[1]])
    np.testing.assert_allclose(oof.probabilities(0.75)[folds[1]], aligned(expected, by_hand.labels, labels), atol=1e-5)
    assert (oof.probabilities(0.5)[:, 2] < 1e-9).all()  # a label no model knows scores 0
    # a model that saw the rows is more sure of their labels than the models that did not
    seen = aligned(Predictor.from_model(by_hand.model, by_hand.labels).predict([texts[i] for i in rest]), by_hand.labels, labels)
    truth = np.array([[label in row for label in labels[:2]] for row in label_lists], dtype=bool)
    assert seen[:, :2][truth[rest]].mean() > oof.probabilities(0.5)[rest][:, :2][truth[rest]].mean()


@pytest.mark.slow
def test_without_a_head_only_the_mlp_part_exists(abstracts_csv):
    data = load_labelled(abstracts_csv, ColumnOptions())
    folds = [list(range(0, 80, 2)), list(range(1, 80, 2))]
    oof = out_of_fold_logits(data.texts[:80], data.labels[:80], folds, data.texts[80:100], data.labels[80:100],
                             ["cs.LG", "cs.CV"], TrainConfig(epochs=2, seed=3, linear_share=0.0))
    assert oof.head is None and oof.mlp.shape == (80, 2) and (oof.mlp != ABSENT_LOGIT).all()
