"""Full-reference image quality against the routine scan, with the paper's conventions.

PSNR is computed per volume and SSIM per slice (averaged over slices), both on the stored DICOM scale
(physical × 10) with the paper's data range L = 65535 over the whole image. The "head" variants restrict
to voxels where routine > 0 and use L = the map's normalisation constant on the stored scale
(45000 / 22000 / 1800): a stricter score that background cannot inflate.

SSIM has two conventions (``ssim_convention``), and every table says which it used:

* ``"matlab"`` (default, the paper's): MATLAB's ``ssim`` — an 11×11 Gaussian window, σ = 1.5, population
  (not sample) covariances, edges replicated, the mean over the whole SSIM map;
* ``"skimage"``: scikit-image's defaults — a 7×7 uniform window with sample covariances, borders cropped —
  which QuantSR used before and gives other numbers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.metrics import structural_similarity

from .mapkinds import DICOM_STORED_SCALE

PAPER_DATA_RANGE = 65535.0
SSIM_CONVENTIONS = {
    "matlab": "MATLAB ssim: Gaussian window σ 1.5 (11×11), population covariance, edges replicated",
    "skimage": "scikit-image defaults: 7×7 uniform window, sample covariance, borders cropped",
}
DEFAULT_SSIM_CONVENTION = "matlab"

_SIGMA = 1.5
_GAUSS = np.exp(-(np.arange(-5, 6) ** 2) / (2 * _SIGMA**2))  # ceil(3σ) = 5: MATLAB's 11 taps
_GAUSS /= _GAUSS.sum()


def _blur(image: np.ndarray) -> np.ndarray:
    """``imfilter(image, fspecial('gaussian', 11, 1.5), 'replicate')``, separably."""
    rows = ndimage.correlate1d(image, _GAUSS, axis=0, mode="nearest")
    return ndimage.correlate1d(rows, _GAUSS, axis=1, mode="nearest")


def ssim_map_matlab(x: np.ndarray, y: np.ndarray, data_range: float) -> np.ndarray:
    """MATLAB's ``[~, map] = ssim(x, y, 'DynamicRange', L)`` for 2-D images (K1 0.01, K2 0.03)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_x, mu_y = _blur(x), _blur(y)
    var_x = _blur(x * x) - mu_x**2
    var_y = _blur(y * y) - mu_y**2
    cov = _blur(x * y) - mu_x * mu_y
    return ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))


def ssim_map(x: np.ndarray, y: np.ndarray, data_range: float, convention: str = DEFAULT_SSIM_CONVENTION
             ) -> tuple[float, np.ndarray]:
    """(mean SSIM, SSIM map) of one 2-D slice in the chosen convention."""
    if convention == "matlab":
        full = ssim_map_matlab(x, y, data_range)
        return float(full.mean()), full
    if convention == "skimage":
        value, full = structural_similarity(x, y, data_range=data_range, full=True)
        return float(value), full
    raise ValueError(f"unknown SSIM convention {convention!r} (choose from {', '.join(SSIM_CONVENTIONS)})")


@dataclass
class Scores:
    psnr: float
    ssim: float
    psnr_head: float
    ssim_head: float


def image_scores(test: np.ndarray, reference: np.ndarray, norm_physical: float,
                 ssim_convention: str = DEFAULT_SSIM_CONVENTION) -> Scores:
    """Scores of a volume against routine: PSNR over the whole volume, SSIM per 2-D slice (as the paper's
    slices) then averaged; ``ssim_convention`` is one of :data:`SSIM_CONVENTIONS`."""
    t, r = test * DICOM_STORED_SCALE, reference * DICOM_STORED_SCALE
    head = reference > 0
    mse = float(np.mean((t - r) ** 2))
    psnr = 10 * np.log10(PAPER_DATA_RANGE**2 / mse) if mse > 0 else float("inf")
    head_range = norm_physical * DICOM_STORED_SCALE
    mse_head = float(np.mean((t[head] - r[head]) ** 2))
    psnr_head = 10 * np.log10(head_range**2 / mse_head) if mse_head > 0 else float("inf")
    ssim, ssim_head = [], []
    for k in range(r.shape[0]):
        ssim.append(ssim_map(r[k], t[k], PAPER_DATA_RANGE, ssim_convention)[0])
        if head[k].any():
            full_head = ssim_map(r[k], t[k], head_range, ssim_convention)[1]
            ssim_head.append(float(full_head[head[k]].mean()))
    return Scores(float(psnr), float(np.mean(ssim)), float(psnr_head), float(np.mean(ssim_head)))
