"""NIQE, the Natural Image Quality Evaluator (Mittal, Soundararajan & Bovik, IEEE SPL 2013): a
no-reference score — the distance between a multivariate Gaussian fitted to an image's natural-scene
statistics and one fitted to "pristine" images. Lower is better.

No maintained wheel ships the pristine parameters offline, so QuantSR fits its own pristine model on
routine-resolution maps (:func:`fit_pristine_model`); the standard natural-image parameters can be loaded
from a user file (MATLAB ``modelparameters.mat`` with ``mu_prisparam`` / ``cov_prisparam``, or .npz).
Maps are scaled to 0–255 by the map's normalisation constant before feature extraction."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage
from scipy.special import gamma

from .errors import InputError

PATCH = 96
SHARPNESS_FRACTION = 0.75
_ALPHAS = np.arange(0.2, 10.0, 0.001)
_R_ALPHA = gamma(2 / _ALPHAS) ** 2 / (gamma(1 / _ALPHAS) * gamma(3 / _ALPHAS))


def _mscn(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean-subtracted contrast-normalised coefficients and the local deviation (7×7 Gaussian, σ 7/6)."""
    mu = ndimage.gaussian_filter(image, 7 / 6, truncate=3)
    sigma = np.sqrt(np.abs(ndimage.gaussian_filter(image * image, 7 / 6, truncate=3) - mu * mu))
    return (image - mu) / (sigma + 1), sigma


def _aggd(x: np.ndarray) -> tuple[float, float, float, float]:
    """Asymmetric generalised Gaussian fit by moment matching: (shape α, mean, left var, right var)."""
    x = x.ravel()
    left, right = x[x < 0], x[x > 0]
    sigma_l = np.sqrt(np.mean(left**2)) if left.size else 1e-6
    sigma_r = np.sqrt(np.mean(right**2)) if right.size else 1e-6
    gamma_hat = sigma_l / max(sigma_r, 1e-12)
    r_hat = np.mean(np.abs(x)) ** 2 / max(np.mean(x**2), 1e-12)
    big_r = r_hat * (gamma_hat**3 + 1) * (gamma_hat + 1) / (gamma_hat**2 + 1) ** 2
    alpha = float(_ALPHAS[np.argmin((_R_ALPHA - big_r) ** 2)])
    scale = np.sqrt(gamma(1 / alpha) / gamma(3 / alpha))
    mean = (sigma_r - sigma_l) * scale * gamma(2 / alpha) / gamma(1 / alpha)
    return alpha, float(mean), float(sigma_l**2), float(sigma_r**2)


def _patch_features(mscn: np.ndarray) -> list[float]:
    alpha, _mean, var_l, var_r = _aggd(mscn)
    features = [alpha, (var_l + var_r) / 2]
    for shift in ((0, 1), (1, 0), (1, 1), (1, -1)):
        product = mscn * np.roll(mscn, shift, axis=(0, 1))
        features.extend(_aggd(product))
    return features  # 18


def image_features(image: np.ndarray, patch: int = PATCH) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """36 features per patch (two scales), each patch's sharpness (mean local deviation) and its
    coverage (share of non-zero pixels: maps are 0 outside the head)."""
    h, w = (s - s % patch for s in image.shape)
    image = image[:h, :w].astype(np.float64)
    features, sharpness, coverage = [], [], []
    scaled = [image, ndimage.zoom(image, 0.5, order=3)]
    maps = [_mscn(level) for level in scaled]
    for r in range(0, h, patch):
        for c in range(0, w, patch):
            row: list[float] = []
            for level, (mscn, _sigma) in enumerate(maps):
                p = patch >> level
                rr, cc = r >> level, c >> level
                row += _patch_features(mscn[rr : rr + p, cc : cc + p])
            features.append(row)
            sharpness.append(float(maps[0][1][r : r + patch, c : c + patch].mean()))
            coverage.append(float((image[r : r + patch, c : c + patch] != 0).mean()))
    return np.asarray(features), np.asarray(sharpness), np.asarray(coverage)


@dataclass
class PristineModel:
    mean: np.ndarray  # (36,)
    cov: np.ndarray  # (36, 36)
    source: str = ""

    def save(self, path: str | Path) -> Path:
        np.savez(path, mu_prisparam=self.mean, cov_prisparam=self.cov, source=self.source)
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> "PristineModel":
        path = Path(path)
        try:
            if path.suffix == ".mat":
                from scipy.io import loadmat

                data = loadmat(path)
            else:
                data = dict(np.load(path, allow_pickle=False))
            mean = np.asarray(data["mu_prisparam"], dtype=np.float64).ravel()
            cov = np.asarray(data["cov_prisparam"], dtype=np.float64)
        except (OSError, KeyError, ValueError) as exc:
            raise InputError(f"not a NIQE pristine model (needs mu_prisparam, cov_prisparam): {exc}", path) from None
        if mean.shape != (36,) or cov.shape != (36, 36):
            raise InputError(f"NIQE model of the wrong size {mean.shape} / {cov.shape}", path)
        return cls(mean, cov, str(path))


def to_grey(values: np.ndarray, norm: float) -> np.ndarray:
    """A map slice in physical units → 0–255 by the map's normalisation constant."""
    return np.clip(np.asarray(values, dtype=np.float64) / norm, 0, 1) * 255.0


#: A patch must be at least this much non-zero to count: the empty field of view around the head is
#: neither natural nor part of the image's quality, and all-zero patches give degenerate features.
MIN_COVERAGE = 0.5


def fit_pristine_model(slices: Iterable[np.ndarray], source: str = "") -> PristineModel:
    """Fit the pristine MVG as Mittal et al. do: from each image, the patches at least 75 % as sharp as its
    sharpest (here among patches that are mostly head, :data:`MIN_COVERAGE`)."""
    chosen = []
    for image in slices:
        features, sharpness, coverage = image_features(image)
        usable = coverage >= MIN_COVERAGE
        if usable.any():
            chosen.append(features[usable & (sharpness >= SHARPNESS_FRACTION * sharpness[usable].max())])
    chosen_features = np.concatenate(chosen) if chosen else np.empty((0, 36))
    if len(chosen_features) < 2:
        raise InputError("too few sharp patches to fit a NIQE pristine model")
    return PristineModel(chosen_features.mean(axis=0), np.cov(chosen_features, rowvar=False), source)


def niqe(image: np.ndarray, model: PristineModel) -> float:
    """NIQE of one 2-D image (0–255 scale) against ``model``, over its patches that are mostly non-zero
    (every patch if fewer than two are); at least two 96×96 patches are needed."""
    features, _, coverage = image_features(image)
    if len(features) < 2:
        raise InputError(f"image of {image.shape} is too small for NIQE (needs 2+ patches of {PATCH}²)")
    if (coverage >= MIN_COVERAGE).sum() >= 2:
        features = features[coverage >= MIN_COVERAGE]
    mean, cov = features.mean(axis=0), np.cov(features, rowvar=False)
    diff = model.mean - mean
    return float(np.sqrt(diff @ np.linalg.pinv((model.cov + cov) / 2) @ diff))
