"""QuantMap: one quantitative map in physical units with its full geometry.

Conventions (those of ITK / SimpleITK / DICOM):
- ``array`` is indexed ``[k, j, i]`` = ``[slice, row, column]`` (as ``sitk.GetArrayFromImage``);
- ``origin`` is the LPS position (mm) of the centre of voxel (i, j, k) = (0, 0, 0);
- ``spacing`` is ``(column spacing, row spacing, slice spacing)`` in mm;
- ``direction`` is a 3x3 matrix whose *columns* are the LPS unit vectors of the i, j, k index axes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from .mapkinds import MapKind

if TYPE_CHECKING:  # imported where used: `quantsr --help` and most commands' parsers need no SimpleITK
    import SimpleITK as sitk


@dataclass
class QuantMap:
    """A quantitative map (or any scalar volume) with its physical geometry and map kind.

    Attributes:
        array: float32 voxels (slices, rows, columns) = (k, j, i), in the kind's physical unit: T1 and T2 in ms,
            PD in % (0 = background); a 2-D array becomes one slice.
        origin: LPS position (mm) of voxel (i, j, k) = (0, 0, 0)'s centre, DICOM / ITK convention.
        spacing: voxel size (mm) along i, j, k (columns, rows, slices): (Δx, Δy, slice spacing).
        direction: 3×3 matrix whose columns are the i, j, k axes in LPS (ITK's direction).
        kind: T1, T2, PD or UNKNOWN (``mapkinds.MapKind``).
        metadata: free-form facts about the map's source (DICOM UIDs, protocol, acquisition matrix, ...).
    """

    array: np.ndarray
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
    direction: np.ndarray = field(default_factory=lambda: np.eye(3))
    kind: MapKind = MapKind.UNKNOWN
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.array = np.asarray(self.array, dtype=np.float32)
        if self.array.ndim == 2:
            self.array = self.array[np.newaxis]
        if self.array.ndim != 3:
            raise ValueError(f"a QuantMap holds a 3-D array, got shape {self.array.shape}")
        self.origin = tuple(float(v) for v in self.origin)  # type: ignore[assignment]
        self.spacing = tuple(float(v) for v in self.spacing)  # type: ignore[assignment]
        self.direction = np.asarray(self.direction, dtype=np.float64).reshape(3, 3)
        self.kind = MapKind.parse(self.kind)
        if any(s <= 0 for s in self.spacing):
            raise ValueError(f"spacing must be positive, got {self.spacing}")

    # -- geometry -------------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int, int]:
        """Array shape (slices, rows, columns)."""
        return tuple(self.array.shape)

    @property
    def size_ijk(self) -> tuple[int, int, int]:
        """Size in ITK order (columns, rows, slices)."""
        k, j, i = self.array.shape
        return (i, j, k)

    def index_to_physical(self, ijk: ArrayLike) -> np.ndarray:
        """LPS positions (N, 3) of continuous indices (N, 3) given as (i, j, k)."""
        ijk = np.atleast_2d(np.asarray(ijk, dtype=np.float64))
        return np.asarray(self.origin) + (ijk * np.asarray(self.spacing)) @ self.direction.T

    def physical_to_index(self, points: ArrayLike) -> np.ndarray:
        """Continuous (i, j, k) indices (N, 3) of LPS points (N, 3)."""
        points = np.atleast_2d(np.asarray(points, dtype=np.float64))
        return ((points - np.asarray(self.origin)) @ np.linalg.inv(self.direction).T) / np.asarray(self.spacing)

    def same_geometry(self, other: "QuantMap", tol: float = 1e-4) -> bool:
        """Whether ``other`` has this map's voxel grid: same shape, and origin (mm), spacing (mm) and direction
        equal within ``tol``."""
        return (
            self.shape == other.shape
            and np.allclose(self.origin, other.origin, atol=tol)
            and np.allclose(self.spacing, other.spacing, atol=tol)
            and np.allclose(self.direction, other.direction, atol=tol)
        )

    def with_array(self, array: np.ndarray, **changes: Any) -> "QuantMap":
        """A copy carrying ``array`` and this map's geometry (unless overridden in ``changes``)."""
        changes.setdefault("metadata", dict(self.metadata))
        return dataclasses.replace(self, array=array, **changes)

    # -- SimpleITK ------------------------------------------------------------------------------
    def to_sitk(self) -> sitk.Image:
        """A float32 SimpleITK image with this map's origin, spacing and direction (size (i, j, k))."""
        import SimpleITK as sitk

        image = sitk.GetImageFromArray(self.array)
        image.SetOrigin(self.origin)
        image.SetSpacing(self.spacing)
        image.SetDirection(tuple(self.direction.flatten()))
        return image

    @classmethod
    def from_sitk(
        cls, image: sitk.Image, kind: MapKind | str = MapKind.UNKNOWN, metadata: dict | None = None
    ) -> "QuantMap":
        """A map of a scalar 2-D or 3-D SimpleITK image (geometry kept, voxels as float32 in the image's units);
        ValueError for vector or other-dimensional images."""
        import SimpleITK as sitk

        if image.GetDimension() == 2:
            image = sitk.JoinSeries(image)
        if image.GetDimension() != 3:
            raise ValueError(f"expected a 2-D or 3-D image, got {image.GetDimension()}-D")
        if image.GetNumberOfComponentsPerPixel() != 1:
            raise ValueError(f"expected a scalar image, got {image.GetNumberOfComponentsPerPixel()} components")
        return cls(
            array=sitk.GetArrayFromImage(image).astype(np.float32),
            origin=image.GetOrigin(),
            spacing=image.GetSpacing(),
            direction=np.asarray(image.GetDirection()).reshape(3, 3),
            kind=MapKind.parse(kind),
            metadata=dict(metadata or {}),
        )

    def __repr__(self) -> str:
        return (
            f"QuantMap(kind={self.kind.value}, shape={self.shape}, spacing="
            f"{tuple(round(s, 4) for s in self.spacing)}, origin={tuple(round(o, 3) for o in self.origin)})"
        )
