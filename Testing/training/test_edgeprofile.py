"""Edge profiles (``quantsr_training.edgeprofile``) on a synthetic CSF / grey-matter edge with known blur."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from quantsr_training.edgeprofile import EdgeProfile, signed_distance


def test_signed_distance_of_a_half_plane() -> None:
    """CSF in columns < 10 (0.5 mm voxels): the first outside column is 0.5 mm away, the last inside −0.5 mm."""
    inside = np.zeros((2, 8, 20), bool)
    inside[:, :, :10] = True
    distance = signed_distance(inside, 0.5)
    assert distance[0, 3, 10] == pytest.approx(0.5)
    assert distance[0, 3, 13] == pytest.approx(2.0)
    assert distance[1, 3, 9] == pytest.approx(-0.5)
    assert distance[1, 3, 0] == pytest.approx(-5.0)
    assert np.all(signed_distance(np.ones((1, 4, 4), bool), 1.0) == 0)  # one side only: no boundary


def test_profile_shows_the_spread_of_a_blurred_edge() -> None:
    """CSF 4000 | GM 1300: the sharp image's GM bins read 1300 exactly; a Gaussian blur (σ 1 mm) lifts the
    first GM millimetre by the known Gaussian tail, and the excess fades with distance."""
    inside = np.zeros((1, 16, 80), bool)
    inside[:, :, :40] = True
    sharp = np.where(inside, 4000.0, 1300.0)
    blurred = ndimage.gaussian_filter1d(sharp, sigma=2.0, axis=-1, mode="nearest")  # 2 voxels of 0.5 mm
    profile = EdgeProfile(np.arange(-5.0, 5.01, 0.5))
    profile.add(signed_distance(inside, 0.5), np.ones_like(inside), {"sharp": sharp, "blurred": blurred})
    gm_bins = (profile.edges_mm[:-1] >= 0) & (profile.counts > 0)  # [0, 0.5) is empty: voxel centres sit at 0.5 mm
    assert np.allclose(profile.means("sharp")[gm_bins], 1300.0)
    # the bin [0.5, 1.0) holds column 40 alone (0.5 mm from the edge)
    first = np.searchsorted(profile.edges_mm, 0.5)
    assert profile.means("blurred")[first] == pytest.approx(blurred[0, 0, 40])
    assert profile.means("blurred")[first] > profile.means("blurred")[first + 1] > 1300.0
    near = profile.excess_pct("blurred", "sharp", 0.5, 1.5)
    far = profile.excess_pct("blurred", "sharp", 3.0, 5.0)
    assert near == pytest.approx(100 * (blurred[0, 0, 40:42].mean() - 1300) / 1300, rel=1e-9)
    assert near > 10 and 0 < far < 0.5


def test_profile_pools_subjects_by_voxel_count() -> None:
    """Two subjects pooled: each bin's mean is over all their voxels, not a mean of means."""
    profile = EdgeProfile(np.array([-1.0, 0.0, 1.0]))
    inside = np.zeros((1, 1, 4), bool)
    inside[..., :2] = True
    distance = signed_distance(inside, 1.0)  # −2, −1, 1, 2 → bins: [-1, 0) gets −1; [0, 1) none; 1 is outside
    profile.add(distance, np.ones_like(inside), {"a": np.full((1, 1, 4), 10.0)})
    profile.add(distance, np.ones_like(inside), {"a": np.full((1, 1, 4), 20.0)})
    assert profile.counts.tolist() == [2, 0]
    assert profile.means("a")[0] == pytest.approx(15.0)
    assert np.isnan(profile.means("a")[1])
