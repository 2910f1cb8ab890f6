"""Non-DL baselines: linear and cubic-spline ×N upsampling onto exactly the SR output grid, so every
comparison can show "fast, upsampled" beside DL."""

from __future__ import annotations

from enum import Enum

import numpy as np
from scipy import ndimage

from .geometry import upsampled_like
from .volume import QuantMap


class Interpolation(str, Enum):
    LINEAR = "linear"
    BICUBIC = "bicubic"


_SPLINE_ORDER = {Interpolation.LINEAR: 1, Interpolation.BICUBIC: 3}


def upsample(source: QuantMap, scale: int = 2, method: Interpolation | str = Interpolation.BICUBIC) -> QuantMap:
    """Interpolate ``source`` in-plane by ``scale`` onto the grid of :func:`geometry.upsampled_grid`.

    ``grid_mode=True`` aligns pixel *edges* (the field of view), which is the SR output geometry;
    the slice axis is left untouched. Cubic uses an interpolating cubic B-spline with mirrored
    borders (exact on constants).
    """
    method = Interpolation(method)
    array = ndimage.zoom(
        source.array.astype(np.float64),
        (1, scale, scale),
        order=_SPLINE_ORDER[method],
        mode="nearest" if method is Interpolation.LINEAR else "mirror",
        grid_mode=True,
    ).astype(np.float32)
    np.maximum(array, 0.0, out=array)  # spline overshoot must not create negative relaxation times
    return upsampled_like(source, array, scale, metadata=dict(source.metadata, method=method.value))
