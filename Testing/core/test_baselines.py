"""The bicubic / linear baselines on the CPU (scipy's recursive B-spline prefilter) and on a torch device
(the prefilter folded into polyphase FIR kernels) both equal the original implementation,
``scipy.ndimage.zoom(order=3 | 1, grid_mode=True)``, to float64 rounding."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from quantsr.baselines import Interpolation, _upsample_torch, baseline_device, phase_kernels, upsample
from quantsr.volume import QuantMap

SHAPES = [(1, 1, 4), (2, 2, 3), (2, 5, 7), (3, 16, 16), (2, 64, 48)]


def _zoom_reference(values: np.ndarray, method: str, scale: int = 2) -> np.ndarray:
    """The baseline as first implemented (float64 result, before the float32 cast and the clip at 0)."""
    order = 3 if method == "bicubic" else 1
    return ndimage.zoom(values.astype(np.float64), (1, scale, scale), order=order, grid_mode=True,
                        mode="mirror" if order == 3 else "nearest")


def _values(shape) -> np.ndarray:
    return np.random.default_rng(sum(shape)).uniform(0, 4500, shape).astype(np.float32)


@pytest.mark.parametrize("method", ["bicubic", "linear"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_cpu_path_equals_scipy_zoom(shape, method) -> None:
    values = _values(shape)
    expected = np.maximum(_zoom_reference(values, method), 0).astype(np.float32)
    out = upsample(QuantMap(values), 2, method, device="cpu").array
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("method", ["bicubic", "linear"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_torch_path_equals_scipy_zoom(shape, method) -> None:
    values = _values(shape)
    out = _upsample_torch(values, 2, Interpolation(method), torch.device("cpu"))
    np.testing.assert_allclose(out, _zoom_reference(values, method), rtol=1e-6, atol=1e-6)  # float32 rounding


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_other_scales_match_too(scale) -> None:
    values = _values((1, 9, 11))
    reference = _zoom_reference(values, "bicubic", scale)
    out = _upsample_torch(values, scale, Interpolation.BICUBIC, torch.device("cpu"))
    np.testing.assert_allclose(out, reference, rtol=1e-6, atol=1e-6)
    assert upsample(QuantMap(values), scale, "bicubic", device="cpu").shape == (1, 9 * scale, 11 * scale)


def test_kernels_keep_constants_and_decay() -> None:
    kernels, radius = phase_kernels(2, Interpolation.BICUBIC)
    assert kernels.shape == (2, 2 * radius + 1)
    np.testing.assert_allclose(kernels.sum(axis=1), 1.0, atol=1e-12)  # exact on constants
    np.testing.assert_allclose(kernels[0], kernels[1][::-1], atol=1e-15)  # the two phases mirror each other
    assert np.abs(kernels[:, [0, -1]]).max() < 1e-12  # the truncated prefilter has died out


def test_device_choice() -> None:
    assert baseline_device("cpu") is None and baseline_device(None) is None
    # torch is loaded here: "auto" uses CUDA when there is one, else the torch-free CPU path
    assert baseline_device("auto") == (torch.device("cuda") if torch.cuda.is_available() else None)
    assert baseline_device(torch.device("cpu")) is None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
@pytest.mark.parametrize("method", ["bicubic", "linear"])
def test_cuda_path_equals_cpu_path(method) -> None:
    values = QuantMap(_values((4, 128, 112)))
    cpu = upsample(values, 2, method, device="cpu").array
    cuda = upsample(values, 2, method, device="cuda").array
    np.testing.assert_allclose(cuda, cpu, rtol=1e-6, atol=1e-5)
