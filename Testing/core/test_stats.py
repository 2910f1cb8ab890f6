"""Agreement statistics against hand-computed values and independent reference calls."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from quantsr.stats import bland_altman_percent, coefficient_of_variation, paired_t_test, regression, tost

ROUTINE = np.array([800.0, 820.0, 840.0, 860.0, 880.0])
DL = np.array([804.0, 818.0, 846.0, 861.0, 886.0])  # differences 4, −2, 6, 1, 6


def test_paired_t_test_by_hand() -> None:
    diff = DL - ROUTINE
    t_hand = diff.mean() / (diff.std(ddof=1) / np.sqrt(5))
    result = paired_t_test(DL, ROUTINE)
    assert result.mean_difference == pytest.approx(3.0)
    assert result.t == pytest.approx(t_hand)
    assert result.p == pytest.approx(2 * scipy_stats.t.sf(abs(t_hand), 4))


def test_tost_equivalent_and_not() -> None:
    result = tost(DL, ROUTINE)  # margin 5 % of 840 = 42 ms; differences of a few ms are equivalent
    assert result.margin == pytest.approx(42.0)
    assert result.equivalent and result.p < 0.001
    diff = DL - ROUTINE
    half = scipy_stats.t.ppf(0.95, 4) * diff.std(ddof=1) / np.sqrt(5)
    assert (result.ci90_low, result.ci90_high) == pytest.approx((3 - half, 3 + half))
    shifted = tost(ROUTINE * 1.10, ROUTINE)  # 10 % off: not equivalent within ±5 %
    assert not shifted.equivalent


def test_regression_of_a_known_line() -> None:
    x = np.array([1.0, 2.0, 3.0, 4.0])
    fit = regression(0.8 * x + 5, x)
    assert (fit.slope, fit.intercept, fit.r2) == pytest.approx((0.8, 5.0, 1.0))


def test_bland_altman_percent_by_hand() -> None:
    method, reference = np.array([110.0, 95.0, 102.0]), np.array([100.0, 100.0, 100.0])
    percent = 100 * (method - reference) / ((method + reference) / 2)
    result = bland_altman_percent(method, reference)
    assert result.bias_pct == pytest.approx(percent.mean())
    assert result.loa_high_pct - result.bias_pct == pytest.approx(1.96 * percent.std(ddof=1))


def test_cv_and_input_checks() -> None:
    assert coefficient_of_variation([90.0, 100.0, 110.0]) == pytest.approx(10.0)
    with pytest.raises(ValueError, match="at least two pairs"):
        paired_t_test([1.0], [1.0])
    with pytest.raises(ValueError, match="one length"):
        regression([1.0, 2.0], [1.0, 2.0, 3.0])
