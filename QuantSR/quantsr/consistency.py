"""Fast-scan consistency of a super-resolved map (issue 16, docs/generalization.md).

A super-resolution network pulls what it has not seen — small lesions, values outside its training range,
unfamiliar anatomy — towards what its training data looked like, and so moves regional means away from what
the fast scan measured. The fast scan is blurred and noisy, but its local means are nearly unbiased. This
step keeps the network's fine detail and takes the coarse level from the fast scan's cubic upsampling ``B``:

    consistent = DL + F_σ(B − DL)

``F_σ`` is He et al.'s guided filter (Gaussian windows of ``sigma_mm``, physical, so it means the same on any
grid) guided by log DL: inside a region it is a plain low-pass, so a region larger than σ gets B's mean; across
an edge of DL (local log-contrast above √ε) each side keeps its own correction, so the network's bias in CSF
(hundreds of ms) does not leak into the cortex beside it. With ``eps=None`` ``F_σ`` is a plain Gaussian.
σ and ε were chosen on the validation cohort only (docs/generalization.md, "Fast-scan consistency").
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .baselines import upsample
from .volume import QuantMap

#: Chosen on the validation cohort (docs/generalization.md, "Fast-scan consistency"): σ 1 mm, guided, ε 0.01.
DEFAULT_SIGMA_MM = 1.0
DEFAULT_EPS = 0.01


def lowpass_in_plane(values: np.ndarray, sigma_mm: float, spacing_xy: tuple[float, float]) -> np.ndarray:
    """Gaussian smoothing of a (slices, rows, columns) array in-plane only; ``spacing_xy`` is (x, y) in mm."""
    sigma = (0.0, sigma_mm / spacing_xy[1], sigma_mm / spacing_xy[0])
    return ndimage.gaussian_filter(values, sigma, mode="nearest", truncate=3.0)


def guided_lowpass(guide: np.ndarray, values: np.ndarray, sigma_mm: float, spacing_xy: tuple[float, float],
                   eps: float) -> np.ndarray:
    """He et al.'s guided filter with Gaussian windows: ``values`` smoothed in-plane, but across an edge of
    ``guide`` (a local contrast well above ``sqrt(eps)``) each side keeps its own level — so a biased CSF value
    next to cortex does not leak into the cortex."""
    def mean(a: np.ndarray) -> np.ndarray:
        return lowpass_in_plane(a, sigma_mm, spacing_xy)

    guide = guide - np.float32(guide.mean())  # the filter ignores an offset; centring keeps float32 variances exact
    mean_guide = mean(guide)
    mean_values = mean(values)
    covariance = mean(guide * values) - mean_guide * mean_values
    variance = mean(guide * guide) - mean_guide * mean_guide
    slope = covariance / (variance + eps)
    offset = mean_values - slope * mean_guide
    return mean(slope) * guide + mean(offset)


def fast_consistent(dl: QuantMap, fast: QuantMap, sigma_mm: float = DEFAULT_SIGMA_MM,
                    eps: float | None = DEFAULT_EPS) -> QuantMap:
    """``dl`` with its coarse level (scale ``sigma_mm``) taken from the cubic upsampling of ``fast``.

    Args:
        dl: the network's output, on the ×scale grid of ``fast`` (physical units, ms or %).
        fast: the input map the network was given.
        sigma_mm: in-plane Gaussian σ in mm; 0 returns ``dl`` unchanged.
        eps: the guided filter's edge threshold on log values (variance); None: plain Gaussian low-pass.

    Returns:
        A map on ``dl``'s grid with ``dl``'s metadata plus ``fast_consistency_mm``; never negative.
    """
    if sigma_mm <= 0:
        return dl
    scale = round(dl.shape[1] / fast.shape[1])
    reference = upsample(fast, scale, "bicubic")
    if reference.shape != dl.shape:
        raise ValueError(f"fast map upsampled to {reference.shape}, DL map is {dl.shape}")
    values = dl.array.astype(np.float32)
    if eps is None:
        values += lowpass_in_plane(reference.array - values, sigma_mm, dl.spacing[:2])
    else:
        floor = 0.01 * dl.kind.norm_physical if dl.kind.norm_physical else 1.0
        guide = np.log(np.maximum(values, 0.0) + floor)
        values += guided_lowpass(guide, reference.array - values, sigma_mm, dl.spacing[:2], eps)
    np.maximum(values, 0.0, out=values)
    return dl.with_array(values, metadata=dict(dl.metadata, fast_consistency_mm=sigma_mm))
