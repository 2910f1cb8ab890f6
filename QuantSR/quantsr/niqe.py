"""NIQE, the Natural Image Quality Evaluator (Mittal, Soundararajan & Bovik, IEEE SPL 2013): a
no-reference score — the distance between a multivariate Gaussian fitted to an image's natural-scene
statistics and one fitted to "pristine" images. Lower is better.

The features follow the authors' MATLAB release (``computequality.m``) so that a score computed with the
standard natural-image parameters (``--niqe-model`` with ``modelparameters.mat``: ``mu_prisparam`` /
``cov_prisparam``) is comparable with published NIQE values:

* MSCN coefficients with a 7×7 Gaussian window, σ = 7/6, normalised to sum 1, edges replicated;
* per 96×96 patch (48×48 at the half scale) 18 features: the AGGD shape α and mean *scale* (βl + βr)/2 of
  the MSCN coefficients, then for the four pairwise products α, the mean η and the scales βl, βr — the
  fitted scale parameters, not the left / right variances;
* the half scale is MATLAB's ``imresize(im, 0.5)``: antialiased bicubic (:func:`imresize_half`);
* NaN features (a patch with no negative or no positive coefficient) are left out as ``nanmean`` /
  ``nancov`` do.

The test suite checks this against scikit-video's AGGD / MSCN code and bicubic_pytorch's MATLAB ``imresize``
(``Testing/core/test_niqe.py``). No maintained wheel ships the standard parameters under a licence we can
redistribute, so by default QuantSR fits its own pristine model on routine-resolution maps
(:func:`fit_pristine_model`); such scores are "NIQE against a routine-map model", not published NIQE.
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
#: MATLAB's ``gam = 0.2:0.001:10`` (9801 candidate shapes, 10 included).
_ALPHAS = np.arange(0.2, 10.0005, 0.001)
_R_ALPHA = gamma(2 / _ALPHAS) ** 2 / (gamma(1 / _ALPHAS) * gamma(3 / _ALPHAS))
#: ``fspecial('gaussian', 7, 7/6)`` is separable: this 1-D window, normalised, applied along both axes.
_WINDOW = np.exp(-(np.arange(-3, 4) ** 2) / (2 * (7 / 6) ** 2))
_WINDOW /= _WINDOW.sum()


def _local_mean(image: np.ndarray) -> np.ndarray:
    """``imfilter(image, window, 'replicate')``: the 7×7 Gaussian, edges replicated."""
    rows = ndimage.correlate1d(image, _WINDOW, axis=0, mode="nearest")
    return ndimage.correlate1d(rows, _WINDOW, axis=1, mode="nearest")


def _mscn(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean-subtracted contrast-normalised coefficients and the local deviation (Mittal's eq. 1, C = 1)."""
    mu = _local_mean(image)
    sigma = np.sqrt(np.abs(_local_mean(image * image) - mu * mu))
    return (image - mu) / (sigma + 1), sigma


def _cubic(x: np.ndarray) -> np.ndarray:
    """MATLAB imresize's bicubic kernel (Keys, a = −0.5)."""
    ax = np.abs(x)
    return ((1.5 * ax**3 - 2.5 * ax**2 + 1) * (ax <= 1)
            + (-0.5 * ax**3 + 2.5 * ax**2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2)))


def _resize_taps(in_len: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """MATLAB ``imresize``'s contributions along one axis: (out, taps) weights and 0-based source indices;
    bicubic, widened by 1/scale when shrinking (antialiasing), edges mirrored symmetrically."""
    out_len = int(np.ceil(in_len * scale))
    width = 4.0 / scale if scale < 1 else 4.0
    u = np.arange(1, out_len + 1) / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - width / 2)
    index = left[:, None] + np.arange(int(np.ceil(width)) + 2)[None, :]  # 1-based, as in MATLAB
    distance = u[:, None] - index
    weights = scale * _cubic(scale * distance) if scale < 1 else _cubic(distance)
    weights /= weights.sum(axis=1, keepdims=True)
    mirror = np.concatenate([np.arange(in_len), np.arange(in_len - 1, -1, -1)])
    return weights, mirror[np.mod(index.astype(np.int64) - 1, mirror.size)]


def _resize_axis0(image: np.ndarray, scale: float) -> np.ndarray:
    weights, source = _resize_taps(image.shape[0], scale)
    return np.einsum("ot,ot...->o...", weights, image[source])


def imresize_half(image: np.ndarray) -> np.ndarray:
    """MATLAB's ``imresize(image, 0.5)`` for a double image (bicubic, antialiased, no rounding; rows then
    columns) — NIQE's second scale; ``ndimage.zoom`` would alias and shift the grid."""
    image = np.asarray(image, dtype=np.float64)
    return _resize_axis0(_resize_axis0(image, 0.5).T, 0.5).T


def _aggd(x: np.ndarray) -> tuple[float, float, float, float]:
    """Asymmetric generalised Gaussian fit by moment matching (``estimateaggdparam.m``):
    (shape α, mean η, left scale βl, right scale βr); NaN when one side is empty."""
    x = x.ravel()
    left, right = x[x < 0], x[x > 0]
    if not left.size or not right.size:
        return (float("nan"),) * 4
    std_l, std_r = np.sqrt(np.mean(left**2)), np.sqrt(np.mean(right**2))
    gamma_hat = std_l / std_r
    r_hat = np.mean(np.abs(x)) ** 2 / np.mean(x**2)
    r_norm = r_hat * (gamma_hat**3 + 1) * (gamma_hat + 1) / (gamma_hat**2 + 1) ** 2
    alpha = float(_ALPHAS[np.argmin((_R_ALPHA - r_norm) ** 2)])
    ratio = np.sqrt(gamma(1 / alpha) / gamma(3 / alpha))
    beta_l, beta_r = std_l * ratio, std_r * ratio
    eta = (beta_r - beta_l) * gamma(2 / alpha) / gamma(1 / alpha)
    return alpha, float(eta), float(beta_l), float(beta_r)


def _patch_features(mscn: np.ndarray) -> list[float]:
    """``computefeature.m``: 18 features of one patch of MSCN coefficients."""
    alpha, _eta, beta_l, beta_r = _aggd(mscn)
    features = [alpha, (beta_l + beta_r) / 2]
    for shift in ((0, 1), (1, 0), (1, 1), (1, -1)):  # circshift within the patch
        features.extend(_aggd(mscn * np.roll(mscn, shift, axis=(0, 1))))
    return features


def image_features(image: np.ndarray, patch: int = PATCH) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """36 features per patch (two scales), each patch's sharpness (mean local deviation) and its
    coverage (share of non-zero pixels: maps are 0 outside the head). The image is cropped to whole
    patches first, as ``computequality.m`` does."""
    h, w = (s - s % patch for s in image.shape)
    image = np.asarray(image, dtype=np.float64)[:h, :w]
    scaled = [image, imresize_half(image)] if h and w else [image, image]
    maps = [_mscn(level) for level in scaled]
    features, sharpness, coverage = [], [], []
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
    return np.asarray(features).reshape(-1, 36), np.asarray(sharpness), np.asarray(coverage)


def _mvg(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``nanmean`` / ``nancov``: column means ignoring NaN, covariance over the complete rows."""
    complete = features[~np.isnan(features).any(axis=1)]
    if len(complete) < 2:
        raise InputError("too few patches with finite NIQE features (needs 2+)")
    return np.nanmean(features, axis=0), np.cov(complete, rowvar=False)


@dataclass
class PristineModel:
    """The pristine MVG. ``source`` says where it comes from (a file, or the routine maps it was fitted
    on) so that every table can say which model its NIQE is against."""

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
            source = str(data["source"]) if "source" in data else str(path)
        except (OSError, KeyError, ValueError) as exc:
            raise InputError(f"not a NIQE pristine model (needs mu_prisparam, cov_prisparam): {exc}", path) from None
        if mean.shape != (36,) or cov.shape != (36, 36):
            raise InputError(f"NIQE model of the wrong size {mean.shape} / {cov.shape}", path)
        return cls(mean, cov, source)


def to_grey(values: np.ndarray, norm: float) -> np.ndarray:
    """A map slice in physical units → 0–255 by the map's normalisation constant."""
    return np.clip(np.asarray(values, dtype=np.float64) / norm, 0, 1) * 255.0


#: A patch must be at least this much non-zero to count: the empty field of view around the head is
#: neither natural nor part of the image's quality, and all-zero patches give degenerate features.
MIN_COVERAGE = 0.5


def fit_pristine_model(slices: Iterable[np.ndarray], source: str = "") -> PristineModel:
    """Fit the pristine MVG as ``estimatemodelparam.m`` does: from each image, the patches sharper than
    75 % of its sharpest (here among patches that are mostly head, :data:`MIN_COVERAGE`). Fitted on routine
    maps, this is a routine-map model, not the standard natural-image one: say so in ``source``."""
    chosen = []
    for image in slices:
        features, sharpness, coverage = image_features(image)
        usable = coverage >= MIN_COVERAGE
        if usable.any():
            chosen.append(features[usable & (sharpness > SHARPNESS_FRACTION * sharpness[usable].max())])
    chosen_features = np.concatenate(chosen) if chosen else np.empty((0, 36))
    try:
        mean, cov = _mvg(chosen_features)
    except InputError:
        raise InputError("too few sharp patches to fit a NIQE pristine model") from None
    return PristineModel(mean, cov, source)


def niqe(image: np.ndarray, model: PristineModel, min_coverage: float = MIN_COVERAGE) -> float:
    """NIQE of one 2-D image (0–255 scale) against ``model``. Patches less than ``min_coverage`` non-zero
    are left out (all are kept if fewer than two remain); ``min_coverage=0`` is Mittal's NIQE over every
    patch. At least two 96×96 patches are needed."""
    features, _, coverage = image_features(image)
    if len(features) < 2:
        raise InputError(f"image of {image.shape} is too small for NIQE (needs 2+ patches of {PATCH}²)")
    if (coverage >= min_coverage).sum() >= 2:
        features = features[coverage >= min_coverage]
    mean, cov = _mvg(features)
    diff = model.mean - mean
    return float(np.sqrt(diff @ np.linalg.pinv((model.cov + cov) / 2) @ diff))
