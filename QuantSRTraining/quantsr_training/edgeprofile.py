"""Edge profiles: each method's mean value against the signed in-plane distance from a tissue boundary.

The cortex-next-to-CSF bias of the generalization protocol (``generalization.py``) is one number; the profile says
where it comes from — how far each method spreads CSF into the grey matter beside it (partial volume, PSF,
smoothing) and whether it reads the CSF itself low. Distances are negative inside the boundary's tissue (CSF), positive
outside, measured per slice on the routine grid, as the 5 mm slices are the same for every method."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage


def signed_distance(inside: np.ndarray, spacing_mm: float) -> np.ndarray:
    """Per slice, the in-plane distance (mm) of each voxel centre from the nearest voxel across the boundary of
    ``inside`` (k, j, i): positive outside, negative inside; 0 on slices that hold only one side."""
    distance = np.zeros(inside.shape, np.float32)
    for k in range(inside.shape[0]):
        if inside[k].any() and not inside[k].all():
            distance[k] = (ndimage.distance_transform_edt(~inside[k], sampling=spacing_mm)
                           - ndimage.distance_transform_edt(inside[k], sampling=spacing_mm))
    return distance


@dataclass
class EdgeProfile:
    """Sums and counts of each method's values per distance bin, so several subjects can be pooled."""

    edges_mm: np.ndarray  # bin edges (mm), ascending
    sums: dict[str, np.ndarray] = field(default_factory=dict)
    counts: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.counts = np.zeros(len(self.edges_mm) - 1, np.int64)

    def add(self, distance: np.ndarray, include: np.ndarray, values: dict[str, np.ndarray]) -> None:
        """Pool the ``include``d voxels of one subject: ``values`` maps a method name to its array."""
        selected = include & (distance != 0)
        which = np.digitize(distance[selected], self.edges_mm) - 1
        valid = (which >= 0) & (which < self.counts.size)
        which = which[valid]
        self.counts += np.bincount(which, minlength=self.counts.size)
        for name, array in values.items():
            sums = np.bincount(which, weights=array[selected][valid].astype(np.float64), minlength=self.counts.size)
            self.sums[name] = self.sums.get(name, np.zeros(self.counts.size)) + sums

    def means(self, name: str) -> np.ndarray:
        """Mean of ``name`` per bin (NaN where a bin is empty)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.counts > 0, self.sums[name] / np.maximum(self.counts, 1), np.nan)

    def excess_pct(self, name: str, reference: str, low_mm: float, high_mm: float) -> float:
        """Voxel-weighted mean % excess of ``name`` over ``reference`` in the bins lying within [low, high] mm."""
        centres = (self.edges_mm[:-1] + self.edges_mm[1:]) / 2
        use = (centres >= low_mm) & (centres <= high_mm) & (self.counts > 0)
        if not use.any():
            return float("nan")
        return float(100 * (self.sums[name][use].sum() - self.sums[reference][use].sum())
                     / self.sums[reference][use].sum())
