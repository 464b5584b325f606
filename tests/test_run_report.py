"""The drift test's arithmetic: exact binomial p-values, checked against the sum of every outcome's probability."""

from __future__ import annotations

import math

import pytest

from mlc.pipeline.run_report import DriftTolerance, binomial_p_value, smallest_p_value


def _brute(count: int, rows: int, share: float) -> float:
    pmf = [math.comb(rows, j) * share**j * (1 - share) ** (rows - j) for j in range(rows + 1)]
    return min(1.0, 2 * min(sum(pmf[: count + 1]), sum(pmf[count:])))


@pytest.mark.parametrize("rows", [1, 5, 50, 300])
@pytest.mark.parametrize("share", [0.001, 0.05, 0.3, 0.5, 0.97])
def test_p_values_are_exact(rows, share):
    for count in sorted({0, 1, rows // 3, rows // 2, rows - 1, rows}):
        assert binomial_p_value(count, rows, share) == pytest.approx(_brute(count, rows, share), rel=1e-9, abs=1e-300)


def test_large_runs_stay_exact_and_quick():
    assert binomial_p_value(50_000, 1_000_000, 0.05) == 1.0
    assert binomial_p_value(51_000, 1_000_000, 0.05) < 1e-5 < binomial_p_value(50_300, 1_000_000, 0.05)


def test_one_row_is_never_evidence_at_ordinary_shares():
    assert smallest_p_value(1, 0.05) == pytest.approx(0.1)
    assert smallest_p_value(5, 0.2) == pytest.approx(2 * 0.2**5)
    assert not DriftTolerance().moved(0.06, 0.05) and DriftTolerance().moved(0.2, 0.05)
