"""The ROI trust flag (quantsr.reliability): the fast scan's standard error of an ROI mean, estimated from one
scan, matches the scatter of that mean over repeated noisy scans; small or noisy ROIs are flagged imprecise,
DL departing from the scan inconsistent."""

from __future__ import annotations

import math

import numpy as np
import pytest

from quantsr.kspace import truncate
from quantsr.mapkinds import MapKind
from quantsr.reliability import (
    DEFAULT_MIN_SAMPLES,
    DEFAULT_PRECISION_PCT,
    IMPRECISE,
    INCONSISTENT,
    TOO_SMALL,
    RoiReliability,
    fast_samples,
    fast_standard_error_pct,
    roi_reliability,
)
from quantsr.trust import DEFAULT_THRESHOLD_PCT, deviation, fine_grid_like
from quantsr.volume import QuantMap

N = 64  # fast grid; DL grid 128
WINDOW = (48, 32)  # acquired (frequency, phase): the 192×128 of 256² scaled down by 4
FOV = 220.0
VALUE = 100.0
SAMPLES_PER_DL_VOXEL = WINDOW[0] * WINDOW[1] / (2 * N) ** 2


def _fast(array: np.ndarray) -> QuantMap:
    pixel = FOV / N
    return QuantMap(array.astype(np.float32), origin=(-110 + pixel / 2, -110 + pixel / 2, 0.0),
                    spacing=(pixel, pixel, 5.0), kind=MapKind.T2,
                    metadata={"acquisition_matrix": [WINDOW[0], 0, 0, WINDOW[1]]})


def _band_limited_noise(rng: np.random.Generator, sigma: float) -> np.ndarray:
    """Noise as the fast acquisition has it: white on the object grid, kept only inside the acquired window."""
    white = rng.normal(0.0, sigma, (2, 2 * N, 2 * N))
    return truncate(white, WINDOW, N, FOV)


def _roi(size: int) -> np.ndarray:
    mask = np.zeros((2, 2 * N, 2 * N), bool)
    mask[:, 64 - size // 2: 64 - size // 2 + size, 60: 60 + size] = True
    return mask


def test_standard_error_matches_the_scatter_of_the_fast_mean_over_repeated_scans() -> None:
    rng = np.random.default_rng(3)
    clean = _fast(np.full((2, N, N), VALUE))
    dl = fine_grid_like(clean, np.full((2, 2 * N, 2 * N), VALUE, np.float32))  # denoised: the truth
    mask = _roi(16)  # 16×16 DL voxels per slice, 2 slices: 48 independent acquired samples
    means, estimates = [], []
    for _ in range(40):
        fast = _fast(VALUE + _band_limited_noise(rng, 20.0))
        fast_on_dl = np.repeat(np.repeat(fast.array, 2, axis=1), 2, axis=2)  # nearest neighbour: what an ROI reads
        means.append(float(fast_on_dl[mask].mean()))
        estimates.append(fast_standard_error_pct(deviation(dl, fast), mask, dl.array))
    empirical_pct = 100 * np.std(means, ddof=1) / VALUE
    assert 0.3 < empirical_pct < 3  # a measurable error, not a degenerate case
    assert np.median(estimates) == pytest.approx(empirical_pct, rel=0.25)


def test_white_noise_standard_error_is_sigma_over_root_of_fast_voxels() -> None:
    sigma = 5.0
    fast = _fast(VALUE + np.random.default_rng(0).normal(0.0, sigma, (2, N, N)))
    dl = fine_grid_like(fast, np.full((2, 2 * N, 2 * N), VALUE, np.float32))
    trust = deviation(dl, fast)
    window_share = WINDOW[0] * WINDOW[1] / N**2  # the part of white noise inside the acquired window
    assert trust.samples_per_voxel == pytest.approx(SAMPLES_PER_DL_VOXEL)
    assert np.median(trust.noise_sd.array[trust.head]) == pytest.approx(sigma * math.sqrt(window_share), rel=0.1)
    mask = _roi(20)  # 20×20 DL voxels = 10×10 fast voxels per slice, 2 slices: 200 fast voxels
    expected_pct = 100 * sigma / math.sqrt(200) / VALUE
    assert fast_standard_error_pct(trust, mask, dl.array) == pytest.approx(expected_pct, rel=0.1)


def test_a_tiny_roi_is_imprecise_a_large_one_is_not() -> None:
    fast = _fast(VALUE + np.random.default_rng(1).normal(0.0, 5.0, (2, N, N)))
    dl = fine_grid_like(fast, np.full((2, 2 * N, 2 * N), VALUE, np.float32))
    trust = deviation(dl, fast)
    tiny = roi_reliability(trust, _roi(2), dl.array)  # 8 DL voxels: fewer than one acquired sample
    large = roi_reliability(trust, _roi(40), dl.array)
    assert tiny.samples == pytest.approx(8 * SAMPLES_PER_DL_VOXEL) and tiny.samples < DEFAULT_MIN_SAMPLES
    assert tiny.precision_pct > DEFAULT_PRECISION_PCT and tiny.reasons() == (IMPRECISE, TOO_SMALL)
    assert tiny.flag() == "imprecise, too small"
    assert large.samples == pytest.approx(2 * 40 * 40 * SAMPLES_PER_DL_VOXEL)
    assert large.precision_pct < 0.5 and large.flag() == "ok"
    assert abs(large.consistency_pct) < 0.5  # DL is the truth: consistent with the scan


def test_reasons_and_flag_text() -> None:
    assert RoiReliability(DEFAULT_THRESHOLD_PCT + 1, 0.5).reasons() == (INCONSISTENT,)
    assert RoiReliability(-(DEFAULT_THRESHOLD_PCT + 1), DEFAULT_PRECISION_PCT + 1).flag() == "inconsistent, imprecise"
    assert RoiReliability(0.2, 0.2).flag() == "ok" and not RoiReliability(0.2, 0.2).flagged()
    assert RoiReliability(float("nan"), float("nan")).flag() == ""
    assert RoiReliability(0.2, 0.2, DEFAULT_MIN_SAMPLES - 1).reasons() == (TOO_SMALL,)
    assert RoiReliability(0.2, 0.2, DEFAULT_MIN_SAMPLES - 1).flag(min_samples=0.0) == "ok"
    assert RoiReliability(2.0, 1.0).flag(consistency_threshold_pct=1.5, precision_threshold_pct=0.5) == \
        "inconsistent, imprecise"


def test_no_head_voxel_gives_nan() -> None:
    fast = _fast(np.full((2, N, N), VALUE))
    dl = fine_grid_like(fast, np.full((2, 2 * N, 2 * N), VALUE, np.float32))
    empty = roi_reliability(deviation(dl, fast), np.zeros((2, 2 * N, 2 * N), bool), dl.array)
    assert math.isnan(empty.consistency_pct) and math.isnan(empty.precision_pct) and empty.flag() == ""
    assert math.isnan(fast_samples(deviation(dl, fast), np.zeros((2, 2 * N, 2 * N), bool)))
