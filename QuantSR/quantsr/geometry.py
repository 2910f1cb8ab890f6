"""Geometry of super-resolved output: the in-plane grid refined by an integer factor over the same
field of view, so SR output overlays a routine-resolution scan of that field of view in physical space."""

from __future__ import annotations

import numpy as np

from .volume import QuantMap


def upsampled_grid(source: QuantMap, scale: int) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """Origin and spacing of the ×``scale`` in-plane grid covering exactly the source's pixels.

    Each source pixel of width s is split into ``scale`` pixels of width s/scale; the first new pixel
    centre therefore sits (scale − 1)/(2·scale) of a source pixel before the first source centre
    (a quarter pixel for ×2), along the i and j axes through the direction matrix. Slices are unchanged.
    """
    sx, sy, sz = source.spacing
    shift = (scale - 1) / (2.0 * scale)
    offset_ijk = np.array([-shift, -shift, 0.0])
    origin = source.index_to_physical(offset_ijk)[0]
    return tuple(origin), (sx / scale, sy / scale, sz)


def upsampled_like(source: QuantMap, array: np.ndarray, scale: int, **changes) -> QuantMap:
    """Wrap an SR array (slices, scale·rows, scale·cols) in the geometry derived from ``source``."""
    k, j, i = source.shape
    if array.shape != (k, j * scale, i * scale):
        raise ValueError(f"expected an array of shape {(k, j * scale, i * scale)}, got {array.shape}")
    origin, spacing = upsampled_grid(source, scale)
    return source.with_array(array, origin=origin, spacing=spacing, **changes)
