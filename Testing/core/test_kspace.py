"""k-space truncation (``quantsr.kspace``): numpy's single-threaded path for the simulator, scipy's threaded one
for the trust map and the consistency step — the same images either way."""

from __future__ import annotations

import numpy as np
import pytest

from quantsr.kspace import acquired_window, reconstruct, truncate


@pytest.mark.parametrize("workers", [1, 2, -1])
def test_threaded_fft_gives_the_simulators_images(workers: int) -> None:
    """A random 3-slice 256² object through a 192×128 window onto a 256² recon: scipy's FFT on any number of
    threads agrees with numpy's to float32 rounding (the results are float32)."""
    images = np.random.default_rng(7).normal(100.0, 30.0, (3, 256, 256))
    reference = truncate(images, (192, 128), 256, 230.0)
    threaded = truncate(images, (192, 128), 256, 230.0, workers=workers)
    assert threaded.dtype == reference.dtype == np.float32
    assert np.abs(threaded - reference).max() < 1e-4 * np.abs(reference).max()


def test_a_band_limited_image_passes_through_unchanged() -> None:
    """A cosine at 10 cycles per FOV lies inside a 64×64 window: truncating to it and reconstructing on the same
    grid gives the image back (both paths), so the window and the phase ramp are right."""
    n = 128
    x = (np.arange(n) + 0.5) / n
    image = 50.0 + 20.0 * np.cos(2 * np.pi * 10 * x)[None, :] * np.ones((n, 1))
    for workers in (None, 2):
        out = truncate(image[None], (64, 64), n, 200.0, workers=workers)[0]
        np.testing.assert_allclose(out, image, atol=1e-3)


def _shifted_window(images: np.ndarray, freq: int, phase: int) -> np.ndarray:
    """The textbook formulation: fftshift the whole spectrum, slice its centre."""
    n = images.shape[-1]
    kspace = np.fft.fftshift(np.fft.fft2(images), axes=(-2, -1))
    r0, c0 = n // 2 - freq // 2, n // 2 - phase // 2
    return kspace[..., r0 : r0 + freq, c0 : c0 + phase]


def _shifted_reconstruct(window: np.ndarray, recon: int) -> np.ndarray:
    freq, phase = window.shape[-2:]
    padded = np.zeros((*window.shape[:-2], recon, recon), dtype=np.complex64)
    r0, c0 = recon // 2 - freq // 2, recon // 2 - phase // 2
    padded[..., r0 : r0 + freq, c0 : c0 + phase] = window
    return np.fft.ifft2(np.fft.ifftshift(padded, axes=(-2, -1)))


@pytest.mark.parametrize(("n", "freq", "phase", "recon"),
                         [(256, 192, 128, 256), (255, 191, 127, 320), (64, 64, 63, 64)])
def test_numpy_path_is_bit_for_bit_the_shifted_formulation(n: int, freq: int, phase: int, recon: int) -> None:
    """The simulator's path (no workers) picks the window by index instead of shifting the spectrum: the same
    samples and the same reconstruction, exactly, for even and odd sizes, so a seed still gives its cohort."""
    images = np.random.default_rng(3).normal(0.0, 1.0, (2, n, n))
    window = acquired_window(images, (freq, phase))
    np.testing.assert_array_equal(window, _shifted_window(images, freq, phase))
    # the zero phase ramp (equal grids) leaves the window as it is: compare the zero-filled reconstructions
    same = reconstruct(window, recon, recon, 200.0)
    np.testing.assert_array_equal(same, _shifted_reconstruct(window, recon).real.astype(np.float32))
