"""Full-reference image quality against the routine scan, with the paper's conventions.

PSNR and SSIM are computed on the stored DICOM scale (physical × 10) with the paper's data range
L = 65535 over the whole image (SSIM per slice, averaged). The "head" variants restrict to voxels where
routine > 0 and use L = the map's normalisation constant on the stored scale (45000 / 22000 / 1800):
a stricter score that background cannot inflate."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from .mapkinds import DICOM_STORED_SCALE

PAPER_DATA_RANGE = 65535.0


@dataclass
class Scores:
    psnr: float
    ssim: float
    psnr_head: float
    ssim_head: float


def image_scores(test: np.ndarray, reference: np.ndarray, norm_physical: float) -> Scores:
    """Scores of a volume against routine, per slice then averaged (2-D SSIM as the paper's slices)."""
    t, r = test * DICOM_STORED_SCALE, reference * DICOM_STORED_SCALE
    head = reference > 0
    psnr = peak_signal_noise_ratio(r, t, data_range=PAPER_DATA_RANGE) if np.any(t != r) else float("inf")
    head_range = norm_physical * DICOM_STORED_SCALE
    mse_head = float(np.mean((t[head] - r[head]) ** 2))
    psnr_head = 10 * np.log10(head_range**2 / mse_head) if mse_head > 0 else float("inf")
    ssim, ssim_head = [], []
    for k in range(r.shape[0]):
        value, full = structural_similarity(r[k], t[k], data_range=PAPER_DATA_RANGE, full=True)
        ssim.append(value)
        if head[k].any():
            _, full_head = structural_similarity(r[k], t[k], data_range=head_range, full=True)
            ssim_head.append(float(full_head[head[k]].mean()))
    return Scores(float(psnr), float(np.mean(ssim)), float(psnr_head), float(np.mean(ssim_head)))
