"""SR output geometry and the bicubic/linear baselines: the ×2 grid overlays a routine-resolution scan
of the same field of view in physical space."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from scipy.spatial.transform import Rotation

from quantsr.baselines import upsample
from quantsr.geometry import upsampled_grid
from quantsr.volume import QuantMap

FOV = 220.0


def _grid(matrix: int, direction: np.ndarray, centre: np.ndarray, slices: int = 4) -> QuantMap:
    """An axial-like grid of ``matrix``² pixels covering FOV×FOV mm around ``centre``."""
    pixel = FOV / matrix
    spacing = (pixel, pixel, 5.0)
    # origin = centre of voxel 0: half a FOV back from the centre, plus half a pixel
    offset = np.array([-(matrix - 1) / 2 * pixel, -(matrix - 1) / 2 * pixel, -(slices - 1) / 2 * 5.0])
    origin = centre + direction @ offset
    return QuantMap(np.zeros((slices, matrix, matrix), np.float32), origin, spacing, direction)


def _disc(qmap: QuantMap, centre: np.ndarray, radius: float) -> np.ndarray:
    k, j, i = np.meshgrid(*(np.arange(n) for n in qmap.shape), indexing="ij")
    ijk = np.stack([i.ravel(), j.ravel(), k.ravel()], axis=1)
    points = qmap.index_to_physical(ijk)
    inside = np.linalg.norm((points - centre)[:, :2] @ np.eye(2), axis=1) < radius  # LPS x-y distance
    return inside.reshape(qmap.shape).astype(np.float32) * 1000.0


@pytest.mark.parametrize("oblique", [False, True])
def test_sr_grid_equals_routine_grid_of_same_fov(oblique: bool) -> None:
    direction = Rotation.from_euler("xyz", [12, -7, 20], degrees=True).as_matrix() if oblique else np.eye(3)
    centre = np.array([3.5, -20.0, 41.0])
    fast, routine = _grid(256, direction, centre), _grid(512, direction, centre)
    origin, spacing = upsampled_grid(fast, 2)
    np.testing.assert_allclose(origin, routine.origin, atol=1e-9)
    np.testing.assert_allclose(spacing, routine.spacing, atol=1e-12)
    # quarter-pixel rule stated explicitly: first output centre is 1/4 input pixel before the first input centre
    expected = np.asarray(fast.origin) - direction @ np.array([0.25 * fast.spacing[0], 0.25 * fast.spacing[1], 0])
    np.testing.assert_allclose(origin, expected, atol=1e-9)


@pytest.mark.parametrize("method", ["linear", "bicubic"])
def test_upsampled_fast_overlays_routine_in_physical_space(method: str) -> None:
    """An off-centre disc imaged on the fast grid lands where the routine scan sees it after ×2."""
    direction = Rotation.from_euler("z", 15, degrees=True).as_matrix()
    centre = np.array([0.0, 0.0, 0.0])
    fast, routine = _grid(256, direction, centre, 2), _grid(512, direction, centre, 2)
    lesion = np.array([37.3, -21.9, 0.0])
    fast = fast.with_array(_disc(fast, lesion, 12.0))
    routine = routine.with_array(_disc(routine, lesion, 12.0))
    up = upsample(fast, 2, method)
    assert up.same_geometry(routine)

    # intensity-weighted centres in physical space agree to a small fraction of a routine pixel
    # (a quarter-pixel geometry error would be 0.21 mm)
    def centroid(q: QuantMap) -> np.ndarray:
        k, j, i = np.nonzero(q.array)
        weights = q.array[k, j, i]
        return (q.index_to_physical(np.stack([i, j, k], 1)) * weights[:, None]).sum(0) / weights.sum()

    assert np.linalg.norm(centroid(up) - centroid(fast)) < 0.02  # mm: upsampling keeps the object in place
    # the routine scan samples the same disc finer; sampling alone moves the fast centroid ≈ 0.05 mm
    assert np.linalg.norm(centroid(up) - centroid(routine)) < 0.25 * routine.spacing[0]
    # SimpleITK agrees: resampling the SR volume onto the routine image is the identity
    resampled = sitk.Resample(up.to_sitk(), routine.to_sitk(), sitk.Transform(), sitk.sitkNearestNeighbor)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(resampled), up.array)


def test_linear_upsampling_values_and_slices_untouched() -> None:
    ramp = np.broadcast_to(np.arange(6, dtype=np.float32) * 10 + 5, (3, 4, 6)).copy()
    ramp[1] += 100
    up = upsample(QuantMap(ramp, spacing=(1.0, 2.0, 5.0)), 2, "linear")
    assert up.shape == (3, 8, 12)
    np.testing.assert_allclose(up.array[0, 3, 1:-1], np.arange(7.5, 55, 5.0), atol=1e-4)
    np.testing.assert_allclose(up.array[1] - up.array[0], 100, atol=1e-3)  # no mixing across slices
    assert up.spacing == (0.5, 1.0, 5.0)


def test_bicubic_never_negative_and_exact_on_constants() -> None:
    step = np.zeros((1, 16, 16), np.float32)
    step[:, :, 8:] = 3000
    up = upsample(QuantMap(step), 2, "bicubic")
    assert up.array.min() >= 0
    flat = upsample(QuantMap(np.full((2, 5, 7), 812.5, np.float32)), 2, "bicubic")
    np.testing.assert_allclose(flat.array, 812.5, rtol=1e-6)
