"""NIQE: a clean map scores lower (better) than the same map blurred and noisy; models save and load."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from quantsr.errors import InputError
from quantsr.niqe import PristineModel, fit_pristine_model, niqe, to_grey


def _map(seed: int) -> np.ndarray:
    """A 'T1 map' slice with sharp tissue boundaries and texture, 288×288, on the 0–255 scale."""
    rng = np.random.default_rng(seed)
    labels = ndimage.zoom(rng.integers(0, 3, (18, 18)), 16, order=0)
    values = np.choose(labels, [838.0, 1233.0, 4100.0]) * (1 + 0.03 * ndimage.gaussian_filter(
        rng.normal(0, 1, labels.shape), 2))
    return to_grey(values, 4500.0)


def test_degraded_map_scores_worse(tmp_path) -> None:
    model = fit_pristine_model([_map(s) for s in range(4)], source="synthetic")
    clean = _map(10)
    degraded = ndimage.gaussian_filter(clean, 2.0) + np.random.default_rng(1).normal(0, 8, clean.shape)
    assert niqe(clean, model) < niqe(degraded, model)
    path = model.save(tmp_path / "pristine.npz")
    loaded = PristineModel.load(path)
    assert niqe(clean, loaded) == pytest.approx(niqe(clean, model))


def test_small_images_and_bad_model_files(tmp_path) -> None:
    model = fit_pristine_model([_map(0)])
    with pytest.raises(InputError, match="too small"):
        niqe(np.zeros((64, 64)), model)
    (tmp_path / "x.npz").write_bytes(b"junk")
    with pytest.raises(InputError, match="not a NIQE pristine model"):
        PristineModel.load(tmp_path / "x.npz")
