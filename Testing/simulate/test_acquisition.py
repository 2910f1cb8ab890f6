"""k-space acquisition: noise level per protocol as configured, and structures reconstructed at the right
physical position on both recon grids (same FOV edges)."""

from __future__ import annotations

import numpy as np
import pytest

from quantsr.protocols import FAST, ROUTINE, noise_sd
from quantsr.simulate.acquisition import acquire, same_fov_resize


def _pixel_centres(matrix: int, fov: float = 220.0) -> np.ndarray:
    return -fov / 2 + (np.arange(matrix) + 0.5) * fov / matrix


def test_image_noise_matches_the_configured_sd_and_the_fast_routine_ratio() -> None:
    rng = np.random.default_rng(0)
    empty = np.zeros((6, 384, 384), np.float32)
    measured = {}
    for protocol in (FAST, ROUTINE):
        sd = noise_sd(protocol, 1.0)
        images = acquire(empty, protocol, sd, rng)
        measured[protocol.name] = float(images.std())
        assert measured[protocol.name] == pytest.approx(sd, rel=0.05)
    expected_ratio = FAST.noise_factor() / ROUTINE.noise_factor()
    assert measured["fast"] / measured["routine"] == pytest.approx(expected_ratio, rel=0.10)
    # SNR ∝ voxel volume · √(samples / BW per pixel) / (g √R)
    assert expected_ratio == pytest.approx((1.5 / 1.1) * np.sqrt(3 / 2) * np.sqrt(325.5 / 130) * (2.9541 / 9.8470)
                                           * np.sqrt(320 * 256 / (192 * 128)), rel=1e-3)
    assert 1.3 < expected_ratio < 1.6  # fast: noisier per pixel as well as blurrier


@pytest.mark.parametrize("protocol", [FAST, ROUTINE])
def test_blob_is_reconstructed_at_its_physical_position(protocol) -> None:
    centre = np.array([13.7, -21.2])  # (x, y) mm
    x = _pixel_centres(384)
    blob = np.exp(-(((x[None, :] - centre[0]) ** 2 + (x[:, None] - centre[1]) ** 2) / (2 * 6.0**2)))
    image = acquire(blob[None].astype(np.float32) * 100, protocol, 0.0, None)[0]
    grid = _pixel_centres(protocol.recon_matrix)
    weights = np.clip(image, 0, None)
    found = np.array([(weights.sum(0) * grid).sum(), (weights.sum(1) * grid).sum()]) / weights.sum()
    np.testing.assert_allclose(found, centre, atol=0.02 * protocol.recon_pixel_mm)
    assert image.max() == pytest.approx(100, rel=0.03)  # amplitude preserved by the recon scaling


def test_same_fov_resize_keeps_pixel_centres_consistent() -> None:
    x = _pixel_centres(384)
    ramp = np.tile(x, (384, 1))[None]
    resized = same_fov_resize(ramp, 512)[0]
    np.testing.assert_allclose(resized[10, 5:-5], _pixel_centres(512)[5:-5], atol=1e-3)
