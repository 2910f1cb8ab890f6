"""NIQE: Mittal et al. 2013 as the authors' MATLAB release computes it, checked against independent code —
scikit-video's AGGD fit, MSCN transform and pairwise products (BSD-3) and bicubic_pytorch's port of MATLAB's
``imresize`` (MIT), both only in the ``test`` extra — assembled as ``computequality.m`` does, with the
pristine parameters scikit-video ships (``frames_modelparameters.mat``, the MATLAB ``mu_prisparam`` /
``cov_prisparam`` format). ``skvideo.measure.niqe`` itself is not used whole: it repeats βl in the diagonal
features (``bl3, bl3``), pads the MSCN window with zeros and resizes with the removed ``scipy.misc.imresize``.

Also: a clean map scores lower (better) than the same map blurred and noisy; models save and load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import skvideo
import torch
from bicubic_pytorch import imresize
from scipy import ndimage
from skimage import data
from skvideo.utils import aggd_features, compute_image_mscn_transform, gen_gauss_window, paired_product

from quantsr.errors import InputError
from quantsr.niqe import (
    PristineModel,
    _mscn,
    _patch_features,
    fit_pristine_model,
    imresize_half,
    niqe,
    to_grey,
)

SKVIDEO_PARAMS = Path(skvideo.__file__).parent / "measure" / "data" / "frames_modelparameters.mat"


def _reference_features(mscn: np.ndarray, patch: int) -> np.ndarray:
    """``computefeature.m`` per patch from scikit-video's AGGD fit: [α, (βl+βr)/2] of the MSCN
    coefficients, then [α, η, βl, βr] of each pairwise product (H, V, D1, D2)."""
    rows = []
    for r in range(0, mscn.shape[0], patch):
        for c in range(0, mscn.shape[1], patch):
            block = mscn[r : r + patch, c : c + patch].astype(np.float64)
            alpha, _, beta_l, beta_r, *_ = aggd_features(block.copy())
            row = [alpha, (beta_l + beta_r) / 2]
            for product in paired_product(block):
                alpha, eta, beta_l, beta_r, *_ = aggd_features(product.copy())
                row += [alpha, eta, beta_l, beta_r]
            rows.append(row)
    return np.asarray(rows)


def _reference_niqe(image: np.ndarray, model: PristineModel) -> float:
    """``computequality.m``: crop to whole 96² patches, 7×7 σ 7/6 window with replicated edges, features at
    full and half scale (MATLAB ``imresize(im, 0.5)``), MVG distance with the pooled covariance."""
    h, w = (s - s % 96 for s in image.shape)
    image = image[:h, :w].astype(np.float64)
    half = imresize(torch.from_numpy(image)[None, None], scale=0.5, antialiasing=True)[0, 0].numpy()
    window = gen_gauss_window(3, 7 / 6)
    features = np.hstack([
        _reference_features(compute_image_mscn_transform(level, avg_window=window, extend_mode="nearest")[0], p)
        for level, p in ((image, 96), (half, 48))])
    diff = model.mean - features.mean(axis=0)
    return float(np.sqrt(diff @ np.linalg.pinv((model.cov + np.cov(features, rowvar=False)) / 2) @ diff))


def _mr_slice(seed: int = 3) -> np.ndarray:
    """An MR-like slice on the 0–255 scale, 288×288: an elliptical head of smooth, textured tissue classes
    with sharp boundaries, a Rician noise floor outside (as magnitude images have; no exact zeros)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:288, :288] / 288.0 - 0.5
    radius = np.hypot(yy / 0.42, xx / 0.34)
    labels = ndimage.zoom(rng.integers(0, 3, (12, 12)), 24, order=0)
    texture = ndimage.gaussian_filter(rng.normal(0, 1, labels.shape), 3)
    tissue = np.choose(labels, [90.0, 140.0, 200.0]) * (1 + 0.05 * texture)
    image = np.where(radius < 1, tissue, 0.0)
    image = np.where((radius >= 0.9) & (radius < 1), 230.0, image)  # bright scalp rim
    image = ndimage.gaussian_filter(image, 0.8)
    return np.hypot(image + rng.normal(0, 4, image.shape), rng.normal(0, 4, image.shape))


@pytest.fixture(scope="module")
def standard_model() -> PristineModel:
    return PristineModel.load(SKVIDEO_PARAMS)


def test_half_scale_is_matlab_imresize() -> None:
    image = data.camera()[:192, :288].astype(np.float64)
    expected = imresize(torch.from_numpy(image)[None, None], scale=0.5, antialiasing=True)[0, 0].numpy()
    assert imresize_half(image).shape == (96, 144)
    np.testing.assert_allclose(imresize_half(image), expected, atol=1e-3)  # 0–255 scale; the port is float32


def test_mscn_and_patch_features_match_reference() -> None:
    """The 7×7 σ 7/6 MSCN transform with replicated edges, then every one of the 18 features of every patch
    (AGGD *scale* parameters, not variances) on the same coefficients."""
    image = data.camera()[:192, :192].astype(np.float64)
    window = gen_gauss_window(3, 7 / 6)
    # MSCN is unchanged by an offset; centring the input keeps the float32 reference's E[x²] − μ² accurate
    expected_mscn = compute_image_mscn_transform(image - 128, avg_window=window, extend_mode="nearest")[0]
    np.testing.assert_allclose(_mscn(image)[0], expected_mscn, atol=2e-3)  # a 9×9 / reflected window: 0.26
    # scikit-video counts exact zeros (flat sky) as right-hand values (>= 0), MATLAB does not (> 0): give both
    # implementations coefficients without exact zeros
    coefficients = expected_mscn.astype(np.float64)
    coefficients[coefficients == 0] = 1e-9
    ours = np.array([_patch_features(coefficients[r : r + 96, c : c + 96]) for r in (0, 96) for c in (0, 96)])
    np.testing.assert_allclose(ours, _reference_features(coefficients, 96), rtol=1e-9, atol=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["camera", "mr_slice"])
def test_niqe_agrees_with_reference(name: str, standard_model: PristineModel) -> None:
    """Mittal's NIQE (every patch, ``min_coverage=0``) against the reference within 1e-3 relative."""
    image = data.camera().astype(np.float64)[:480, :480] if name == "camera" else _mr_slice()
    expected = _reference_niqe(image, standard_model)
    assert niqe(image, standard_model, min_coverage=0.0) == pytest.approx(expected, rel=1e-3)


def _map(seed: int) -> np.ndarray:
    """A 'T1 map' slice with sharp tissue boundaries and texture, 288×288, on the 0–255 scale."""
    rng = np.random.default_rng(seed)
    labels = ndimage.zoom(rng.integers(0, 3, (18, 18)), 16, order=0)
    values = np.choose(labels, [838.0, 1233.0, 4100.0]) * (1 + 0.03 * ndimage.gaussian_filter(
        rng.normal(0, 1, labels.shape), 2))
    return to_grey(values, 4500.0)


def test_degraded_map_scores_worse(tmp_path) -> None:
    """The routine-map pristine model (QuantSR's default, not the standard one): labelled, saved, reloaded."""
    model = fit_pristine_model([_map(s) for s in range(4)], source="fitted on routine maps: synthetic")
    clean = _map(10)
    degraded = ndimage.gaussian_filter(clean, 2.0) + np.random.default_rng(1).normal(0, 8, clean.shape)
    assert niqe(clean, model) < niqe(degraded, model)
    path = model.save(tmp_path / "pristine.npz")
    loaded = PristineModel.load(path)
    assert loaded.source == "fitted on routine maps: synthetic"
    assert niqe(clean, loaded) == pytest.approx(niqe(clean, model))


def test_small_images_and_bad_model_files(tmp_path) -> None:
    model = fit_pristine_model([_map(0)])
    with pytest.raises(InputError, match="too small"):
        niqe(np.zeros((64, 64)), model)
    (tmp_path / "x.npz").write_bytes(b"junk")
    with pytest.raises(InputError, match="not a NIQE pristine model"):
        PristineModel.load(tmp_path / "x.npz")
