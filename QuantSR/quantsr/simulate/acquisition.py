"""From object signal to reconstructed images: k-space truncation to a protocol's acquisition matrix,
complex Gaussian noise at the protocol's level, zero-filled reconstruction onto its recon matrix.

Every grid spans the same field of view edge to edge (pixel centres at (n + ½)·FOV/N from the FOV edge),
as scanners reconstruct; the half-pixel offset between grids of different size is applied as a k-space
phase ramp so reconstructed structures sit at the right physical position."""

from __future__ import annotations

import numpy as np

from .protocols import Protocol


def acquire(images: np.ndarray, protocol: Protocol, noise_sd: float, rng: np.random.Generator | None) -> np.ndarray:
    """Reconstruct real images (n, N, N) of the object as ``protocol`` would: (n, M, M), M = recon matrix.

    Frequency encoding runs along rows (axis −2, j), phase encoding along columns (axis −1, i).
    ``noise_sd`` is the image-domain noise SD per real channel (signal units); 0 or ``rng=None`` = none.
    """
    n_obj = images.shape[-1]
    if images.shape[-2] != n_obj:
        raise ValueError("object images must be square (one FOV in both directions)")
    freq, phase = protocol.acquisition_matrix
    recon = protocol.recon_matrix
    if max(freq, phase) > n_obj:
        raise ValueError(f"object matrix {n_obj} is coarser than the {protocol.name} acquisition {freq}×{phase}")
    kspace = np.fft.fftshift(np.fft.fft2(images), axes=(-2, -1))
    centre = n_obj // 2
    rows = slice(centre - freq // 2, centre - freq // 2 + freq)
    cols = slice(centre - phase // 2, centre - phase // 2 + phase)
    acquired = kspace[..., rows, cols]
    if noise_sd > 0 and rng is not None:
        per_sample = noise_sd * n_obj**2 / np.sqrt(freq * phase)  # gives noise_sd per image pixel
        noise = rng.standard_normal((2, *acquired.shape), dtype=np.float32)
        acquired = acquired + per_sample * (noise[0] + 1j * noise[1])
    fov = protocol.fov_mm
    shift = 0.5 * (fov / recon - fov / n_obj)  # recon pixel centres vs object pixel centres (mm)
    ky = (np.arange(freq) - freq // 2) / fov
    kx = (np.arange(phase) - phase // 2) / fov
    acquired = acquired * np.exp(2j * np.pi * shift * (ky[:, None] + kx[None, :]))
    padded = np.zeros((*images.shape[:-2], recon, recon), dtype=np.complex64)
    r0, c0 = recon // 2 - freq // 2, recon // 2 - phase // 2
    padded[..., r0 : r0 + freq, c0 : c0 + phase] = acquired
    reconstructed = np.fft.ifft2(np.fft.ifftshift(padded, axes=(-2, -1))) * (recon**2 / n_obj**2)
    return reconstructed.real.astype(np.float32)  # phase-corrected real image (Gaussian noise)


def same_fov_resize(array: np.ndarray, matrix: int, order: int = 1) -> np.ndarray:
    """Resample the last two axes of ``array`` onto a ``matrix``² grid spanning the same FOV edges."""
    n = array.shape[-1]
    if n == matrix:
        return array.astype(np.float32)
    from scipy import ndimage

    factors = (1,) * (array.ndim - 2) + (matrix / n, matrix / n)
    return ndimage.zoom(array, factors, order=order, mode="nearest", grid_mode=True).astype(np.float32)
