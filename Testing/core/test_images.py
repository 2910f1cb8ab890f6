"""NRRD / NIfTI / MHA maps: geometry round trip, the kind kept in the header or found in the name."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from helpers.dicom_factory import brain_like, oblique_direction

from quantsr.errors import InputError, OutputError
from quantsr.io.images import read_image, write_image
from quantsr.mapkinds import MapKind
from quantsr.volume import QuantMap


@pytest.mark.parametrize("suffix", [".nrrd", ".nii.gz", ".mha"])
def test_round_trip_keeps_geometry_and_values(tmp_path, suffix) -> None:
    qmap = QuantMap(brain_like("T2"), origin=(-90.5, 101.2, -30), spacing=(0.86, 0.86, 5),
                    direction=oblique_direction(15), kind=MapKind.T2)
    path = write_image(qmap, tmp_path / f"subject_T2{suffix}")
    back = read_image(path)
    np.testing.assert_allclose(back.array, qmap.array)
    np.testing.assert_allclose(back.origin, qmap.origin, atol=1e-4)
    np.testing.assert_allclose(back.spacing, qmap.spacing, atol=1e-6)
    np.testing.assert_allclose(back.direction, qmap.direction, atol=1e-5)
    assert back.kind is MapKind.T2
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind


def test_kind_from_header_then_name_then_values(tmp_path) -> None:
    pd = QuantMap(brain_like("PD"), kind=MapKind.PD)
    write_image(pd, tmp_path / "anything.nrrd")
    assert read_image(tmp_path / "anything.nrrd").kind is MapKind.PD  # header entry
    sitk.WriteImage(pd.with_array(brain_like("T1")).to_sitk(), str(tmp_path / "sub-01_t2map.nii.gz"))
    assert read_image(tmp_path / "sub-01_t2map.nii.gz").kind is MapKind.T2  # name beats values
    sitk.WriteImage(pd.with_array(brain_like("T1")).to_sitk(), str(tmp_path / "volume.nii.gz"))
    assert read_image(tmp_path / "volume.nii.gz").kind is MapKind.T1  # values
    assert read_image(tmp_path / "volume.nii.gz", kind=MapKind.PD).kind is MapKind.PD  # override


def test_nan_colour_and_garbage_are_clear_errors(tmp_path) -> None:
    array = brain_like("T1")
    array[2, 3, 4] = np.nan
    sitk.WriteImage(sitk.GetImageFromArray(array), str(tmp_path / "nan_T1.nrrd"))
    with pytest.raises(InputError, match=r"nan_T1.nrrd: contains 1 NaN/Inf voxels"):
        read_image(tmp_path / "nan_T1.nrrd")
    rgb = sitk.GetImageFromArray(np.zeros((4, 5, 3), np.uint8), isVector=True)
    sitk.WriteImage(rgb, str(tmp_path / "photo.nrrd"))
    with pytest.raises(InputError, match="3 components per voxel"):
        read_image(tmp_path / "photo.nrrd")
    (tmp_path / "fake.nii.gz").write_bytes(b"not an image at all")
    with pytest.raises(InputError, match="fake.nii.gz: not a readable"):
        read_image(tmp_path / "fake.nii.gz")
    with pytest.raises(OutputError, match="unknown image format"):
        write_image(QuantMap(array), tmp_path / "out.png")
