from __future__ import annotations

import pytest

from mlc.pipeline.tuning import AUTO_FOLDS, CROSS_FIT_BELOW, threshold_folds


def test_cross_fitting_by_default_only_below_the_validation_size():
    assert threshold_folds(None, CROSS_FIT_BELOW - 1, 10_000) == AUTO_FOLDS
    assert threshold_folds(None, CROSS_FIT_BELOW, 10_000) == 0
    assert threshold_folds(3, 10_000, 10_000) == 3  # asked for: done at any size
    assert threshold_folds(0, 10, 500) == 0


def test_never_more_folds_than_half_the_training_rows():
    assert threshold_folds(None, 2, 9) == 0
    assert threshold_folds(None, 2, 10) == AUTO_FOLDS


def test_one_fold_is_refused():
    with pytest.raises(ValueError, match="at least 2"):
        threshold_folds(1, 10, 100)
