"""Pairing fast and routine scans of one subject: by physical position, with rigid registration when the
head moved between the two scans, and a clear report when a subject cannot be paired."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from quantsr.errors import QuantSRError
from quantsr.io.images import write_image
from quantsr.mapkinds import MapKind
from quantsr.volume import QuantMap
from quantsr_training.pairs import SubjectSource, pair_all, pair_subject


def _head(matrix: int, shift_mm: float = 0.0, slices: int = 12) -> QuantMap:
    """An asymmetric 'head' (ellipse + off-centre blob) on a 96 mm FOV, content shifted by ``shift_mm`` in x."""
    pixel = 96.0 / matrix
    c = (np.arange(matrix) + 0.5) * pixel - 48
    y, x = np.meshgrid(c, c - shift_mm, indexing="ij")
    plane = np.where((x / 36) ** 2 + (y / 42) ** 2 < 1, 800.0, 0.0)
    plane += np.where(((x - 12) / 8) ** 2 + ((y + 15) / 6) ** 2 < 1, 1200.0, 0.0)
    plane += np.where(((x + 18) / 5) ** 2 + ((y - 10) / 9) ** 2 < 1, 2500.0, 0.0)
    volume = np.stack([plane * (1 + 0.02 * k) for k in range(slices)])
    volume = ndimage.gaussian_filter(volume, (0, 0.7, 0.7))
    return QuantMap(volume, origin=(-48 + pixel / 2, -48 + pixel / 2, 0), spacing=(pixel, pixel, 5.0),
                    kind=MapKind.T1)


def test_rigid_registration_undoes_head_motion_between_scans(tmp_path) -> None:
    write_image(_head(48), tmp_path / "fast.nrrd")
    write_image(_head(96, shift_mm=4.0), tmp_path / "moved_routine.nrrd")  # patient moved 4 mm
    source = SubjectSource("s1", tmp_path / "fast.nrrd", tmp_path / "moved_routine.nrrd")
    reference = _head(96).array
    plain = pair_subject(source, MapKind.T1, register=False).routine.array
    registered = pair_subject(source, MapKind.T1, register=True).routine.array
    error_plain = np.abs(plain - reference)[2:-2].mean()
    error_registered = np.abs(registered - reference)[2:-2].mean()
    assert error_registered < 0.3 * error_plain


def test_unpairable_subjects_are_reported_not_guessed(tmp_path) -> None:
    write_image(_head(48), tmp_path / "fast.nrrd")
    far = _head(96)
    far.origin = (far.origin[0], far.origin[1], 200.0)  # a different slab
    write_image(far, tmp_path / "routine_elsewhere.nrrd")
    write_image(_head(96), tmp_path / "routine.nrrd")
    good = SubjectSource("good", tmp_path / "fast.nrrd", tmp_path / "routine.nrrd")
    bad = SubjectSource("bad", tmp_path / "fast.nrrd", tmp_path / "routine_elsewhere.nrrd")
    paired, failed = pair_all([good, bad], MapKind.T1)
    assert [p.subject for p in paired] == ["good"]
    assert failed[0][0] == "bad" and "different slabs (0% overlap)" in failed[0][1]
    with pytest.raises(QuantSRError, match="different slabs"):
        pair_subject(bad, MapKind.T1)
    assert sitk.ReadImage(str(tmp_path / "routine.nrrd")).GetSize() == (96, 96, 12)
