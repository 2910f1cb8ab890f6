"""k-space truncation on one field of view: what an acquisition matrix keeps of an image, and the zero-filled
reconstruction of it on a recon matrix. The simulator acquires its fast and routine images this way
(``simulate/acquisition.py`` adds the noise between the two steps); the trust map's forward model brings a
super-resolved map back to the fast acquisition's resolution the same way (``trust.py``).

Every grid spans the same field of view edge to edge (pixel centres at (n + ½)·FOV/N from the FOV edge),
as scanners reconstruct; the half-pixel offset between grids of different size is applied as a k-space
phase ramp so reconstructed structures sit at the right physical position. Frequency encoding runs along
rows (axis −2, j), phase encoding along columns (axis −1, i).

``workers``: ``None`` runs numpy's FFT on one thread — the simulator's path, kept bit-for-bit so a seed
reproduces its cohort; a count (−1: every core) runs scipy's FFT on that many threads (the trust map and the
consistency step, where only speed matters)."""

from __future__ import annotations

from typing import Any

import numpy as np


def _fft(workers: int | None) -> tuple[Any, dict[str, int]]:
    """The FFT module for ``workers`` and the keyword arguments its transforms take."""
    if workers is None:
        return np.fft, {}
    import scipy.fft  # only where asked for: the simulator's and the CLI's start stay light

    return scipy.fft, {"workers": workers}


def _centred(samples: int, n: int) -> np.ndarray:
    """Indices in an unshifted ``n``-point spectrum of the ``samples`` frequencies centred on DC, in order from the most
    negative: what ``fftshift`` then a centred slice selects, without moving the whole spectrum (the same values,
    so the simulator's images are unchanged bit for bit)."""
    return (np.arange(samples) - samples // 2) % n


def acquired_window(images: np.ndarray, acquisition_matrix: tuple[int, int],
                    workers: int | None = None) -> np.ndarray:
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
    fft, threads = _fft(workers)
    rows, cols = _centred(freq, n_object), _centred(phase, n_object)
    return fft.fft2(images, **threads)[..., rows[:, None], cols]


def reconstruct(window: np.ndarray, n_object: int, recon_matrix: int, fov_mm: float,
                workers: int | None = None) -> np.ndarray:
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
    padded[..., _centred(freq, recon_matrix)[:, None], _centred(phase, recon_matrix)] = window
    fft, threads = _fft(workers)
    reconstructed = fft.ifft2(padded, **threads) * (recon_matrix**2 / n_object**2)
    return reconstructed.real.astype(np.float32)


def truncate(images: np.ndarray, acquisition_matrix: tuple[int, int], recon_matrix: int,
             fov_mm: float, workers: int | None = None) -> np.ndarray:
    """Noise-free acquisition: :func:`acquired_window` then :func:`reconstruct`.

    Args:
        images: (..., N, N) on a square grid over the FOV.
        acquisition_matrix: (frequency, phase) samples kept, each ≤ N.
        recon_matrix: pixels per side of the result.
        fov_mm: the field of view, in mm.
        workers: FFT threads (module docstring); ``None``: numpy's, bit-for-bit as the simulator acquires.

    Returns:
        float32 (..., recon_matrix, recon_matrix): the images at the acquisition's resolution.
    """
    window = acquired_window(images, acquisition_matrix, workers)
    return reconstruct(window, images.shape[-1], recon_matrix, fov_mm, workers)
