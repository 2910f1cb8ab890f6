"""SSIM in the paper's convention (MATLAB ``ssim``: Gaussian σ 1.5, population covariance, replicated edges,
mean over the whole map) against independent values: a hand-computed constant-image case and scikit-image's
own Gaussian SSIM on edge-padded images (padding by the window radius makes scikit-image's cropped mean the
mean over exactly the original pixels, with replicated edges)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from skimage.metrics import structural_similarity

from quantsr.quality import PAPER_DATA_RANGE, SSIM_CONVENTIONS, image_scores, ssim_map


def _textured(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 20000 + 8000 * ndimage.gaussian_filter(rng.normal(0, 1, (40, 48)), 1.5) + rng.normal(0, 300, (40, 48))


def _matlab_reference(x: np.ndarray, y: np.ndarray, data_range: float) -> float:
    return float(structural_similarity(np.pad(x, 5, mode="edge"), np.pad(y, 5, mode="edge"), data_range=data_range,
                                       gaussian_weights=True, sigma=1.5, use_sample_covariance=False))


def test_constant_images_by_hand() -> None:
    """Constant slices: μx = 1000, μy = 1100 (stored scale), no variance → SSIM = (2μxμy + C1) / (μx² + μy² + C1)
    with C1 = (0.01 × 65535)² = 429483.6225: (2 200 000 + 429 483.6) / (2 210 000 + 429 483.6) = 0.9962113..."""
    reference, test = np.full((2, 24, 24), 100.0), np.full((2, 24, 24), 110.0)  # physical; stored = × 10
    scores = image_scores(test, reference, norm_physical=4500.0)
    assert scores.ssim == pytest.approx(2629483.6225 / 2639483.6225, rel=1e-12)
    c1_head = (0.01 * 45000.0) ** 2  # the head variant: L = the map's normalisation on the stored scale
    assert scores.ssim_head == pytest.approx((2.2e6 + c1_head) / (2.21e6 + c1_head), rel=1e-12)
    assert scores.psnr == pytest.approx(20 * np.log10(65535 / 100), rel=1e-12)  # per volume: MSE 100²


def test_matlab_convention_matches_independent_reference() -> None:
    x, y = _textured(1), _textured(2) * 0.5 + _textured(1) * 0.5
    value, full = ssim_map(x, y, PAPER_DATA_RANGE)
    assert full.shape == x.shape
    assert value == pytest.approx(_matlab_reference(x, y, PAPER_DATA_RANGE), rel=1e-9)
    assert ssim_map(x, y, 5000.0)[0] == pytest.approx(_matlab_reference(x, y, 5000.0), rel=1e-9)
    # the paper's convention is the default of the tables; the other stays available and differs
    skimage_value = ssim_map(x, y, 5000.0, "skimage")[0]
    assert skimage_value == pytest.approx(structural_similarity(x, y, data_range=5000.0), rel=1e-12)
    assert abs(skimage_value - ssim_map(x, y, 5000.0)[0]) > 1e-3


def test_image_scores_default_is_the_papers_ssim_per_slice() -> None:
    reference = np.stack([_textured(3), _textured(4)]) / 10
    test = reference + np.random.default_rng(5).normal(0, 40, reference.shape)
    scores = image_scores(test, reference, 4500.0)
    expected = np.mean([_matlab_reference(reference[k] * 10, test[k] * 10, PAPER_DATA_RANGE) for k in range(2)])
    assert scores.ssim == pytest.approx(expected, rel=1e-9)
    other = image_scores(test, reference, 4500.0, ssim_convention="skimage")
    assert other.psnr == scores.psnr and other.ssim != pytest.approx(scores.ssim, rel=1e-4)
    assert set(SSIM_CONVENTIONS) == {"matlab", "skimage"}
    with pytest.raises(ValueError, match="unknown SSIM convention"):
        image_scores(test, reference, 4500.0, ssim_convention="uniform")
