"""Non-DL baselines: linear and cubic-spline ×N upsampling onto exactly the SR output grid, so every
comparison can show "fast, upsampled" beside DL.

Semantics (those of ``scipy.ndimage.zoom(order=3 / 1, grid_mode=True)``, the original implementation): pixel
*edges* align (output pixel j of a ×s axis samples input coordinate (j + ½)/s − ½, the SR output geometry);
bicubic is the *interpolating* cubic B-spline (coefficients from the exact B-spline prefilter, mirrored borders,
exact on constants), linear clamps at the borders; slices are untouched; negative spline overshoot is clipped
to 0. Either axis is a polyphase filter: output phase p of a ×s axis is one fixed FIR of the input.

Two ways to run the same arithmetic (float64, cast to float32 at the end; they agree to ≈ 1e-10 of the values):
- on the device through torch (``conv1d`` with the prefilter folded into the phase kernels, the infinite
  prefilter truncated where its taps fall below 1e-13): CUDA when the engine uses it (times: docs/benchmarks.md);
- on the CPU without torch (scipy's recursive B-spline prefilter + the 4-tap phase evaluation), so bicubic and
  linear never need torch (Slicer without SlicerPyTorch, `quantsr sr --method bicubic` starting at once).

``torch.nn.functional.interpolate(mode="bicubic")`` is *not* used: it is Keys' cubic convolution (a = −0.75)
without prefilter, a different interpolant (on a simulated fast T1 map up to 1130 ms from the B-spline at tissue
edges, 99th percentile 85 ms in the head: ``Testing/Benchmarks/bench_baselines.py``, ``docs/benchmarks.md``).
"""

from __future__ import annotations

import sys
from enum import Enum
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import ndimage

from .geometry import upsampled_like

if TYPE_CHECKING:
    from .volume import QuantMap


class Interpolation(str, Enum):
    LINEAR = "linear"
    BICUBIC = "bicubic"


#: The cubic B-spline prefilter's pole (Unser 1999): its inverse filter is √3 · z^|k|.
_POLE = np.sqrt(3.0) - 2.0
#: Prefilter taps beyond this distance are < 1e-13 of the centre tap: dropped in the torch (FIR) form.
_PREFILTER_HALF_WIDTH = int(np.ceil(np.log(1e-13) / np.log(-_POLE)))


def _bspline3(t: np.ndarray) -> np.ndarray:
    t = np.abs(t)
    return np.where(t < 1, 2 / 3 - t**2 + t**3 / 2, np.where(t < 2, (2 - t) ** 3 / 6, 0.0))


def _bspline1(t: np.ndarray) -> np.ndarray:
    return np.maximum(0.0, 1.0 - np.abs(t))


def phase_offsets(scale: int) -> np.ndarray:
    """Input coordinate of output pixel s·m + p, minus m, for each phase p (grid_mode: pixel edges align)."""
    return (2 * np.arange(scale) + 1 - scale) / (2.0 * scale)


def evaluation_kernels(scale: int, method: Interpolation) -> tuple[np.ndarray, int]:
    """(kernels (scale, 2S + 1), S): output(s·m + p) = Σ_j kernels[p, j] · coefficient(m + j − S) — the B-spline
    basis (cubic: on the prefiltered coefficients; linear: on the values themselves) at each phase's offset."""
    support, basis = (2, _bspline3) if method is Interpolation.BICUBIC else (1, _bspline1)
    taps = np.arange(-support, support + 1)
    return basis(phase_offsets(scale)[:, None] - taps[None, :]), support


@lru_cache(maxsize=8)
def phase_kernels(scale: int, method: Interpolation) -> tuple[np.ndarray, int]:
    """(kernels (scale, 2R + 1), R): output(s·m + p) = Σ_t kernels[p, t] · input(m + t − R), the input extended
    by mirroring (bicubic) or by its edge value (linear). Bicubic folds the B-spline prefilter into the kernels."""
    evaluation, support = evaluation_kernels(scale, method)
    if method is Interpolation.LINEAR:
        return evaluation, support
    k = np.arange(-_PREFILTER_HALF_WIDTH, _PREFILTER_HALF_WIDTH + 1)
    prefilter = np.sqrt(3.0) * _POLE ** np.abs(k)  # coefficients = prefilter * input
    combined = np.stack([np.convolve(prefilter, row) for row in evaluation])
    return combined, _PREFILTER_HALF_WIDTH + support


def _padding_indices(n: int, pad: int, mirror: bool) -> np.ndarray:
    """Indices of an axis of length n extended by ``pad`` on each side: mirrored about the edge pixels (d c b | a b
    c d | c b a, periodic for any pad) or repeating the edge value."""
    index = np.arange(-pad, n + pad)
    if not mirror or n == 1:
        return np.clip(index, 0, n - 1)
    period = 2 * n - 2
    index = np.mod(index, period)
    return np.where(index >= n, period - index, index)


def upsample(source: QuantMap, scale: int = 2, method: Interpolation | str = Interpolation.BICUBIC,
             device: Any = "auto") -> QuantMap:
    """Interpolate ``source`` in-plane by ``scale`` onto the grid of :func:`geometry.upsampled_grid`.

    ``device``: "auto" runs on CUDA through torch when torch is already loaded (the DL engine loaded it) and sees a
    GPU, else on the CPU without torch; "cpu" always the latter; "cuda[:N]" or a ``torch.device`` through torch
    there (the same numbers to ≈ 1e-10)."""
    method = Interpolation(method)
    target = baseline_device(device)
    array = (_upsample_numpy(source.array, scale, method) if target is None
             else _upsample_torch(source.array, scale, method, target))
    np.maximum(array, 0.0, out=array)  # spline overshoot must not create negative relaxation times
    return upsampled_like(source, array, scale, metadata=dict(source.metadata, method=method.value))


def baseline_device(device: Any) -> Any:
    """The torch device :func:`upsample` runs on for ``device``, or None for the torch-free CPU path (on the CPU
    it is also the faster one: scipy's recursive prefilter beats a 53-tap convolution)."""
    if device is None or (isinstance(device, str) and device.strip().lower() in ("auto", "cpu")):
        # sys.modules["torch"] is None where torch was made unimportable (the Slicer module's torch-free path)
        if device is None or device.strip().lower() == "cpu" or sys.modules.get("torch") is None:
            return None  # importing torch (seconds) would cost more than the whole CPU baseline
        import torch

        return torch.device("cuda") if torch.cuda.is_available() else None
    from .devices import resolve_device

    resolved = resolve_device(device)
    return None if resolved.type == "cpu" else resolved


def _upsample_numpy(array: np.ndarray, scale: int, method: Interpolation) -> np.ndarray:
    values = array.astype(np.float64)
    mirror = method is Interpolation.BICUBIC
    if mirror:  # B-spline coefficients in-plane: scipy's exact recursive prefilter with mirrored borders
        for axis in (1, 2):
            values = ndimage.spline_filter1d(values, 3, axis=axis, mode="mirror", output=np.float64)
    kernels, support = evaluation_kernels(scale, method)
    for axis in (1, 2):
        values = _polyphase_numpy(values, axis, kernels, support, mirror)
    return values.astype(np.float32)


def _polyphase_numpy(values: np.ndarray, axis: int, kernels: np.ndarray, radius: int, mirror: bool) -> np.ndarray:
    """``values`` upsampled along ``axis``: phase p of input m is output s·m + p."""
    moved = np.moveaxis(values, axis, -1)
    n = moved.shape[-1]
    padded = np.take(moved, _padding_indices(n, radius, mirror), axis=-1)
    out = np.zeros((*moved.shape[:-1], n, len(kernels)))
    for phase, row in enumerate(kernels):
        for offset, weight in enumerate(row):
            if weight != 0.0:
                out[..., phase] += weight * padded[..., offset : offset + n]
    return np.moveaxis(out.reshape(*moved.shape[:-1], n * len(kernels)), -1, axis)


def _upsample_torch(array: np.ndarray, scale: int, method: Interpolation, device: Any) -> np.ndarray:
    import torch
    from torch.nn import functional

    kernels, radius = phase_kernels(scale, method)
    weight = torch.as_tensor(kernels, dtype=torch.float64, device=device)[:, None, :]  # (scale, 1, 2R + 1)
    mirror = method is Interpolation.BICUBIC
    values = torch.as_tensor(array, device=device).to(torch.float64)
    with torch.inference_mode():
        for axis in (2, 1):  # columns, then rows (moved last for conv1d)
            moved = values.movedim(axis, -1)
            n = moved.shape[-1]
            index = torch.as_tensor(_padding_indices(n, radius, mirror), device=device)
            padded = moved.index_select(-1, index)
            lead = padded.shape[:-1]
            phases = functional.conv1d(padded.reshape(-1, 1, padded.shape[-1]), weight)  # (rows, scale, n)
            upsampled = phases.transpose(1, 2).reshape(*lead, n * scale)
            values = upsampled.movedim(-1, axis)
        return values.to(torch.float32).cpu().numpy()
