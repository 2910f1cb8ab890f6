"""From object signal to reconstructed images: k-space truncation to a protocol's acquisition matrix,
complex Gaussian noise at the protocol's level, zero-filled reconstruction onto its recon matrix (the
noise-free k-space physics is the core's ``quantsr.kspace``, which the trust map's forward model shares)."""

from __future__ import annotations

import numpy as np

from ..kspace import acquired_window, reconstruct
from ..protocols import Protocol


def acquire(images: np.ndarray, protocol: Protocol, noise_sd: float, rng: np.random.Generator | None) -> np.ndarray:
    """Reconstruct real images of the object as ``protocol`` would.

    Args:
        images: object images (n, N, N) on a square grid over ``protocol.fov_mm``, N ≥ the acquisition matrix.
        protocol: acquisition matrix (frequency along rows, phase along columns), recon matrix and FOV.
        noise_sd: image-domain noise SD per real channel (signal units); 0 or ``rng=None``: none.
        rng: the noise's random stream.

    Returns:
        float32 (n, M, M), M = ``protocol.recon_matrix``: the phase-corrected real images (Gaussian noise).
    """
    n_obj = images.shape[-1]
    freq, phase = protocol.acquisition_matrix
    if images.shape[-2] == n_obj and max(freq, phase) > n_obj:
        raise ValueError(f"object matrix {n_obj} is coarser than the {protocol.name} acquisition {freq}×{phase}")
    acquired = acquired_window(images, protocol.acquisition_matrix)
    if noise_sd > 0 and rng is not None:
        per_sample = noise_sd * n_obj**2 / np.sqrt(freq * phase)  # gives noise_sd per image pixel
        noise = rng.standard_normal((2, *acquired.shape), dtype=np.float32)
        acquired = acquired + per_sample * (noise[0] + 1j * noise[1])
    return reconstruct(acquired, n_obj, protocol.recon_matrix, protocol.fov_mm)


def same_fov_resize(array: np.ndarray, matrix: int, order: int = 1) -> np.ndarray:
    """Resample the last two axes of ``array`` onto a ``matrix``² grid spanning the same FOV edges."""
    n = array.shape[-1]
    if n == matrix:
        return array.astype(np.float32)
    from scipy import ndimage

    factors = (1,) * (array.ndim - 2) + (matrix / n, matrix / n)
    return ndimage.zoom(array, factors, order=order, mode="nearest", grid_mode=True).astype(np.float32)
