"""The head's share chosen after training: each part's logits mix to the folded model at any share, and the choice
takes the share whose tuned thresholds score best on the tuning rows."""
from __future__ import annotations

import numpy as np
import pytest

from mlc.models.linear import PROVISIONAL_SHARE, SHARES
from mlc.models.mixing import LogitParts, logit_parts
from mlc.models.predictor import Predictor
from mlc.models.thresholds import micro_f1, tune_thresholds
from mlc.models.train import TrainConfig, train
from mlc.pipeline.training_data import ColumnOptions, load_labelled
from mlc.pipeline.tuning import choose_share

HOSTILE = ["", "\x00\x01 \u202e evil", "ünïcödé façade – naïve", "x" * 5000, "Graph-based, deep: networks!"]


@pytest.fixture(scope="module")
def trained(abstracts_csv):
    data = load_labelled(abstracts_csv, ColumnOptions())
    result = train(data.texts[:200], data.labels[:200], data.texts[200:240], data.labels[200:240], TrainConfig(epochs=2, seed=5))
    return result, list(data.texts[240:300]) + HOSTILE


@pytest.mark.slow
def test_parts_mix_to_the_folded_model_at_every_share(trained):
    result, texts = trained
    assert result.linear_share == PROVISIONAL_SHARE and result.with_share(PROVISIONAL_SHARE) is result
    parts = logit_parts(result, texts)
    for share in (0.0, 0.25, 0.3, 0.75, 1.0):
        model = result.with_share(share)
        assert model.linear_share == share
        np.testing.assert_allclose(Predictor.from_model(model.model, model.labels).predict(texts), parts.probabilities(share), atol=1e-5)
    assert not np.allclose(parts.mlp, parts.head, atol=0.1)  # two different models, so the share matters


@pytest.mark.slow
def test_without_a_head_there_is_no_share_to_choose(abstracts_csv):
    data = load_labelled(abstracts_csv, ColumnOptions())
    result = train(data.texts[:100], data.labels[:100], data.texts[100:120], data.labels[100:120],
                   TrainConfig(epochs=1, seed=5, linear_share=0.0))
    parts = logit_parts(result, data.texts[120:130])
    assert parts.head is None and result.head is None
    with pytest.raises(ValueError, match="no logistic head"):
        result.with_share(0.5)
    share, _, note = choose_share(np.ones((10, len(result.labels))), parts, None)
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
    assert choose_share(truth, LogitParts(informative, informative.copy()), None)[0] == PROVISIONAL_SHARE
    share, thresholds, note = choose_share(truth, LogitParts(informative, informative * 0), 0.3)
    assert (share, note) == (0.3, "set by --linear-share")
    expected = tune_thresholds(truth, LogitParts(informative, informative * 0).probabilities(0.3))
    np.testing.assert_array_equal(thresholds.per_label, expected.per_label)


def test_micro_f1_counts_every_cell():
    truth = np.array([[1, 0], [1, 1], [0, 0]], np.float32)
    predicted = np.array([[1, 1], [0, 1], [0, 0]], bool)
    assert micro_f1(truth, predicted) == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))
    assert micro_f1(np.zeros((2, 2)), np.zeros((2, 2), bool)) == 0.0
