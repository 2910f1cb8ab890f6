"""Agreement statistics of the paper (Tables 1–3, Figures 3–4), on paired per-subject or per-ROI values:
paired t-test, TOST equivalence, linear regression, Bland–Altman of percentage differences, CV.
scipy / statsmodels do the statistics; this module only fixes the conventions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from .errors import QuantSRError


def _paired(method: ArrayLike, reference: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(method, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired values need two 1-D arrays of one length, got {a.shape} and {b.shape}")
    if a.size < 2:
        raise ValueError("paired statistics need at least two pairs")
    return a, b


@dataclass
class PairedTest:
    """A paired t-test: pairs, both means and their mean difference (the values' unit), t and two-sided p."""

    n: int
    mean_method: float
    mean_reference: float
    mean_difference: float
    t: float
    p: float

    def as_dict(self) -> dict:
        return asdict(self)


def paired_t_test(method: ArrayLike, reference: ArrayLike) -> PairedTest:
    """Paired t-test of ``method`` against ``reference`` (scipy ``ttest_rel``, two-sided).

    Args:
        method: values (N,) — e.g. DL means per subject or ROI, in ms or %.
        reference: the paired reference values (N,), same unit; N ≥ 2.

    Returns:
        n, the two means, mean(method − reference), t and p. ValueError for unpaired or too few values.
    """
    a, b = _paired(method, reference)
    result = stats.ttest_rel(a, b)
    return PairedTest(a.size, float(a.mean()), float(b.mean()), float((a - b).mean()), float(result.statistic),
                      float(result.pvalue))


@dataclass
class Equivalence:
    """A TOST equivalence test (:func:`tost`)."""

    margin: float  # ± in the values' unit
    p: float  # TOST p-value (the larger of the two one-sided tests)
    ci90_low: float  # 90 % CI of the mean difference
    ci90_high: float
    equivalent: bool  # p < alpha


def require_statsmodels() -> Callable:
    """statsmodels' ``ttost_paired``. statsmodels is in the ``stats`` extra, not a core dependency (the
    clinical commands and the Slicer module do not need it), so a missing one is a QuantSRError that says
    what to install, not an ImportError traceback."""
    try:
        from statsmodels.stats.weightstats import ttost_paired
    except ImportError:
        raise QuantSRError("the report's equivalence tests need statsmodels, which is not installed: "
                           "pip install 'quantsr[stats]' (or: pip install 'statsmodels>=0.14')") from None
    return ttost_paired


def tost(method: ArrayLike, reference: ArrayLike, margin_fraction: float = 0.05,
         alpha: float = 0.05) -> Equivalence:
    """Two one-sided tests (statsmodels ``ttost_paired``) with margins ± ``margin_fraction`` × the
    reference mean (the paper's ±5 %); the 90 % CI of the mean difference goes with it.

    Args:
        method, reference: paired values (N,), N ≥ 2, in one unit (ms or %).
        margin_fraction: the equivalence margin as a fraction of the reference mean.
        alpha: equivalence is declared when the TOST p is below this.

    Returns:
        The margin (values' unit), TOST p, the 90 % CI of mean(method − reference) and the verdict.
    """
    ttost_paired = require_statsmodels()
    a, b = _paired(method, reference)
    margin = margin_fraction * float(b.mean())
    p, _lower, _upper = ttost_paired(a, b, -margin, margin)
    diff = a - b
    half = stats.t.ppf(0.95, diff.size - 1) * diff.std(ddof=1) / np.sqrt(diff.size)
    return Equivalence(margin, float(p), float(diff.mean() - half), float(diff.mean() + half), bool(p < alpha))


@dataclass
class Regression:
    """Least-squares line method = slope × reference + intercept (intercept in the values' unit), R², and the
    p-value of the slope."""

    slope: float
    intercept: float
    r2: float
    p: float


def regression(method: ArrayLike, reference: ArrayLike) -> Regression:
    """Least-squares line method = slope × reference + intercept (the paper's DL vs routine plots).

    Args:
        method, reference: paired values (N,), N ≥ 2 (scipy ``linregress`` of method on reference).

    Returns:
        Slope, intercept, R² and p.
    """
    a, b = _paired(method, reference)
    fit = stats.linregress(b, a)
    return Regression(float(fit.slope), float(fit.intercept), float(fit.rvalue**2), float(fit.pvalue))


@dataclass
class BlandAltman:
    """Bland–Altman of percentage differences (:func:`bland_altman_percent`), all in %."""

    bias_pct: float  # mean of 100 × (method − reference) / mean of the pair
    loa_low_pct: float  # bias − 1.96 SD
    loa_high_pct: float  # bias + 1.96 SD
    sd_pct: float


def bland_altman_percent(method: ArrayLike, reference: ArrayLike) -> BlandAltman:
    """Bland–Altman of percentage differences, as the paper's Figures 3–4.

    Args:
        method, reference: paired values (N,), N ≥ 2, positive (ms or %).

    Returns:
        The mean of 100 × (method − reference) / pair mean (the bias, %), its SD and the 95 % limits of
        agreement (bias ± 1.96 SD).
    """
    a, b = _paired(method, reference)
    percent = 100.0 * (a - b) / ((a + b) / 2.0)
    bias, sd = float(percent.mean()), float(percent.std(ddof=1))
    return BlandAltman(bias, bias - 1.96 * sd, bias + 1.96 * sd, sd)


def coefficient_of_variation(values: ArrayLike) -> float:
    """SD / mean × 100 (sample SD), as in the paper's intra- and inter-group CVs.

    Args:
        values: (N,), N ≥ 2.

    Returns:
        The coefficient of variation in %.
    """
    values = np.asarray(values, dtype=np.float64)
    return float(100.0 * values.std(ddof=1) / values.mean())
