"""Agreement statistics against hand-computed values and independent reference calls.

The literals were worked by hand (shown in the comments) and cross-checked with scipy.stats calls that
quantsr.stats does not make (``ttest_rel``, ``linregress``); none is recomputed with the code's own formula."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from quantsr.stats import bland_altman_percent, coefficient_of_variation, paired_t_test, regression, tost

ROUTINE = np.array([800.0, 820.0, 840.0, 860.0, 880.0])
DL = np.array([804.0, 818.0, 846.0, 861.0, 886.0])  # differences 4, −2, 6, 1, 6


# Differences 4, −2, 6, 1, 6: mean 3, squared deviations 1 + 25 + 9 + 4 + 9 = 48, SD² = 48 / 4 = 12,
# SE = √(12 / 5) = 1.549193338...
SE = 1.5491933384829668


def test_paired_t_test_by_hand() -> None:
    result = paired_t_test(DL, ROUTINE)
    assert result.mean_difference == pytest.approx(3.0, rel=1e-12)
    assert result.t == pytest.approx(3 / SE, rel=1e-12)  # 1.936491673...
    assert result.t == pytest.approx(1.9364916731037083, rel=1e-12)
    assert result.p == pytest.approx(0.12487982574290818, rel=1e-9)  # two-sided, 4 df
    independent = scipy_stats.ttest_rel(DL, ROUTINE)
    assert (result.t, result.p) == pytest.approx((independent.statistic, independent.pvalue), rel=1e-12)


def test_tost_equivalent_and_not() -> None:
    result = tost(DL, ROUTINE)  # margin 5 % of 840 = 42 ms; differences of a few ms are equivalent
    assert result.margin == pytest.approx(42.0, rel=1e-12)
    # t_low = (3 + 42) / SE = 29.047, t_high = (3 − 42) / SE = −25.174; p = the larger one-sided p
    assert result.p == pytest.approx(scipy_stats.t.cdf((3 - 42) / SE, 4), rel=1e-9)
    assert result.p == pytest.approx(7.391465508956227e-06, rel=1e-6)
    assert result.equivalent
    # 90 % CI: 3 ± t(0.95, 4) × SE = 3 ± 2.131846786 × 1.549193338 = 3 ± 3.302642840
    assert (result.ci90_low, result.ci90_high) == pytest.approx((3 - 3.302642840043566, 3 + 3.302642840043566),
                                                                rel=1e-9)
    shifted = tost(ROUTINE * 1.10, ROUTINE)  # 10 % off: not equivalent within ±5 %
    assert not shifted.equivalent


def test_regression_of_a_known_line() -> None:
    x = np.array([1.0, 2.0, 3.0, 4.0])
    fit = regression(0.8 * x + 5, x)
    assert (fit.slope, fit.intercept, fit.r2) == pytest.approx((0.8, 5.0, 1.0))
    # y = 2, 4, 5, 8 on x = 1..4: Sxx = 5, Sxy = 9.5, Syy = 18.75 → slope 1.9, intercept 4.75 − 1.9 × 2.5 = 0,
    # R² = 9.5² / (5 × 18.75) = 0.962666...
    fit = regression(np.array([2.0, 4.0, 5.0, 8.0]), x)
    assert (fit.slope, fit.r2) == pytest.approx((1.9, 0.9626666666666667), rel=1e-12)
    assert fit.intercept == pytest.approx(0.0, abs=1e-12)
    assert fit.p == pytest.approx(scipy_stats.linregress(x, [2.0, 4.0, 5.0, 8.0]).pvalue, rel=1e-9)
    assert fit.p == pytest.approx(0.018844218960787695, rel=1e-9)


def test_bland_altman_percent_by_hand() -> None:
    method, reference = np.array([110.0, 95.0, 102.0]), np.array([100.0, 100.0, 100.0])
    # % of the pair mean: 10/105, −5/97.5, 2/101 → 9.5238095, −5.1282051, 1.9801980 (× 100)
    result = bland_altman_percent(method, reference)
    assert result.bias_pct == pytest.approx(2.1252674718021254, rel=1e-9)
    assert result.loa_high_pct - result.bias_pct == pytest.approx(1.96 * 7.327084495223235, rel=1e-9)
    assert result.bias_pct - result.loa_low_pct == pytest.approx(14.36108561063754, rel=1e-9)


def test_cv_and_input_checks() -> None:
    assert coefficient_of_variation([90.0, 100.0, 110.0]) == pytest.approx(10.0)
    with pytest.raises(ValueError, match="at least two pairs"):
        paired_t_test([1.0], [1.0])
    with pytest.raises(ValueError, match="one length"):
        regression([1.0, 2.0], [1.0, 2.0, 3.0])
