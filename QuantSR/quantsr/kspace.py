"""k-space truncation on one field of view: what an acquisition matrix keeps of an image, and the zero-filled
reconstruction of it on a recon matrix. The simulator acquires its fast and routine images this way
(``simulate/acquisition.py`` adds the noise between the two steps); the trust map's forward model brings a
super-resolved map back to the fast acquisition's resolution the same way (``trust.py``).

Every grid spans the same field of view edge to edge (pixel centres at (n + ½)·FOV/N from the FOV edge),
as scanners reconstruct; the half-pixel offset between grids of different size is applied as a k-space
phase ramp so reconstructed structures sit at the right physical position. Frequency encoding runs along
rows (axis −2, j), phase encoding along columns (axis −1, i)."""

from __future__ import annotations

import numpy as np


def acquired_window(images: np.ndarray, acquisition_matrix: tuple[int, int]) -> np.ndarray:
    """The centred k-space samples an acquisition keeps.

    Args:
        images: real or complex images (..., N, N) on a square object grid over the FOV.
        acquisition_matrix: (frequency, phase) samples, each ≤ N.

    Returns:
        Complex k-space (..., frequency, phase), DC at (frequency // 2, phase // 2).
    """
    n_object = images.shape[-1]
    if images.shape[-2] != n_object:
        raise ValueError("object images must be square (one FOV in both directions)")
    freq, phase = acquisition_matrix
    if max(freq, phase) > n_object:
        raise ValueError(f"object matrix {n_object} is coarser than the acquisition {freq}×{phase}")
    kspace = np.fft.fftshift(np.fft.fft2(images), axes=(-2, -1))
    centre = n_object // 2
    rows = slice(centre - freq // 2, centre - freq // 2 + freq)
    cols = slice(centre - phase // 2, centre - phase // 2 + phase)
    return kspace[..., rows, cols]


def reconstruct(window: np.ndarray, n_object: int, recon_matrix: int, fov_mm: float) -> np.ndarray:
    """Zero-filled reconstruction of acquired k-space on a ``recon_matrix``² grid over the same FOV.

    Args:
        window: centred k-space (..., frequency, phase) from :func:`acquired_window` of an ``n_object``² grid
            (noise may have been added to it).
        n_object: the object grid the window was taken from (its pixel centres set the phase ramp).
        recon_matrix: pixels per side of the reconstruction.
        fov_mm: the field of view shared by both grids, in mm.

    Returns:
        float32 real part (..., recon_matrix, recon_matrix), in the object's units (phase-corrected real image).
    """
    freq, phase = window.shape[-2:]
    shift = 0.5 * (fov_mm / recon_matrix - fov_mm / n_object)  # recon pixel centres vs object pixel centres (mm)
    ky = (np.arange(freq) - freq // 2) / fov_mm
    kx = (np.arange(phase) - phase // 2) / fov_mm
    window = window * np.exp(2j * np.pi * shift * (ky[:, None] + kx[None, :]))
    padded = np.zeros((*window.shape[:-2], recon_matrix, recon_matrix), dtype=np.complex64)
    r0, c0 = recon_matrix // 2 - freq // 2, recon_matrix // 2 - phase // 2
    padded[..., r0 : r0 + freq, c0 : c0 + phase] = window
    reconstructed = np.fft.ifft2(np.fft.ifftshift(padded, axes=(-2, -1))) * (recon_matrix**2 / n_object**2)
    return reconstructed.real.astype(np.float32)


def truncate(images: np.ndarray, acquisition_matrix: tuple[int, int], recon_matrix: int,
             fov_mm: float) -> np.ndarray:
    """Noise-free acquisition: :func:`acquired_window` then :func:`reconstruct`.

    Args:
        images: (..., N, N) on a square grid over the FOV.
        acquisition_matrix: (frequency, phase) samples kept, each ≤ N.
        recon_matrix: pixels per side of the result.
        fov_mm: the field of view, in mm.

    Returns:
        float32 (..., recon_matrix, recon_matrix): the images at the acquisition's resolution.
    """
    window = acquired_window(images, acquisition_matrix)
    return reconstruct(window, images.shape[-1], recon_matrix, fov_mm)
